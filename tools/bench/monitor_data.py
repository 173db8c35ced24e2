"""monitor_data.py - the data of tools/bench/monitor: a baseline table and
a current table of ROWS rows x COLS normal columns (x00..), the current
one spread over DAYS days (columns 10.. shifted by 0.1 sd), and one more
day to append.  Deterministic (numpy's seeded generator).

    monitor_data.py DIR ROWS COLS DAYS
writes DIR/base.csv, DIR/cur.csv (days 1..DAYS-1), DIR/last.csv (day DAYS)
and DIR/one.csv (the current rows all on day 1)."""
import sys

import numpy as np
import pandas as pd

out, rows, cols, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(42)
names = ["x%02d" % c for c in range(cols)]
base = pd.DataFrame(rng.normal(0, 1, (rows, cols)), columns=names)
cur = pd.DataFrame(rng.normal(0, 1, (rows, cols)), columns=names)
cur.iloc[:, cols // 2:] += 0.1
start = np.datetime64("2026-11-01T00:00:00")
day = (np.arange(rows) * days) // rows
within = (np.arange(rows) % 86400).astype("timedelta64[s]")
ts = (start + day.astype("timedelta64[D]") + within).astype(str)
one = (start + within).astype(str)
fmt = "%.6f"
base.insert(0, "ts", one)
base.to_csv(out + "/base.csv", index=False, float_format=fmt)
cur.insert(0, "ts", ts)
cur[day < days - 1].to_csv(out + "/cur.csv", index=False, float_format=fmt)
cur[day == days - 1].to_csv(out + "/last.csv", index=False, float_format=fmt)
cur["ts"] = one
cur.to_csv(out + "/one.csv", index=False, float_format=fmt)
