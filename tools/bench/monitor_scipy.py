"""monitor_scipy.py - the peer of tools/bench/monitor: the same drift tests
on the same CSV files with pandas, scipy and numpy - per column
scipy.stats.ks_2samp, wasserstein_distance normalised by the baseline's
std (Evidently), and PSI over 10 bins at the baseline's deciles with empty
bins floored at 0.0001 (Evidently's floor).  Prints the load and the
statistics' seconds and column x00's values.

    monitor_scipy.py BASE.csv CUR.csv"""
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

t0 = time.perf_counter()
base = pd.read_csv(sys.argv[1])
cur = pd.read_csv(sys.argv[2])
t1 = time.perf_counter()
first = None
for c in [c for c in base.columns if c != "ts"]:
    b, x = base[c].to_numpy(), cur[c].to_numpy()
    ks = stats.ks_2samp(b, x)
    wd = stats.wasserstein_distance(b, x) / max(np.std(b), 0.001)
    edges = np.quantile(b, np.arange(1, 10) / 10)
    bs = np.bincount(np.searchsorted(edges, b, side="right"), minlength=10) / len(b)
    cs = np.bincount(np.searchsorted(edges, x, side="right"), minlength=10) / len(x)
    bs, cs = np.where(bs == 0, 0.0001, bs), np.where(cs == 0, 0.0001, cs)
    psi = float(np.sum((bs - cs) * np.log(bs / cs)))
    if first is None:
        first = (psi, ks.pvalue, wd)
t2 = time.perf_counter()
print("load_s %.3f" % (t1 - t0))
print("stats_s %.3f" % (t2 - t1))
print("x00 psi %.6g ks_pvalue %.6g wasserstein %.6g" % first)
