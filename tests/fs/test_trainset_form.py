"""The columnar form of a feature table version through the mount: the
first large training set of a version builds it, the next ones read it.
kill -9 during that build, and the next mount removes what it left,
`mlfs check` is clean and the next training set is right (each row's
features checked against the rows written, in Python)."""
import os
import random
import subprocess
import time

from conftest import check_argv, mounted, recover_killed

SPEC = """\
labels: ll
label: y
features:
  - table: ff
    lookup_key: k
params: {n_estimators: 1, max_depth: 1, seed: 42}
split: {test_size: 0.2, seed: 42}
"""
COLS = ["a", "b", "c", "d", "e", "s"]


def check(store):
    return subprocess.run(check_argv(store), capture_output=True, text=True)


def feature_rows(rnd, keys):
    return {k: ["%d.%03d" % (rnd.randrange(-999, 999), rnd.randrange(1000)) for _ in range(5)]
            + [rnd.choice(["red", "green", "blue"])] for k in keys}


def write_features(path, rows, mode):
    with open(path, mode) as f:
        f.write("k," + ",".join(COLS) + "\n"
                + "".join("%d,%s\n" % (k, ",".join(v)) for k, v in rows.items()))


def start_run(m, name):
    d = m.p("experiments", "x", "runs", name)
    os.mkdir(d)
    with open(os.path.join(d, "train.yaml"), "w") as f:
        f.write(SPEC)
    return d


def wait(d):
    out = subprocess.run(["timeout", "300", "cat", os.path.join(d, "wait")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out
    return out.stdout.strip()


def assert_training_set(d, feats):
    with open(os.path.join(d, "training_set.csv")) as f:
        lines = f.read().splitlines()
    head = lines[0].split(",")
    at = {c: head.index(c) for c in ["k"] + COLS}
    missing = 0
    for line in lines[1:]:
        cells = line.split(",")
        want = feats.get(int(cells[at["k"]]))
        if want is None:
            missing += 1
            assert all(cells[at[c]] in ("", "nan") for c in COLS), line
            continue
        for c, w in zip(COLS, want):
            got = cells[at[c]]
            assert got == w if c == "s" else float(got) == float(w), (line, c, w)
    assert 0 < missing < len(lines) // 10


def test_kill_during_feature_form_build(tmp_path):
    rnd = random.Random(5)
    keys = rnd.sample(range(10_000_000), 300_000)
    feats = feature_rows(rnd, keys)
    with mounted() as m:
        os.mkdir(m.p("features", "ff"))
        with open(m.p("features", "ff", "keys"), "w") as f:
            f.write("k\n")
        write_features(m.p("features", "ff", "data.csv"), feats, "w")
        os.mkdir(m.p("tables", "ll"))
        with open(m.p("tables", "ll", "data.csv"), "w") as f:
            f.write("k,y\n" + "".join(
                "%d,%d\n" % (rnd.choice(keys) if rnd.randrange(40) else rnd.randrange(10**7, 10**8),
                             rnd.randrange(2)) for _ in range(30_000)))
        os.mkdir(m.p("experiments", "x"))
        for i, delay in enumerate((0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0)):
            # A merge makes a new version: its first training set builds
            # its form; kill the daemon during it.
            more = feature_rows(rnd, rnd.sample(keys, 50))
            feats.update(more)
            write_features(m.p("features", "ff", "data.csv"), more, "a")
            start_run(m, "k%d" % i)
            time.sleep(delay)
            m.kill9()
            # Alone with the store, a form cut short is a problem to
            # report; the mount removes it.
            if recover_killed(m, "left by a build cut short"):
                break
        else:
            raise AssertionError("no kill came during a feature form build")
        # The next training set builds the form; the one after reads it.
        for name in ("after1", "after2"):
            d = start_run(m, name)
            assert wait(d) == "FINISHED"
            assert_training_set(d, feats)
        m.stop()
        done = check(m.store)
        assert done.returncode == 0, done.stdout + done.stderr
        assert " 0 problems" in done.stdout
        m.start()
