#!/usr/bin/python3
"""A job's scheduling overhead through an mlfs mount, for tools/bench/jobs.

Usage: jobs_mlfs.py MNT RUNS

Makes a 100-row feature table (features/f: count, sum and mean of 300
orders of 100 customers), a labels table, and job `bench` with the seed's
four tasks: refresh f, train 10 trees with `register: m`, validate against
m@Production (f1_score, min_gain 0.0: the same data trains the same trees,
so every run passes), promote m@Production.  One run first (the first
deployment, the experiment made), then RUNS runs, each timed from the
write of `run` (one write() and close(), as `echo 1 > run`) to the return
of a read of runs/ID/wait - no process start-up counted.  From each run's
tasks.csv: the sum of its tasks' own times (end - start), and from
history.csv the run's start and end as the daemon saw them.  Prints one
line a run, then "name value" lines with the medians.
"""
import csv
import datetime
import io
import os
import statistics
import sys
import time

TRAIN = """labels: labels
label: churn
features:
  - table: f
    lookup_key: customer_id
exclude: [customer_id]
params: {n_estimators: 10, seed: 42}
split: {test_size: 0.2, seed: 42}
register: m
"""

JOB = """tasks:
  - {name: features, refresh: f}
  - {name: train, experiment: bench, spec: train.yaml, after: [features]}
  - {name: validate, candidate: train, against: m@Production,
     metric: f1_score, min_gain: 0.0, after: [train]}
  - {name: deploy, promote: m, alias: Production, after: [validate]}
"""


def put(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def when(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def setup(mnt):
    os.mkdir(os.path.join(mnt, "tables", "orders"))
    os.mkdir(os.path.join(mnt, "tables", "labels"))
    put(os.path.join(mnt, "tables", "orders", "data.csv"),
        "order_id,customer_id,amount\n" +
        "".join("%d,%d,%d.%02d\n" % (i, i % 100 + 1, (i * 37) % 200 + 5, i % 100)
                for i in range(1, 301)))
    put(os.path.join(mnt, "tables", "labels", "data.csv"),
        "customer_id,churn\n" +
        "".join("%d,%d\n" % (c, ((c * 7) % 200 + 5) < 100) for c in range(1, 101)))
    feat = os.path.join(mnt, "features", "f")
    os.mkdir(feat)
    put(os.path.join(feat, "pipeline.yaml"),
        "source: orders\nkey: customer_id\nfeatures:\n"
        "  n_orders: count(order_id)\n  total: sum(amount)\n  mean: avg(amount)\n")
    put(os.path.join(feat, "refresh"), "1\n")
    rows = read(os.path.join(feat, "data.csv")).count("\n") - 1
    assert rows == 100, rows
    job = os.path.join(mnt, "jobs", "bench")
    os.mkdir(job)
    put(os.path.join(job, "train.yaml"), TRAIN)
    put(os.path.join(job, "job.yaml"), JOB)
    return job


def one_run(job, rid):
    """Start run RID; (wall seconds, status)."""
    wait = os.path.join(job, "runs", str(rid), "wait")
    t0 = time.perf_counter()
    fd = os.open(os.path.join(job, "run"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"1\n")
    os.close(fd)
    with open(wait) as f:
        status = f.read().strip()
    return time.perf_counter() - t0, status


def task_times(job, rid):
    """(sum of the tasks' own times, first start, last end), in seconds."""
    rows = list(csv.DictReader(io.StringIO(read(os.path.join(job, "runs", str(rid), "tasks.csv")))))
    assert [r["status"] for r in rows] == ["FINISHED"] * 4, rows
    own = sum(when(r["end"]) - when(r["start"]) for r in rows)
    return own, min(when(r["start"]) for r in rows), max(when(r["end"]) for r in rows), rows


def main():
    mnt, runs = sys.argv[1], int(sys.argv[2])
    job = setup(mnt)
    wall, st = one_run(job, 1)            # the first deployment: no gate
    assert st == "FINISHED", (st, read(os.path.join(job, "runs", "1", "tasks.csv")))
    hist = {}
    res = []
    print("  run   wall_ms  tasks_ms  overhead_ms  in_daemon_ms  refresh  train  validate  promote")
    for rid in range(2, runs + 2):
        wall, st = one_run(job, rid)
        assert st == "FINISHED", (st, read(os.path.join(job, "runs", str(rid), "tasks.csv")))
        own, first, last, rows = task_times(job, rid)
        if not hist or rid not in hist:
            hist = {int(r["run"]): r for r in csv.DictReader(io.StringIO(read(os.path.join(job, "history.csv"))))}
        h = hist[rid]
        span = when(h["end"]) - when(h["start"])
        each = [(when(r["end"]) - when(r["start"])) * 1000 for r in rows]
        res.append((wall, own, span))
        print("  %3d  %8.1f  %8.1f  %11.1f  %12.1f  %s" % (
            rid, wall * 1000, own * 1000, (wall - own) * 1000, (span - own) * 1000,
            "  ".join("%6.0f" % e for e in each)), flush=True)
    med = lambda xs: statistics.median(xs) * 1000
    print("runs %d" % len(res))
    print("wall_ms %.1f" % med([r[0] for r in res]))
    print("tasks_ms %.1f" % med([r[1] for r in res]))
    print("overhead_ms %.1f" % med([r[0] - r[1] for r in res]))
    print("overhead_max_ms %.1f" % (max(r[0] - r[1] for r in res) * 1000))
    print("in_daemon_overhead_ms %.1f" % med([r[2] - r[1] for r in res]))
    versions = len(os.listdir(os.path.join(mnt, "models", "m", "versions")))
    print("versions %d" % versions)
    print("production %s" % os.readlink(os.path.join(mnt, "models", "m", "Production")))


if __name__ == "__main__":
    main()
