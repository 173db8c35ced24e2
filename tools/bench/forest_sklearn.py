#!/usr/bin/python3
"""One benchmark run of scikit-learn or xgboost for tools/bench/forest.

Usage: forest_sklearn.py sklearn|xgboost TRAIN TEST LABEL
Prints "name value" lines: fit_seconds peak_rss_mb predict_rows_per_s
latency_us_median model_bytes accuracy roc_auc.  String columns are
ordinal-encoded (sorted categories seen in train or test); 100 trees, 2
threads.  Peak RSS is taken right after fit (data loading included).
"""
import pickle
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

PREDICT_ROWS = 1000000
LATENCY_CALLS = 1000


def main():
    system, train, test, label = sys.argv[1:5]
    tr = pd.read_csv(train)
    ytr = tr.pop(label)
    te = pd.read_csv(test)
    yte = te.pop(label)
    for c in tr.columns:
        if tr[c].dtype == object:
            cats = {v: i for i, v in enumerate(sorted(set(tr[c].dropna()) | set(te[c].dropna())))}
            tr[c] = tr[c].map(cats)
            te[c] = te[c].map(cats)
    classes = np.array(sorted(set(ytr)))
    code = {v: i for i, v in enumerate(classes)}
    ytr_i = ytr.map(code).to_numpy()
    yte_i = yte.map(code).to_numpy()
    Xtr = tr.to_numpy(dtype=np.float32)
    Xte = te.to_numpy(dtype=np.float32)
    if system == "sklearn":
        from sklearn.ensemble import RandomForestClassifier
        model = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0)
    else:
        from xgboost import XGBRFClassifier
        model = XGBRFClassifier(n_estimators=100, n_jobs=2, tree_method="hist",
                                random_state=0)
    t0 = time.perf_counter()
    model.fit(Xtr, ytr_i)
    fit_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    p = model.predict_proba(Xte)
    acc = accuracy_score(yte_i, p.argmax(1))
    if p.shape[1] == 2:
        auc = roc_auc_score(yte_i, p[:, 1])
    else:
        auc = roc_auc_score(yte_i, p, multi_class="ovr")
    reps = -(-PREDICT_ROWS // len(Xte))
    big = np.tile(Xte, (reps, 1))[:PREDICT_ROWS]
    t0 = time.perf_counter()
    model.predict_proba(big)
    pred_s = time.perf_counter() - t0
    del big
    lat = []
    for i in range(LATENCY_CALLS):
        row = Xte[i % len(Xte):i % len(Xte) + 1]
        t0 = time.perf_counter()
        model.predict_proba(row)
        lat.append(time.perf_counter() - t0)
    if system == "sklearn":
        size = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        size = len(model.get_booster().save_raw("ubj"))
    print(f"fit_seconds {fit_s:.3f}")
    print(f"peak_rss_mb {rss_mb:.1f}")
    print(f"predict_rows_per_s {PREDICT_ROWS / pred_s:.0f}")
    print(f"latency_us_median {np.median(lat) * 1e6:.2f}")
    print(f"model_bytes {size}")
    print(f"accuracy {acc:.6f}")
    print(f"roc_auc {auc:.6f}")


if __name__ == "__main__":
    main()
