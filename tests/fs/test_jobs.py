"""Jobs through the mount: /jobs/NAME made with mkdir, job.yaml checked in
write() (EINVAL with line and column in /log, the old job kept), runs
started with `echo 1 > run`, by a drift monitor's HIGH alerts, one at a
time under max_concurrent_runs, stopped with KILLED or by a daemon killed
mid-run, and what a run leaves: runs/ID/{status,wait,log,tasks.csv},
history.csv, the feature tables it refreshed, the versions it trained and
validated, the alias it moved (and the endpoint that follows it), the
table it scored into; and `next` for a cron schedule in a time zone.

Written from docs/reference.md "/jobs" and issue 13 alone, as a check of
the implementation that does not share its author.  The cron table itself
is tests/unit/test_cron.c's: here only `next` as a whole.

The data: customers 1-240 with 1-4 orders each (integer amounts); feature
table cf is the pipeline count/sum/avg over /tables/orders, and the label
churn is "total below the median total", computed here from every order
written.  A second batch of orders (every third customer) arrives after
version 1 was trained, so the job's refresh changes cf and its training
sees it.  Version 1 is a weak model (n_orders alone, one stump) or the
same spec as the job's; every expected number below (aggregates, F1 of
both versions on the candidate's test rows, predictions) is worked out
here from the rows written and the versions' own score files."""
import csv
import datetime
import errno
import io
import os
import re
import statistics
import subprocess
import time
import zoneinfo

import pytest

from conftest import check_argv, MLFS, write

HISTORY_HEADER = "run,trigger,start,end,status"
TASKS_HEADER = "task,kind,status,start,end,output,error"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
N = 240


# ---- plumbing ----

def create(path, text):
    """A new file (or an old one replaced), as `cat > FILE` or cp makes it."""
    with open(path, "w") as f:
        f.write(text)


