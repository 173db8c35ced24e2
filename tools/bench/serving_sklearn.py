#!/usr/bin/python3
"""serving_sklearn.py FEATURES TRAINSET MODEL_OUT [CALLS] - the in-process
peer of tools/bench/serving: scikit-learn's RandomForestClassifier with
the churn model's parameters (100 trees, max_depth 10, seed 42) fitted on
the rows mlfs trained on (TRAINSET: the run's training_set.csv, rows with
split=train), then predict_proba on one row CALLS times (default 10,000):
the features given directly, looked up in a dict, and looked up in a
pandas DataFrame indexed by the key (FEATURES: the 1,000,000-key table);
and on 10,000-row batches.  Saves the model (pickle, n_jobs=1) to MODEL_OUT
for serving_flask.py.  Prints "name value" lines."""
import pickle
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

features, trainset, model_out = sys.argv[1], sys.argv[2], sys.argv[3]
calls = int(sys.argv[4]) if len(sys.argv) > 4 else 10000


def pct(lat, p):
    lat = sorted(lat)
    return lat[int(p * (len(lat) - 1) + 0.5)] * 1e6


def timed(fn, keys):
    lat = []
    for k in keys:
        t0 = time.perf_counter()
        fn(k)
        lat.append(time.perf_counter() - t0)
    return lat


t0 = time.time()
table = pd.read_csv(features, index_col=0)
names = list(table.columns)
values = table.to_numpy()
by_key = {int(k): values[i] for i, k in enumerate(table.index)}
print("load_features_s %.2f" % (time.time() - t0))

ts = pd.read_csv(trainset)
ts = ts[ts["split"] == "train"]
t0 = time.time()
model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=42, n_jobs=-1)
model.fit(ts[names].to_numpy(), ts["churn"].to_numpy())
print("fit_s %.2f rows %d" % (time.time() - t0, len(ts)))

# One row: a thread pool for one row only costs time; n_jobs=1 is
# scikit-learn's fastest for it.
model.n_jobs = 1
rng = np.random.default_rng(11)
keys = [int(k) for k in rng.integers(1, len(table) + 1, size=calls)]
warm = keys[:100]
direct = {k: by_key[k].reshape(1, -1) for k in keys}
for k in warm:
    model.predict_proba(direct[k])
for name, fn in (("direct", lambda k: model.predict_proba(direct[k])),
                 ("dict", lambda k: model.predict_proba(by_key[k].reshape(1, -1))),
                 ("pandas", lambda k: model.predict_proba(table.loc[[k]].to_numpy()))):
    lat = timed(fn, keys)
    print("one_%s_p50_us %.1f" % (name, pct(lat, 0.5)))
    print("one_%s_p99_us %.1f" % (name, pct(lat, 0.99)))
    print("one_%s_max_us %.1f" % (name, max(lat) * 1e6))

# 10,000 rows with the lookup, one thread and both cores.
batch = rng.integers(1, len(table) + 1, size=10000)
for jobs in (1, -1):
    model.n_jobs = jobs
    model.predict_proba(table.loc[batch].to_numpy())
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        model.predict_proba(table.loc[batch].to_numpy())
    print("batch_jobs%d_rows_s %.0f" % (max(jobs, 0) or 2, n * len(batch) / (time.perf_counter() - t0)))

model.n_jobs = 1
with open(model_out, "wb") as f:
    pickle.dump(model, f)
