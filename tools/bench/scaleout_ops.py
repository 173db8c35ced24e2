"""scaleout_ops.py - the per-operation timings of tools/bench/scaleout,
through a mount, each operation timed one by one (time.perf_counter):

  scaleout_ops.py setup MNT        features, labels, models m@1 and m@2
                                   (train.yaml, register: m), Production ->
                                   versions/1, endpoint ep serving
                                   m@Production 100, a run r with a tag
  scaleout_ops.py ops MNT          stat, small read, metric point, alias
                                   move, table append of 10,000 rows
  scaleout_ops.py move MNT         alias moves every 100 ms until killed
  scaleout_ops.py visible A B N    N changes made on A (a tag written),
                                   each timed from A's close to the first
                                   read on B that shows it (B polls)

Prints a line "NAME n N p50_us P p99_us Q" per operation.  Not part of
mlfs; it only uses the mount."""
import os
import random
import sys
import time

SPEC = """\
labels: lab
label: churn
features:
  - table: feat
    lookup_key: customer_id
exclude: [customer_id]
params: {n_estimators: 5, max_depth: 4, seed: %d}
register: m
"""
KEYS = 200


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def report(name, us):
    us = sorted(us)
    n = len(us)
    print("%s n %d p50_us %.1f p99_us %.1f" % (name, n, us[n // 2], us[min(n - 1, n * 99 // 100)]),
          flush=True)


def timed(n, fn):
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def setup(mnt):
    p = lambda *a: os.path.join(mnt, *a)  # noqa: E731
    for d in (p("features", "feat"), p("tables", "lab"), p("tables", "t"), p("experiments", "e")):
        os.mkdir(d)
    write(p("features", "feat", "data.csv"), "customer_id,f1,f2\n" + "".join(
        "%d,%d,%d\n" % (i, i * 37 % 100, i % 7) for i in range(1, KEYS + 1)))
    write(p("tables", "lab", "data.csv"), "customer_id,churn\n" + "".join(
        "%d,%d\n" % (i, (i * 37 % 100) < 50) for i in range(1, KEYS + 1)))
    write(p("tables", "t", "data.csv"), "id,v\n")
    for seed in (1, 2):
        run = p("experiments", "e", "runs", "r%d" % seed)
        os.mkdir(run)
        write(os.path.join(run, "train.yaml"), SPEC % seed)
        assert read(os.path.join(run, "wait")) == "FINISHED\n", read(os.path.join(run, "progress"))
    alias_move(mnt, "versions/1")
    os.mkdir(p("endpoints", "ep"))
    write(p("endpoints", "ep", "traffic"), "m@Production 100\n")
    os.mkdir(p("experiments", "e", "runs", "r"))
    write(p("experiments", "e", "runs", "r", "tags", "small"), "a small value\n")


def alias_move(mnt, target):
    """What `ln -sfn TARGET Production` does (coreutils): symlink, EEXIST,
    then a symlink under a new name renamed over the alias."""
    link = os.path.join(mnt, "models", "m", "Production")
    try:
        os.symlink(target, link)
    except FileExistsError:
        tmp = os.path.join(mnt, "models", "m", "ln%08x" % random.getrandbits(32))
        os.symlink(target, tmp)
        os.rename(tmp, link)


def ops(mnt):
    p = lambda *a: os.path.join(mnt, *a)  # noqa: E731
    data = p("tables", "t", "data.csv")
    report("stat", timed(2000, lambda i: os.stat(data)))
    small = p("experiments", "e", "runs", "r", "tags", "small")
    report("small_read", timed(1000, lambda i: read(small)))
    metric = p("experiments", "e", "runs", "r", "metrics", "loss")
    report("metric_point", timed(300, lambda i: write(metric, "%g %d\n" % (1.0 / (i + 1), i), "a")))
    report("alias_move", timed(100, lambda i: alias_move(mnt, "versions/%d" % (i % 2 + 1))))
    alias_move(mnt, "versions/1")
    rows = ["".join("%d,%d\n" % (j * 10000 + r, r % 97) for r in range(10000)) for j in range(10)]
    report("append_10k_rows", timed(10, lambda i: write(data, rows[i], "a")))


def move(mnt):
    i = 0
    while True:
        i += 1
        alias_move(mnt, "versions/%d" % (i % 2 + 1))
        time.sleep(0.1)


def visible(a, b, n):
    tag = ("experiments", "e", "runs", "r", "tags", "vis")
    pa, pb = os.path.join(a, *tag), os.path.join(b, *tag)
    out = []
    for i in range(n):
        want = "change %d\n" % i
        write(pa, want)
        t = time.perf_counter()
        while True:
            try:
                if read(pb) == want:
                    break
            except FileNotFoundError:
                pass
            if time.perf_counter() - t > 10:
                raise SystemExit("change %d not seen on %s after 10 s" % (i, b))
        out.append((time.perf_counter() - t) * 1e6)
        time.sleep(0.005)
    report("visible", out)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(sys.argv[2])
    elif cmd == "ops":
        ops(sys.argv[2])
    elif cmd == "move":
        move(sys.argv[2])
    elif cmd == "visible":
        visible(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