def write_append(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_refused(path, text):
    """The errno write() itself fails with (not close()): 0 when it takes
    the text.  close() is then called and its error, if any, ignored."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def read(path):
    with open(path) as f:
        return f.read()


def sh(cmd, cwd, check=True, timeout=None):
    out = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout)
    if check:
        assert out.returncode == 0, out
    return out


def table(text):
    return list(csv.DictReader(io.StringIO(text)))


def when(stamp):
    """An ISO 8601 UTC time as written in the views."""
    assert TIME.match(stamp), stamp
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def exchange(path, req):
    """Write REQ and read the answer on one read-write handle."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, req.encode())
        out = b""
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                return out.decode()
            out += b
    finally:
        os.close(fd)


def eventually(fn, timeout=20, what=""):
    """FN() until it is true; its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            assert v, "timed out: " + what
            return v
        time.sleep(0.05)


# ---- the jobs tree ----

def job(m, name, *parts):
    return m.p("jobs", name, *parts)


def put_job(m, name, text, files=()):
    """mkdir the job if needed, write its spec files (name, text), then
    one write() of job.yaml."""
    if not os.path.isdir(job(m, name)):
        os.mkdir(job(m, name))
    for f, t in files:
        create(job(m, name, f), t)
    write(job(m, name, "job.yaml"), text)


def start(m, name):
    """echo 1 > run, as a user does; the new run's id, read back from run."""
    before = read(job(m, name, "run")).strip()
    sh("echo 1 > run", job(m, name))
    rid = read(job(m, name, "run")).strip()
    assert rid.isdigit() and rid != before, (before, rid, m.log())
    assert os.path.isdir(job(m, name, "runs", rid))
    return rid


def wait_run(m, name, rid, timeout=180):
    """cat runs/ID/wait: blocks while QUEUED or RUNNING, then the status."""
    out = subprocess.run(["timeout", str(timeout), "cat", job(m, name, "runs", rid, "wait")],
                         capture_output=True, text=True)
    assert out.returncode == 0, (out, m.log())
    return out.stdout.strip()


def status(m, name, rid):
    return read(job(m, name, "runs", rid, "status")).strip()


def tasks(m, name, rid):
    """tasks.csv by task name (in the file's order), times checked."""
    text = read(job(m, name, "runs", rid, "tasks.csv"))
    lines = text.splitlines()
    assert lines and lines[0] == TASKS_HEADER, text
    assert os.path.getsize(job(m, name, "runs", rid, "tasks.csv")) == len(text.encode())
    out = {}
    for r in table(text):
        assert r["status"] in ("QUEUED", "RUNNING", "FINISHED", "FAILED", "SKIPPED", "KILLED"), r
        for k in ("start", "end"):
            if r[k]:
                when(r[k])
        if r["start"] and r["end"]:
            assert when(r["start"]) <= when(r["end"]), r
        out[r["task"]] = r
    return out


def history(m, name):
    text = read(job(m, name, "history.csv"))
    lines = text.splitlines()
    assert lines == [] or lines[0] == HISTORY_HEADER, text
    rows = table(text)
    for r in rows:
        assert r["status"] in ("QUEUED", "RUNNING", "FINISHED", "FAILED", "SKIPPED", "KILLED"), r
        if r["start"] or r["status"] != "QUEUED":
            when(r["start"])
        if r["end"]:
            assert when(r["start"]) <= when(r["end"]), r
    return rows


def run_log(m, name, rid):
    """runs/ID/log: "TIME task: message" lines, as (task, message)."""
    out = []
    for line in read(job(m, name, "runs", rid, "log")).splitlines():
        t, _, rest = line.partition(" ")
        task, sep, msg = rest.partition(": ")
        assert TIME.match(t) and sep and task, line
        out.append((task, msg))
    return out


def job_log_errors(m, name):
    """The /log lines about NAME's job.yaml (or a spec file it names):
    (line, column, the text)."""
    out = []
    for line in m.log().splitlines():
        if re.search(r" /jobs/%s/[^ ]*\.yaml: " % re.escape(name), line):
            lc = re.search(r"line (\d+), column (\d+)", line)
            out.append((int(lc.group(1)) if lc else None, int(lc.group(2)) if lc else None, line))
    return out


# ---- the data: orders, feature table cf, labels, version 1 ----

def first_orders():
    """(customer_id, order_id, amount, order_date) rows."""
    out = []
    for i in range(1, N + 1):
        for j in range(1 + i * 7 % 4):
            out.append((i, i * 100 + j, 5 + (i * 31 + j * 17) % 60,
                        "2026-11-%02d" % (1 + (i + 3 * j) % 26)))
    return out


def more_orders():
    return [(i, i * 100 + 50, 5 + i * 13 % 60, "2026-11-26") for i in range(3, N + 1, 3)]


def orders_csv(rows, header=True):
    return ("customer_id,order_id,amount,order_date\n" if header else "") + \
        "".join("%d,%d,%d,%s\n" % r for r in rows)


def aggregates(rows):
    """What cf's pipeline gives: customer -> (n_orders, total, avg_amount)."""
    by = {}
    for c, _, a, _ in rows:
        by.setdefault(c, []).append(a)
    return {c: (len(v), sum(v), sum(v) / len(v)) for c, v in by.items()}


def labels(rows):
    """churn: total below the median total of every order written."""
    agg = aggregates(rows)
    cut = statistics.median(t for _, t, _ in agg.values())
    return {c: int(t < cut) for c, (_, t, _) in agg.items()}


PIPELINE = """\
source: orders
key: customer_id
as_of: 2026-11-27
features:
  n_orders: count(order_id)
  total: sum(amount)
  avg_amount: avg(amount)
"""

TRAIN = """\
labels: lab
label: churn
features:
  - table: cf
    lookup_key: customer_id
exclude: [customer_id]
params: {n_estimators: 5, max_depth: 4, seed: 1}
split: {test_size: 0.25, seed: 1}
register: m
"""

WEAK = TRAIN.replace("lookup_key: customer_id\n",
                     "lookup_key: customer_id\n    columns: [n_orders]\n") \
            .replace("n_estimators: 5, max_depth: 4", "n_estimators: 1, max_depth: 1")


def world(m, v1=None, more=True, production=True):
    """orders, cf refreshed from them, labels; with V1 (a train.yaml) the
    run base/v1 registers m@1 (and Production -> versions/1 when
    PRODUCTION); with MORE the second batch of orders is then appended
    (cf not yet refreshed with it).  Returns every order written."""
    rows = first_orders() + (more_orders() if more else [])
    os.mkdir(m.p("tables", "orders"))
    write(m.p("tables", "orders", "data.csv"), orders_csv(first_orders()))
    os.mkdir(m.p("features", "cf"))
    write(m.p("features", "cf", "pipeline.yaml"), PIPELINE)
    write(m.p("features", "cf", "refresh"), "1\n")
    os.mkdir(m.p("tables", "lab"))
    write(m.p("tables", "lab", "data.csv"),
          "customer_id,churn\n" + "".join("%d,%d\n" % kv for kv in sorted(labels(rows).items())))
    if v1 is not None:
        os.makedirs(m.p("experiments", "base", "runs", "v1"))
        d = m.p("experiments", "base", "runs", "v1")
        write(os.path.join(d, "train.yaml"), v1)
        out = subprocess.run(["timeout", "120", "cat", os.path.join(d, "wait")],
                             capture_output=True, text=True)
        assert out.stdout == "FINISHED\n", (out, m.log())
        assert os.listdir(m.p("models", "m", "versions")) == ["1"], m.log()
        if production:
            sh("ln -s versions/1 Production", m.p("models", "m"))
    else:
        os.mkdir(m.p("models", "m"))
    if more:
        write_append(m.p("tables", "orders", "data.csv"), orders_csv(more_orders(), header=False))
    return rows


def check_cf(m, rows):
    """cf holds the aggregates of ROWS."""
    got = {int(r["customer_id"]): r for r in table(read(m.p("features", "cf", "data.csv")))}
    want = aggregates(rows)
    assert set(got) == set(want)
    for c, (n, t, a) in want.items():
        assert int(got[c]["n_orders"]) == n and float(got[c]["total"]) == t, (c, got[c])
        assert abs(float(got[c]["avg_amount"]) - a) < 1e-9, (c, got[c])


def scored(m, version, keys):
    """versions/N/score's answer for KEYS (features looked up from cf)."""
    rows = table(exchange(m.p("models", "m", "versions", str(version), "score"),
                          "customer_id\n" + "".join("%d\n" % k for k in keys)))
    assert [r["customer_id"] for r in rows] == [str(k) for k in keys]
    return rows


def f1(truth, predicted):
    """F1 of class 1 (the second in sorted order), 0 when undefined."""
    tp = sum(1 for t, p in zip(truth, predicted) if t == 1 and p == 1)
    fp = sum(1 for t, p in zip(truth, predicted) if t == 0 and p == 1)
    fn = sum(1 for t, p in zip(truth, predicted) if t == 1 and p == 0)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def gate(m, run_dir, candidate, against):
    """F1 of versions CANDIDATE and AGAINST on the test rows of RUN_DIR's
    training_set.csv (the validation's held-out rows), worked out here."""
    test = [r for r in table(read(os.path.join(run_dir, "training_set.csv")))
            if r["split"] == "test"]
    assert test
    keys = [int(r["customer_id"]) for r in test]
    truth = [int(r["churn"]) for r in test]
    return tuple(f1(truth, [int(float(r["prediction"])) for r in scored(m, v, keys)])
                 for v in (candidate, against))


def model_history(m):
    text = read(m.p("models", "m", "history.csv"))
    assert text.splitlines()[0].startswith("time,alias,from,to,uid"), text
    return text.splitlines()[1:], table(text)


NIGHTLY = """\
tasks:
  - {name: features, refresh: cf}
  - {name: train, experiment: churn, spec: train.yaml, after: [features]}
  - {name: validate, candidate: train, against: m@Production,
     metric: f1_score, min_gain: %s, after: [train]}
  - {name: deploy, promote: m, alias: Production, after: [validate]}
"""


# ---- 1. the job directory ----

def test_mkdir_ls_rmdir(mnt):
    world(mnt, more=False)
    os.mkdir(job(mnt, "j"))
    assert os.listdir(mnt.p("jobs")) == ["j"]
    files = sorted(os.listdir(job(mnt, "j")))
    assert files == ["history.csv", "job.yaml", "next", "run", "runs"], files
    assert os.path.isdir(job(mnt, "j", "runs")) and os.listdir(job(mnt, "j", "runs")) == []
    assert read(job(mnt, "j", "job.yaml")) == ""
    assert read(job(mnt, "j", "run")) == ""                  # no run yet
    assert read(job(mnt, "j", "next")) == ""                 # no schedule
    assert history(mnt, "j") == []
    with pytest.raises(FileExistsError):
        os.mkdir(job(mnt, "j"))
    with pytest.raises(OSError) as e:
        os.mkdir(job(mnt, "bad name"))
    assert e.value.errno == errno.EINVAL
    # The views are read-only.
    for f in ("next", "history.csv"):
        with pytest.raises(OSError) as e:
            write(job(mnt, "j", f), "x\n")
        assert e.value.errno == errno.EACCES, f
    # A spec file in the folder reads back as written; the job names it.
    create(job(mnt, "j", "train.yaml"), TRAIN)
    assert read(job(mnt, "j", "train.yaml")) == TRAIN
    assert os.path.getsize(job(mnt, "j", "train.yaml")) == len(TRAIN)
    assert "train.yaml" in os.listdir(job(mnt, "j"))
    assert sh("cat train.yaml", job(mnt, "j")).stdout == TRAIN
    spec = "tasks:\n  - {name: t, experiment: churn, spec: train.yaml}\n"
    write(job(mnt, "j", "job.yaml"), spec)
    assert read(job(mnt, "j", "job.yaml")) == spec
    assert sh("ls", job(mnt, "j")).stdout.split() == \
        ["history.csv", "job.yaml", "next", "run", "runs", "train.yaml"]
    # rmdir and rm -r delete a job, its spec files with it.
    os.mkdir(job(mnt, "k"))
    sh("rmdir k", mnt.p("jobs"))
    sh("rm -r j", mnt.p("jobs"))
    assert os.listdir(mnt.p("jobs")) == []
    os.mkdir(job(mnt, "j"))
    assert sorted(os.listdir(job(mnt, "j"))) == ["history.csv", "job.yaml", "next", "run", "runs"]
    assert read(job(mnt, "j", "job.yaml")) == ""


# ---- 2. job.yaml refused in write() ----

GOOD = "tasks:\n  - {name: a, refresh: cf}\n"
BAD_TRAIN = "labels: lab\nlabel: churn\nlabelz: 1\n"

# Each text ends in a top-level key after `tasks`: no further text could
# add a task or finish one, so every error is known when write() sees it.
# (what, text, the job.yaml lines the error may be reported on: None any)
REFUSED = [
    ("unknown top-level key",
     "tasks:\n  - {name: a, refresh: cf}\ncolour: red\nmax_concurrent_runs: 1\n", {3}),
    ("unknown kind",
     "tasks:\n  - {name: a, reload: cf}\nmax_concurrent_runs: 1\n", {2}),
    ("unknown task key",
     "tasks:\n  - {name: a, refresh: cf, retries: 3}\nmax_concurrent_runs: 1\n", {2}),
    ("a key not of its kind",
     "tasks:\n  - {name: a, refresh: cf, alias: Production}\nmax_concurrent_runs: 1\n", {2}),
    ("two kinds",
     "tasks:\n  - {name: a, refresh: cf, score: m@1, input: lab, output: p}\n"
     "max_concurrent_runs: 1\n", {2}),
    ("duplicate name",
     "tasks:\n  - {name: a, refresh: cf}\n  - {name: a, refresh: cf}\nmax_concurrent_runs: 1\n",
     {3}),
    ("cycle",
     "tasks:\n  - {name: a, refresh: cf, after: [c]}\n  - {name: b, refresh: cf, after: [a]}\n"
     "  - {name: c, refresh: cf, after: [b]}\nmax_concurrent_runs: 1\n", {2, 3, 4}),
    ("self cycle",
     "tasks:\n  - {name: a, refresh: cf, after: [a]}\nmax_concurrent_runs: 1\n", {2}),
    ("unknown after",
     "tasks:\n  - {name: a, refresh: cf}\n  - {name: b, refresh: cf, after: [a, nope]}\n"
     "max_concurrent_runs: 1\n", {3}),
    ("missing spec file",
     "tasks:\n  - {name: t, experiment: churn, spec: nope.yaml}\nmax_concurrent_runs: 1\n", {2}),
    ("spec file outside the folder",
     "tasks:\n  - {name: t, experiment: churn, spec: ../other/train.yaml}\n"
     "max_concurrent_runs: 1\n", {2}),
    ("spec file not a train.yaml",
     "tasks:\n  - {name: t, experiment: churn, spec: bad.yaml}\nmax_concurrent_runs: 1\n", None),
    ("bad cron minute",
     "schedule: \"61 2 * * *\"\ntasks:\n  - {name: a, refresh: cf}\nmax_concurrent_runs: 1\n", {1}),
    ("bad cron day name",
     "schedule: \"0 2 * * mon-xyz\"\ntasks:\n  - {name: a, refresh: cf}\n"
     "max_concurrent_runs: 1\n", {1}),
    ("four cron fields",
     "schedule: \"0 2 * *\"\ntasks:\n  - {name: a, refresh: cf}\nmax_concurrent_runs: 1\n", {1}),
    ("unknown timezone",
     "schedule: \"0 2 * * *\"\ntimezone: Mars/Olympus_Mons\ntasks:\n  - {name: a, refresh: cf}\n"
     "max_concurrent_runs: 1\n", {1, 2}),
    ("validate with its candidate not before it",
     "tasks:\n  - {name: t, experiment: churn, spec: train.yaml}\n"
     "  - {name: v, candidate: t, against: m@Production, metric: f1_score}\n"
     "max_concurrent_runs: 1\n", {3}),
    ("validate before its candidate",
     "tasks:\n  - {name: v, candidate: t, against: m@Production, metric: f1_score}\n"
     "  - {name: t, experiment: churn, spec: train.yaml, after: [v]}\n"
     "max_concurrent_runs: 1\n", {2, 3}),
    ("promote with no training upstream",
     "tasks:\n  - {name: a, refresh: cf}\n"
     "  - {name: p, promote: m, alias: Production, after: [a]}\nmax_concurrent_runs: 1\n", {3}),
    ("no such feature table",
     "tasks:\n  - {name: a, refresh: nope}\nmax_concurrent_runs: 1\n", {2}),
]


@pytest.mark.parametrize("what,text,lines", REFUSED, ids=[r[0] for r in REFUSED])
def test_job_yaml_refused(mnt, what, text, lines):
    world(mnt, more=False)
    put_job(mnt, "j", GOOD, files=[("train.yaml", TRAIN), ("bad.yaml", BAD_TRAIN)])
    os.makedirs(job(mnt, "other"))
    create(job(mnt, "other", "train.yaml"), TRAIN)
    before = len(job_log_errors(mnt, "j"))
    assert write_refused(job(mnt, "j", "job.yaml"), text) == errno.EINVAL, (what, mnt.log())
    errs = job_log_errors(mnt, "j")[before:]
    assert errs, mnt.log()
    line, col, msg = errs[0]
    assert line is not None and col is not None and col >= 1, msg
    if lines is not None:
        assert line in lines, (what, msg)
    # Nothing applied: the job is the one written before, nothing started.
    assert read(job(mnt, "j", "job.yaml")) == GOOD
    assert read(job(mnt, "j", "run")) == "" and os.listdir(job(mnt, "j", "runs")) == []
    assert read(job(mnt, "j", "next")) == ""
    # The job still runs as it was.
    assert wait_run(mnt, "j", start(mnt, "j")) == "FINISHED"


def test_job_yaml_refused_from_bash(mnt):
    """bash's echo ignores close()'s error: write() refuses it, /log says
    why, the job keeps its spec."""
    world(mnt, more=False)
    put_job(mnt, "j", GOOD)
    out = sh("echo 'tasks: [{name: a, refresh: cf, after: [a]}]' > job.yaml; echo $?",
             job(mnt, "j"))
    assert out.stdout.strip() == "1", out
    assert job_log_errors(mnt, "j")
    assert read(job(mnt, "j", "job.yaml")) == GOOD


# ---- 3. the seed's four tasks ----

def test_four_tasks_end_to_end(mnt):
    rows = world(mnt, v1=WEAK)
    os.mkdir(mnt.p("endpoints", "ep"))
    write(mnt.p("endpoints", "ep", "traffic"), "m@Production 100\n")
    before = table(exchange(mnt.p("endpoints", "ep", "predict"), "customer_id\n5\n"))
    assert before[0]["version"] == "1"
    put_job(mnt, "nightly", NIGHTLY % "0.0", files=[("train.yaml", TRAIN)])
    assert read(job(mnt, "nightly", "job.yaml")) == NIGHTLY % "0.0"
    t0 = datetime.datetime.now(datetime.timezone.utc)

    assert start(mnt, "nightly") == "1"
    assert read(job(mnt, "nightly", "run")) == "1\n"
    assert sh("cat runs/1/wait", job(mnt, "nightly"), timeout=180).stdout == "FINISHED\n"
    assert status(mnt, "nightly", "1") == "FINISHED"
    t1 = datetime.datetime.now(datetime.timezone.utc)

    # features: cf refreshed with every order, the second batch included.
    check_cf(mnt, rows)
    ts = tasks(mnt, "nightly", "1")
    assert list(ts) == ["features", "train", "validate", "deploy"]
    assert [ts[t]["kind"] for t in ts] == ["refresh", "train", "validate", "promote"]
    for t in ts.values():
        assert t["status"] == "FINISHED" and t["error"] == "", t
        assert t0 - datetime.timedelta(seconds=1) <= when(t["start"]) <= when(t["end"]) <= t1, t
    # after: each task starts when the one before it has ended.
    order = list(ts.values())
    for a, b in zip(order, order[1:]):
        assert when(a["end"]) <= when(b["start"]), (a, b)
    assert "cf" in ts["features"]["output"]

    # train: run nightly-1-train of churn (made by the job), version 2.
    run = mnt.p("experiments", "churn", "runs", "nightly-1-train")
    assert read(os.path.join(run, "status")) == "FINISHED\n"
    assert read(os.path.join(run, "train.yaml")) == TRAIN
    assert read(os.path.join(run, "tags", "mlfs.registered_version")) == "m@2\n"
    assert "nightly-1-train" in ts["train"]["output"] and "m@2" in ts["train"]["output"]
    assert sorted(os.listdir(mnt.p("models", "m", "versions"))) == ["1", "2"]
    assert os.readlink(mnt.p("models", "m", "versions", "2", "run")) == \
        "../../../../experiments/churn/runs/nightly-1-train"
    # The training saw the refreshed table: its rows hold the new totals.
    agg = aggregates(rows)
    for r in table(read(os.path.join(run, "training_set.csv"))):
        assert float(r["total"]) == agg[int(r["customer_id"])][1], r

    # validate: both versions on the candidate's test rows, worked out here.
    cand, prod = gate(mnt, run, 2, 1)
    assert cand - prod >= 0          # the data makes version 2 the better one
    got = re.fullmatch(r"f1_score (\S+) against (\S+) \(gain (\S+)\)", ts["validate"]["output"])
    assert got, ts["validate"]["output"]
    assert abs(float(got.group(1)) - cand) < 0.0011, (got.group(0), cand, prod)
    assert abs(float(got.group(2)) - prod) < 0.0011, (got.group(0), cand, prod)
    assert abs(float(got.group(3)) - (cand - prod)) < 0.0021, (got.group(0), cand, prod)

    # deploy: Production moved through the registry, with its history.
    assert ts["deploy"]["output"] == "m@Production -> 2"
    assert os.readlink(mnt.p("models", "m", "Production")) == "versions/2"
    assert read(mnt.p("models", "m", "versions", "2", "stage")) == "Production\n"
    assert read(mnt.p("models", "m", "versions", "1", "stage")) == "Archived\n"
    lines, hist = model_history(mnt)
    assert [(h["alias"], h["from"], h["to"]) for h in hist] == \
        [("Production", "", "1"), ("Production", "1", "2")]
    assert hist[1]["uid"] == str(os.getuid())            # the job's owner
    assert "job:nightly/1" in lines[1], lines[1]
    # The endpoint serving m@Production meets version 2 at once.
    after = table(exchange(mnt.p("endpoints", "ep", "predict"), "customer_id\n5\n7\n"))
    assert [r["version"] for r in after] == ["2", "2"]

    # The run's log and the job's history.
    logged = run_log(mnt, "nightly", "1")
    assert {t for t, _ in logged} >= {"features", "train", "validate", "deploy"}, logged
    h = history(mnt, "nightly")
    assert [(r["run"], r["trigger"], r["status"]) for r in h] == [("1", "manual", "FINISHED")]
    assert when(h[0]["start"]) <= when(ts["features"]["start"])
    assert when(h[0]["end"]) >= when(ts["deploy"]["end"])
    # A run's files are views: read-only.
    for f in ("wait", "log", "tasks.csv"):
        with pytest.raises(OSError) as e:
            write(job(mnt, "nightly", "runs", "1", f), "x\n")
        assert e.value.errno == errno.EACCES, f
    assert os.listdir(job(mnt, "nightly", "runs")) == ["1"]
    # Everything stays across a remount.
    kept = [read(job(mnt, "nightly", *p)) for p in
            (("history.csv",), ("runs", "1", "tasks.csv"), ("run",), ("job.yaml",))]
    mnt.stop()
    mnt.start()
    assert [read(job(mnt, "nightly", *p)) for p in
            (("history.csv",), ("runs", "1", "tasks.csv"), ("run",), ("job.yaml",))] == kept


# ---- 4. a validation that fails ----

def test_failing_validation_leaves_production(mnt):
    world(mnt, v1=TRAIN)
    os.mkdir(mnt.p("endpoints", "ep"))
    write(mnt.p("endpoints", "ep", "traffic"), "m@Production 100\n")
    hist_before = read(mnt.p("models", "m", "history.csv"))
    put_job(mnt, "gate", NIGHTLY % "1.0", files=[("train.yaml", TRAIN)])
    rid = start(mnt, "gate")
    assert wait_run(mnt, "gate", rid) == "FAILED"
    ts = tasks(mnt, "gate", rid)
    assert [(t, ts[t]["status"]) for t in ts] == [
        ("features", "FINISHED"), ("train", "FINISHED"), ("validate", "FAILED"),
        ("deploy", "SKIPPED")]
    # The gain, worked out here, is far below 1.0: the reason says so.
    run = mnt.p("experiments", "churn", "runs", "gate-%s-train" % rid)
    cand, prod = gate(mnt, run, 2, 1)
    assert cand - prod < 1.0
    err = ts["validate"]["error"]
    assert "f1_score" in err and "gain" in err, ts["validate"]
    assert ts["deploy"]["output"] == ""
    assert [l for l in mnt.log().splitlines() if "/jobs/gate" in l and "gain" in l], mnt.log()
    # Production unchanged, the new version registered all the same.
    assert os.readlink(mnt.p("models", "m", "Production")) == "versions/1"
    assert sorted(os.listdir(mnt.p("models", "m", "versions"))) == ["1", "2"]
    assert read(mnt.p("models", "m", "history.csv")) == hist_before
    assert table(exchange(mnt.p("endpoints", "ep", "predict"), "customer_id\n5\n"))[0]["version"] \
        == "1"
    h = history(mnt, "gate")
    assert [(r["run"], r["trigger"], r["status"]) for r in h] == [(rid, "manual", "FAILED")]


# ---- 5. the first deployment ----

def test_no_alias_yet_passes_and_promotes(mnt):
    world(mnt)                      # model m exists, no version, no alias
    put_job(mnt, "first", NIGHTLY % "0.0", files=[("train.yaml", TRAIN)])
    rid = start(mnt, "first")
    assert wait_run(mnt, "first", rid) == "FINISHED", tasks(mnt, "first", rid)
    ts = tasks(mnt, "first", rid)
    assert {t["status"] for t in ts.values()} == {"FINISHED"}
    assert "m@1" in ts["train"]["output"]
    assert ts["deploy"]["output"] == "m@Production -> 1"
    assert os.readlink(mnt.p("models", "m", "Production")) == "versions/1"
    lines, hist = model_history(mnt)
    assert [(h["alias"], h["from"], h["to"], h["uid"]) for h in hist] == \
        [("Production", "", "1", str(os.getuid()))]
    assert "job:first/%s" % rid in lines[0]


# ---- 6. independent branches ----

def test_independent_branches(mnt):
    rows = world(mnt)
    for name, feats in (("cf2", "  biggest: max(amount)\n"), ("cf3", "  smallest: min(amount)\n")):
        os.mkdir(mnt.p("features", name))
        write(mnt.p("features", name, "pipeline.yaml"),
              "source: orders\nkey: customer_id\nfeatures:\n" + feats)
    put_job(mnt, "fan", "tasks:\n"
            "  - {name: a, refresh: cf}\n"
            "  - {name: b, refresh: cf2}\n"
            "  - {name: c, refresh: cf3, after: [a, b]}\n")
    rid = start(mnt, "fan")
    assert wait_run(mnt, "fan", rid) == "FINISHED"
    ts = tasks(mnt, "fan", rid)
    assert {t: ts[t]["status"] for t in ts} == {"a": "FINISHED", "b": "FINISHED", "c": "FINISHED"}
    # a and b wait for nothing (either may go first, or both at once); c
    # starts only when both have ended.
    assert when(ts["c"]["start"]) >= max(when(ts["a"]["end"]), when(ts["b"]["end"]))
    check_cf(mnt, rows)
    by = {}
    for c, _, a, _ in rows:
        by.setdefault(c, []).append(a)
    got2 = {int(r["customer_id"]): float(r["biggest"])
            for r in table(read(mnt.p("features", "cf2", "data.csv")))}
    got3 = {int(r["customer_id"]): float(r["smallest"])
            for r in table(read(mnt.p("features", "cf3", "data.csv")))}
    assert got2 == {c: max(v) for c, v in by.items()}
    assert got3 == {c: min(v) for c, v in by.items()}


# ---- 7. batch scoring into a table ----

def test_score_task(mnt):
    world(mnt, v1=TRAIN, more=False)
    keys = list(range(1, N + 1, 3))
    os.mkdir(mnt.p("tables", "cust"))
    write(mnt.p("tables", "cust", "data.csv"), "customer_id\n" + "".join("%d\n" % k for k in keys))
    assert "preds" not in os.listdir(mnt.p("tables"))
    put_job(mnt, "sc", "tasks:\n"
            "  - {name: s, score: m@Production, input: cust, output: preds}\n")
    want = {int(r["customer_id"]): r for r in scored(mnt, 1, keys)}
    for n in (1, 2):                # the second run replaces the rows
        rid = start(mnt, "sc")
        assert rid == str(n)
        assert wait_run(mnt, "sc", rid) == "FINISHED"
        ts = tasks(mnt, "sc", rid)
        assert ts["s"]["kind"] == "score" and ts["s"]["status"] == "FINISHED"
        assert "preds" in ts["s"]["output"] and str(len(keys)) in ts["s"]["output"], ts["s"]
        text = read(mnt.p("tables", "preds", "data.csv"))
        header = text.splitlines()[0].split(",")
        for col in ("customer_id", "prediction", "probability", "model_version",
                    "prediction_timestamp"):
            assert col in header, header
        got = table(text)
        assert sorted(int(r["customer_id"]) for r in got) == keys
        for r in got:
            w = want[int(r["customer_id"])]
            assert float(r["prediction"]) == float(w["prediction"]), (r, w)
            assert abs(float(r["probability"]) - float(w["probability"])) < 1e-6, (r, w)
            assert r["model_version"] in ("m@1", "1"), r


# ---- slow work: a training of many trees on a bigger table ----

BIG_ROWS = 3000


def big_world(m):
    """tables/big: 3,000 rows of three numbers and a label mixing them."""
    os.mkdir(m.p("tables", "big"))
    write(m.p("tables", "big", "data.csv"),
          "id,x1,x2,x3,y\n" + "".join(
              "%d,%d,%d,%d,%d\n" % (i, i * 37 % 101, i * 53 % 97, i * 11 % 89,
                                    (i * 37 % 101 + i * 53 % 97 * (i % 3)) % 7 < 3)
              for i in range(BIG_ROWS)))


def slow_spec(trees):
    return ("labels: big\nlabel: y\nexclude: [id]\n"
            "params: {n_estimators: %d, max_depth: 30, seed: 3}\n" % trees)


def training_started(m, run_dir):
    def go():
        try:
            return read(os.path.join(run_dir, "progress")).startswith("tree ")
        except FileNotFoundError:
            return False
    eventually(go, 60, "training " + run_dir)


# ---- 8. one run at a time ----

def test_second_start_queued(mnt):
    big_world(mnt)
    put_job(mnt, "one", "max_concurrent_runs: 1\ntasks:\n"
            "  - {name: t, experiment: e, spec: slow.yaml}\n",
            files=[("slow.yaml", slow_spec(1500))])
    r1 = start(mnt, "one")
    training_started(mnt, mnt.p("experiments", "e", "runs", "one-%s-t" % r1))
    r2 = start(mnt, "one")
    assert (r1, r2) == ("1", "2")
    assert status(mnt, "one", r1) == "RUNNING"
    assert status(mnt, "one", r2) == "QUEUED"
    assert [(r["run"], r["status"]) for r in history(mnt, "one")] == \
        [("1", "RUNNING"), ("2", "QUEUED")]
    assert not os.path.exists(mnt.p("experiments", "e", "runs", "one-2-t"))
    assert wait_run(mnt, "one", r1) == "FINISHED"
    assert wait_run(mnt, "one", r2) == "FINISHED"
    h = history(mnt, "one")
    assert [(r["run"], r["trigger"], r["status"]) for r in h] == \
        [("1", "manual", "FINISHED"), ("2", "manual", "FINISHED")]
    assert when(h[1]["start"]) >= when(h[0]["end"])
    t1, t2 = tasks(mnt, "one", r1)["t"], tasks(mnt, "one", r2)["t"]
    assert when(t2["start"]) >= when(t1["end"])
    for r in ("one-1-t", "one-2-t"):
        assert read(mnt.p("experiments", "e", "runs", r, "status")) == "FINISHED\n"


# ---- 9. KILLED ----

def test_killed_run(mnt):
    rows = world(mnt, more=False)
    big_world(mnt)
    put_job(mnt, "long", "tasks:\n"
            "  - {name: t, experiment: e, spec: slow.yaml}\n"
            "  - {name: after, refresh: cf, after: [t]}\n",
            files=[("slow.yaml", slow_spec(20000))])
    cf_before = read(mnt.p("features", "cf", "data.csv"))
    write_append(mnt.p("tables", "orders", "data.csv"), orders_csv(more_orders(), header=False))
    rid = start(mnt, "long")
    run = mnt.p("experiments", "e", "runs", "long-%s-t" % rid)
    training_started(mnt, run)
    assert status(mnt, "long", rid) == "RUNNING"
    # A job with a RUNNING run is not deleted.
    out = sh("rmdir long", mnt.p("jobs"), check=False)
    assert out.returncode != 0 and "Device or resource busy" in out.stderr, out
    t = time.time()
    sh("echo KILLED > runs/%s/status" % rid, job(mnt, "long"))
    assert wait_run(mnt, "long", rid, timeout=30) == "KILLED"
    assert time.time() - t < 10
    assert status(mnt, "long", rid) == "KILLED"
    ts = tasks(mnt, "long", rid)
    assert ts["t"]["status"] == "KILLED", ts
    assert ts["after"]["status"] == "SKIPPED", ts
    eventually(lambda: read(os.path.join(run, "status")) != "RUNNING\n", 10)
    assert read(os.path.join(run, "status")) == "KILLED\n"
    assert read(mnt.p("features", "cf", "data.csv")) == cf_before      # never refreshed
    assert aggregates(rows) != aggregates(rows + more_orders())
    assert [(r["run"], r["status"]) for r in history(mnt, "long")] == [(rid, "KILLED")]
    assert history(mnt, "long")[0]["end"] != ""
    sh("rm -r long", mnt.p("jobs"))
    assert "long" not in os.listdir(mnt.p("jobs"))


# ---- 10. kill -9 during a run ----

def test_kill9_during_run(mnt):
    rows = world(mnt)
    big_world(mnt)
    put_job(mnt, "crash", "tasks:\n"
            "  - {name: features, refresh: cf}\n"
            "  - {name: t, experiment: e, spec: slow.yaml, after: [features]}\n"
            "  - {name: last, refresh: cf, after: [t]}\n",
            files=[("slow.yaml", slow_spec(20000))])
    rid = start(mnt, "crash")
    training_started(mnt, mnt.p("experiments", "e", "runs", "crash-%s-t" % rid))
    ts = tasks(mnt, "crash", rid)
    assert ts["features"]["status"] == "FINISHED" and ts["t"]["status"] == "RUNNING", ts
    mnt.kill9()
    mnt.start()
    assert status(mnt, "crash", rid) == "FAILED"
    assert wait_run(mnt, "crash", rid, timeout=10) == "FAILED"
    ts = tasks(mnt, "crash", rid)
    assert ts["features"]["status"] == "FINISHED" and "cf" in ts["features"]["output"]
    assert ts["t"]["status"] == "FAILED" and "interrupted" in ts["t"]["error"], ts
    assert ts["last"]["status"] == "SKIPPED", ts
    check_cf(mnt, rows)                          # the finished refresh is kept
    h = history(mnt, "crash")
    assert [(r["run"], r["status"]) for r in h] == [(rid, "FAILED")] and h[0]["end"] != ""
    assert read(mnt.p("experiments", "e", "runs", "crash-%s-t" % rid, "status")) == "FAILED\n"
    mnt.stop()
    out = subprocess.run(check_argv(mnt.store), capture_output=True, text=True)
    assert out.returncode == 0 and "0 problems" in out.stdout, out
    mnt.start()
    # A new run works (a quick one: the spec file rewritten, job.yaml again).
    write(job(mnt, "crash", "slow.yaml"), slow_spec(3))
    write(job(mnt, "crash", "job.yaml"), read(job(mnt, "crash", "job.yaml")))
    r2 = start(mnt, "crash")
    assert int(r2) == int(rid) + 1
    assert wait_run(mnt, "crash", r2) == "FINISHED"
    assert {t["status"] for t in tasks(mnt, "crash", r2).values()} == {"FINISHED"}


# ---- 11. started by a drift monitor ----

def drift_day(day, shift):
    return "".join("2026-11-%02dT%02d:00:00Z,%d.5\n" % (day, j % 24, j * 7 % 50 + shift)
                   for j in range(50))


def monitor_refresh(m):
    write(m.p("monitors", "drift", "refresh"), "1\n")
    rep = dict(l.split(" ", 1) for l in read(m.p("monitors", "drift", "refresh")).splitlines())
    assert rep.get("status") == "ok", (rep, m.log())
    return rep


def high_batches(m):
    """The alert batches (lines sharing a time) holding a HIGH line."""
    rows = table(read(m.p("monitors", "drift", "alerts")))
    return sorted({r["time"] for r in rows if r["level"] == "HIGH"})


def test_drift_trigger(mnt):
    world(mnt, more=False)
    os.mkdir(mnt.p("tables", "ref"))
    os.mkdir(mnt.p("tables", "cur"))
    write(mnt.p("tables", "ref", "data.csv"),
          "ts,x\n" + "".join("2026-10-01T00:00:00Z,%d.5\n" % (j * 7 % 50) for j in range(50)))
    write(mnt.p("tables", "cur", "data.csv"), "ts,x\n" + drift_day(2, 0))   # like the baseline
    os.mkdir(mnt.p("monitors", "drift"))
    write(mnt.p("monitors", "drift", "monitor.yaml"),
          "source: table:cur\ntimestamp: ts\ngranularity: 1d\nbaseline: table:ref\ncolumns: [x]\n")
    monitor_refresh(mnt)
    assert high_batches(mnt) == []
    put_job(mnt, "retrain", "trigger: {monitor: drift, level: high}\ntasks:\n"
            "  - {name: a, refresh: cf}\n")
    assert history(mnt, "retrain") == []

    def runs():
        return [(r["run"], r["trigger"]) for r in history(mnt, "retrain")]

    # A day far off: one alert batch with HIGH lines, one run.
    write_append(mnt.p("tables", "cur", "data.csv"), drift_day(3, 200))
    monitor_refresh(mnt)
    assert len(high_batches(mnt)) == 1, read(mnt.p("monitors", "drift", "alerts"))
    eventually(runs, 20, "a run started by the alert")
    assert wait_run(mnt, "retrain", "1") == "FINISHED"
    time.sleep(6)                   # a scheduler tick or more: still one run
    assert runs() == [("1", "monitor:drift")]
    # Refreshing again raises no alert and starts nothing.
    rep = monitor_refresh(mnt)
    assert rep["alerts_new"] == "0"
    time.sleep(6)
    assert runs() == [("1", "monitor:drift")]
    # A new HIGH batch: one more run.
    write_append(mnt.p("tables", "cur", "data.csv"), drift_day(4, 400))
    monitor_refresh(mnt)
    assert len(high_batches(mnt)) == 2
    eventually(lambda: len(runs()) == 2, 20, "a second run")
    assert wait_run(mnt, "retrain", "2") == "FINISHED"
    time.sleep(3)
    assert runs() == [("1", "monitor:drift"), ("2", "monitor:drift")]
    assert [r["status"] for r in history(mnt, "retrain")] == ["FINISHED", "FINISHED"]


# ---- 12. next ----

def next_fire(after, tz, match):
    """The first whole minute after AFTER (UTC) whose wall time in TZ
    MATCH accepts: a walk minute by minute, the slow obvious way."""
    t = after.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    for _ in range(60 * 24 * 9):
        if match(t.astimezone(zoneinfo.ZoneInfo(tz))):
            return t
        t += datetime.timedelta(minutes=1)
    raise AssertionError("no fire within 9 days")


def check_next(got, a, b, tz, match):
    """GOT, next's text, against the walk from A (just before the spec was
    written) and B (just after next was read): a minute may turn between."""
    want = {next_fire(a, tz, match), next_fire(b, tz, match)}
    t = when(got)
    assert t > a, (got, a)
    zone = zoneinfo.ZoneInfo(tz)
    if any(w.astimezone(zone).utcoffset() != a.astimezone(zone).utcoffset() for w in want):
        # A DST change before it: the walk skips a wall time that does not
        # exist, and cron implementations differ there (the unit test
        # pins ours): within a day of the walk's answer.
        assert t <= max(want) + datetime.timedelta(days=1), (got, want)
    else:
        assert t in want, (got, sorted(want))


@pytest.mark.parametrize("schedule,tz,match", [
    ("30 2 * * *", "Europe/Berlin", lambda w: (w.hour, w.minute) == (2, 30)),
    ("30 2 * * *", None, lambda w: (w.hour, w.minute) == (2, 30)),
    ("*/20 9-17 * jan-dec mon-fri", "Europe/Berlin",
     lambda w: w.minute % 20 == 0 and 9 <= w.hour <= 17 and w.weekday() < 5),
    ("@daily", "America/New_York", lambda w: (w.hour, w.minute) == (0, 0)),
], ids=["berlin", "utc", "names-berlin", "daily-new-york"])
def test_next(mnt, schedule, tz, match):
    world(mnt, more=False)
    spec = 'schedule: "%s"\n' % schedule + ("timezone: %s\n" % tz if tz else "") + GOOD
    a = datetime.datetime.now(datetime.timezone.utc)
    put_job(mnt, "cron", spec)
    text = read(job(mnt, "cron", "next"))
    b = datetime.datetime.now(datetime.timezone.utc)
    assert read(job(mnt, "cron", "job.yaml")) == spec
    assert text.endswith("\n") and "\n" not in text[:-1], text
    assert os.path.getsize(job(mnt, "cron", "next")) == len(text)
    check_next(text.strip(), a, b, tz or "UTC", match)
    # Without a schedule: empty.
    write(job(mnt, "cron", "job.yaml"), GOOD)
    assert read(job(mnt, "cron", "next")) == ""


def test_run_and_status_refused(mnt):
    """run without job.yaml and a word other than KILLED to a run's status
    fail in write() with EINVAL, say why in /log and change nothing."""
    os.mkdir(job(mnt, "j"))
    assert write_refused(job(mnt, "j", "run"), "1\n") == errno.EINVAL
    assert "/jobs/j/run: no job.yaml" in mnt.log()
    assert read(job(mnt, "j", "run")) == ""
    assert os.listdir(job(mnt, "j", "runs")) == []
    os.mkdir(mnt.p("tables", "t"))
    write(mnt.p("tables", "t", "data.csv"), "a\n1\n")
    os.mkdir(mnt.p("features", "f"))
    write(mnt.p("features", "f", "pipeline.yaml"), "source: t\nkey: a\nfeatures:\n  n: count(a)\n")
    put_job(mnt, "j", "tasks:\n  - {name: r, refresh: f}\n")
    rid = start(mnt, "j")
    assert read(job(mnt, "j", "runs", rid, "wait")) == "FINISHED\n"
    assert write_refused(job(mnt, "j", "runs", rid, "status"), "RUNNING\n") == errno.EINVAL
    assert "/jobs/j/runs/%s/status: write KILLED to stop the run" % rid in mnt.log()
    assert read(job(mnt, "j", "runs", rid, "status")) == "FINISHED\n"
