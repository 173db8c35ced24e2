#!/usr/bin/python3
"""train_data.py ROWS DIR - the training benchmark's data: a feature table
of ROWS customers x 20 numeric features (features.csv), their labels
(labels.csv: customer_id,churn) and the two joined as a user would for
scikit-learn or `mlfs forest train` (joined.csv: 20 features + churn).
Deterministic (seed 7); churn depends on 6 of the features."""
import os
import sys

import numpy as np

rows, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
x = rng.normal(size=(rows, 20)).round(4)
logit = x[:, 0] * 1.5 - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + np.sin(x[:, 4]) - 0.5 * x[:, 5] ** 2
churn = (logit + rng.normal(scale=0.8, size=rows) > 0).astype(int)
ids = np.arange(1, rows + 1)
names = ["f%02d" % i for i in range(20)]
fmt = "%d," + ",".join(["%.4f"] * 20)
np.savetxt(os.path.join(out, "features.csv"), np.column_stack([ids, x]), fmt=fmt,
           header="customer_id," + ",".join(names), comments="")
np.savetxt(os.path.join(out, "labels.csv"), np.column_stack([ids, churn]), fmt="%d,%d",
           header="customer_id,churn", comments="")
np.savetxt(os.path.join(out, "joined.csv"), np.column_stack([x, churn]), fmt=fmt[3:] + ",%d",
           header=",".join(names) + ",churn", comments="")
