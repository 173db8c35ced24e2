#!/usr/bin/python3
"""Reference numbers for tests/unit/test_forest.c accuracy bounds.

scikit-learn RandomForestClassifier(n_estimators=100, n_jobs=2, random_state
0..4) on the unit tests' fixed split of each real data set: test rows are
those with index % 5 == 4, the others train.  String columns are
ordinal-encoded (sorted categories), as the benchmark does.
Usage: forest_sklearn_split.py DATA_DIR
"""
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

SETS = [("mlc_churn", "churn"), ("letter", "lettr"), ("satellite", "classes")]


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    for name, label in SETS:
        df = pd.read_csv(f"{data_dir}/{name}.csv")
        y = df.pop(label)
        for c in df.columns:
            if df[c].dtype == object:
                cats = {v: i for i, v in enumerate(sorted(df[c].dropna().unique()))}
                df[c] = df[c].map(cats)
        test = np.arange(len(df)) % 5 == 4
        accs, aucs = [], []
        for seed in range(5):
            rf = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=seed)
            rf.fit(df[~test], y[~test])
            p = rf.predict_proba(df[test])
            accs.append(accuracy_score(y[test], rf.classes_[p.argmax(1)]))
            if p.shape[1] == 2:
                aucs.append(roc_auc_score(y[test], p[:, 1]))
            else:
                aucs.append(roc_auc_score(y[test], p, multi_class="ovr"))
        print(f"{name}: accuracy mean {np.mean(accs):.4f} min {min(accs):.4f} max {max(accs):.4f}"
              f"  auc mean {np.mean(aucs):.4f} min {min(aucs):.4f}")


if __name__ == "__main__":
    main()
