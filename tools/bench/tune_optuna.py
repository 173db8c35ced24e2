#!/usr/bin/python3
"""tune_optuna.py CHURN_CSV TRIALS - the seed's tuning the usual way: Optuna
3.1's TPE sampler (seed 42) driving scikit-learn's RandomForestClassifier
over n_estimators 50/100/200, max_depth 5/10/15/20, min_samples_split
2/5/10 on mlc_churn (80/20 split, seed 42), two trials at a time
(n_jobs=2, as parallelism: 2).  Prints the seconds and the best test
accuracy."""
import sys
import time

import optuna
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

optuna.logging.set_verbosity(optuna.logging.WARNING)
path, trials = sys.argv[1], int(sys.argv[2])
t0 = time.time()
df = pd.read_csv(path)
y = df.pop("churn")
x = pd.get_dummies(df)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)


def objective(trial):
    m = RandomForestClassifier(
        n_estimators=trial.suggest_categorical("n_estimators", [50, 100, 200]),
        max_depth=trial.suggest_categorical("max_depth", [5, 10, 15, 20]),
        min_samples_split=trial.suggest_categorical("min_samples_split", [2, 5, 10]),
        random_state=42)
    m.fit(xtr, ytr)
    return accuracy_score(yte, m.predict(xte))


study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=42))
study.optimize(objective, n_trials=trials, n_jobs=2)
print("optuna+sklearn: %d trials in %.2f s, best accuracy %.4f %s"
      % (trials, time.time() - t0, study.best_value, study.best_params))
