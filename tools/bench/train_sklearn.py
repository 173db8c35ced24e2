#!/usr/bin/python3
"""train_sklearn.py DIR TREES DEPTH - the user's alternative to train.yaml:
pandas reads the labels and the feature table, merges them on the key,
splits 80/20 and fits scikit-learn's RandomForestClassifier (n_jobs=-1);
prints the seconds of each step and the test accuracy."""
import sys
import time

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

d, trees, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.time()
labels = pd.read_csv(d + "/labels.csv")
feats = pd.read_csv(d + "/features.csv")
df = labels.merge(feats, on="customer_id", how="left")
t1 = time.time()
x = df.drop(columns=["customer_id", "churn"])
y = df["churn"]
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
model = RandomForestClassifier(n_estimators=trees, max_depth=depth, n_jobs=-1, random_state=42)
model.fit(xtr, ytr)
t2 = time.time()
acc = accuracy_score(yte, model.predict(xte))
print("load+merge %.2f s, fit %.2f s, total %.2f s, accuracy %.4f"
      % (t1 - t0, t2 - t1, time.time() - t0, acc))
