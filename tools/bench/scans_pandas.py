"""scans_pandas.py - the pandas side of tools/bench/scans: the profile a
drift monitor's first refresh makes of the same events table (per day,
whole and per segment: count, nulls, mean, std, min, quartiles, max of
x1, x2 and n), from the same CSV text.  Prints "pandas-profile CPU_S
WALL_S" (process CPU time, wall time).

    scans_pandas.py EVENTS.csv"""
import sys
import time

import pandas as pd

c0, t0 = time.process_time(), time.perf_counter()
df = pd.read_csv(sys.argv[1])
df["day"] = pd.to_datetime(df["ts"]).dt.floor("D")
cols = ["x1", "x2", "n"]
whole = df.groupby("day")[cols].describe()
per = df.groupby(["day", "segment"])[cols].describe()
nulls = df.groupby("day")[cols].apply(lambda g: g.isna().sum())
assert len(whole) == 7 and len(per) == 28 and len(nulls) == 7
print("pandas-profile %.3f %.3f" % (time.process_time() - c0, time.perf_counter() - t0))
