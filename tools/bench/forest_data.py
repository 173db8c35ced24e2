#!/usr/bin/python3
"""Write the benchmark's train/test CSV files for tools/bench/forest.

Real data sets: scikit-learn's train_test_split(test_size=0.2,
random_state=42).  Synthetic: make_classification(n_samples=1,250,000,
n_features=20, n_informative=10, random_state=0), values as float32 written
with 7 significant digits, shuffled with RandomState(42): 1,000,000 rows to
train, 250,000 to test.
Usage: forest_data.py DATA_DIR OUT_DIR [--no-synth]
"""
import os
import sys

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

REAL = [("mlc_churn", "churn"), ("letter", "lettr"), ("satellite", "classes")]


def main():
    data_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, _ in REAL:
        df = pd.read_csv(f"{data_dir}/{name}.csv")
        tr, te = train_test_split(df, test_size=0.2, random_state=42)
        tr.to_csv(f"{out}/{name}_train.csv", index=False)
        te.to_csv(f"{out}/{name}_test.csv", index=False)
    if "--no-synth" in sys.argv or os.path.exists(f"{out}/synth_test.csv"):
        return
    X, y = make_classification(n_samples=1250000, n_features=20,
                               n_informative=10, random_state=0)
    df = pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(20)])
    df["y"] = y
    idx = np.random.RandomState(42).permutation(len(df))
    df.iloc[idx[:1000000]].to_csv(f"{out}/synth_train.csv", index=False, float_format="%.7g")
    df.iloc[idx[1000000:]].to_csv(f"{out}/synth_test.csv", index=False, float_format="%.7g")


if __name__ == "__main__":
    main()
