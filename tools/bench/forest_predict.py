#!/usr/bin/python3
"""scikit-learn's side of tools/bench/forest_predict.

Usage: forest_predict.py fit TRAIN LABEL MODEL.pkl
       forest_predict.py predict TEST LABEL MODEL.pkl
fit trains RandomForestClassifier(n_estimators=100, n_jobs=2,
random_state=0) as tools/bench/forest_sklearn.py does and pickles it.
predict loads it and times predict_proba on the test rows repeated to
1,000,000 rows, printing "predict_rows_per_s N".  Numeric features only.
"""
import pickle
import sys
import time

import numpy as np
import pandas as pd

PREDICT_ROWS = 1000000


def main():
    mode, path, label, model = sys.argv[1:5]
    df = pd.read_csv(path)
    y = df.pop(label)
    X = df.to_numpy(dtype=np.float32)
    if mode == "fit":
        from sklearn.ensemble import RandomForestClassifier
        m = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0)
        m.fit(X, y.to_numpy())
        with open(model, "wb") as f:
            pickle.dump(m, f, protocol=pickle.HIGHEST_PROTOCOL)
        return
    with open(model, "rb") as f:
        m = pickle.load(f)
    m.n_jobs = 2
    reps = -(-PREDICT_ROWS // len(X))
    big = np.tile(X, (reps, 1))[:PREDICT_ROWS]
    t0 = time.perf_counter()
    m.predict_proba(big)
    s = time.perf_counter() - t0
    print(f"predict_rows_per_s {PREDICT_ROWS / s:.0f}")


if __name__ == "__main__":
    main()
