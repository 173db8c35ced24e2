"""Privacy through a real mount: mkdir keeps its mode, and the views that
gather many objects (runs.csv, /log) show another user only what that
user may read.  The mount runs as root with allow_other and
default_permissions (conftest); the second user is nobody (65534), run
with setpriv (util-linux)."""
import csv
import errno
import io
import os
import stat
import subprocess

import pytest

from test_tables import expect_errno, put, read

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(autouse=True)
def need_setpriv():
    if subprocess.run(["sh", "-c", "command -v setpriv"], capture_output=True).returncode:
        pytest.fail("setpriv (util-linux) is required")


def as_nobody(*args):
    return subprocess.run(NOBODY + list(args), capture_output=True, text=True)


def nobody_reads(path):
    r = as_nobody("cat", path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def dirs_with_mkdir(m):
    """A path to make in every kind of directory that has mkdir."""
    os.mkdir(m.p("experiments", "e"))
    os.mkdir(m.p("experiments", "e", "runs", "r"))
    return [m.p("tables", "t"), m.p("features", "f"), m.p("experiments", "x"),
            m.p("experiments", "e", "runs", "mine"), m.p("models", "m"),
            m.p("endpoints", "ep"), m.p("monitors", "mo"), m.p("jobs", "j"),
            m.p("experiments", "e", "runs", "r", "artifacts", "d")]


def test_mkdir_keeps_its_mode(mnt):
    for p in dirs_with_mkdir(mnt):
        os.mkdir(p, 0o700)
        assert mode(p) == 0o700, p
        r = as_nobody("ls", p)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (p, r)
        os.chmod(p, 0o755)
        assert as_nobody("ls", p).returncode == 0, p


def test_mkdir_applies_the_callers_umask(mnt):
    old = os.umask(0o077)
    try:
        for p in dirs_with_mkdir(mnt):
            os.mkdir(p)
            assert mode(p) == 0o700, p
    finally:
        os.umask(old)
    os.mkdir(mnt.p("tables", "shared"), 0o750)
    assert mode(mnt.p("tables", "shared")) == 0o750


@pytest.fixture
def private_run(mnt):
    """Experiment e (0755) with run pub (0755) and run priv (0700, root's)."""
    runs = mnt.p("experiments", "e", "runs")
    os.mkdir(mnt.p("experiments", "e"), 0o755)
    os.mkdir(os.path.join(runs, "pub"), 0o755)
    os.mkdir(os.path.join(runs, "priv"), 0o700)
    put(os.path.join(runs, "pub", "params", "lr"), "0.1\n")
    put(os.path.join(runs, "pub", "metrics", "acc"), "0.8\n")
    put(os.path.join(runs, "priv", "params", "lr"), "0.5\n")
    put(os.path.join(runs, "priv", "params", "secret_key"), "hunter2\n")
    put(os.path.join(runs, "priv", "metrics", "acc"), "0.99\n")
    put(os.path.join(runs, "priv", "metrics", "secret_metric"), "42\n")
    mnt.runs = lambda *parts: os.path.join(runs, *parts)
    return mnt


def test_runs_csv_shows_only_readable_runs(private_run):
    m = private_run
    csv_path = m.p("experiments", "e", "runs.csv")
    mine = rows(read(csv_path).decode())
    assert [r["run"] for r in mine] == ["priv", "pub"]
    assert mine[0]["params.secret_key"] == "hunter2"
    theirs_text = nobody_reads(csv_path)
    theirs = rows(theirs_text)
    assert [r["run"] for r in theirs] == ["pub"]
    assert theirs[0]["params.lr"] == "0.1" and theirs[0]["metrics.acc"] == "0.8"
    # Not even the names of what only the private run logged.
    assert "secret" not in theirs_text and "hunter2" not in theirs_text
    # st_size agrees with what nobody reads.
    r = as_nobody("stat", "-c", "%s", csv_path)
    assert int(r.stdout) == len(theirs_text.encode())
    # Once the run is opened to others, its row shows.
    os.chmod(m.runs("priv"), 0o755)
    assert [r["run"] for r in rows(nobody_reads(csv_path))] == ["priv", "pub"]


def test_runs_csv_follows_the_runs_directory(private_run):
    """A run readable but under a runs/ others cannot search is hidden."""
    m = private_run
    os.chmod(m.runs("priv"), 0o755)
    os.chmod(m.runs(), 0o700)
    assert rows(nobody_reads(m.p("experiments", "e", "runs.csv"))) == []
    os.chmod(m.runs(), 0o1777)
    assert len(rows(nobody_reads(m.p("experiments", "e", "runs.csv")))) == 2


def test_log_shows_only_lines_about_readable_paths(private_run):
    m = private_run
    expect_errno(errno.EINVAL, put, m.runs("priv", "params", "lr"), "0.7\n")
    expect_errno(errno.EINVAL, put, m.runs("pub", "params", "lr"), "0.3\n")
    root_log = read(m.p("log")).decode()
    assert "/runs/priv/params/lr" in root_log and "'0.5'" in root_log
    theirs = nobody_reads(m.p("log"))
    assert "/runs/pub/params/lr" in theirs and "'0.3'" in theirs
    assert "priv" not in theirs and "'0.5'" not in theirs
    # A user sees the lines about what that user tried, even where nothing
    # was made.
    r = as_nobody("mkdir", m.p("tables", "bad name"))
    assert r.returncode != 0
    assert "/tables/bad name" in nobody_reads(m.p("log"))
    # Opening the run to others opens its lines too.
    os.chmod(m.runs("priv"), 0o755)
    assert "'0.5'" in nobody_reads(m.p("log"))
    # What no longer exists is nobody's to judge: only root (and whoever
    # caused a line) sees lines about it.
    subprocess.run(["rm", "-r", m.runs("pub")], check=True)
    assert "/runs/pub/params/lr" not in nobody_reads(m.p("log"))
    assert "/runs/pub/params/lr" in read(m.p("log")).decode()


def nobody_writes(path, text):
    """Write TEXT to PATH as nobody, as cat would; the CompletedProcess."""
    return subprocess.run(NOBODY + ["sh", "-c", 'cat > "$1"', "sh", path],
                          input=text, capture_output=True, text=True)


@pytest.fixture
def registered(mnt):
    """Run e/priv (0700, root's) trained on feat and lab, registered as
    version 1 of model m (0700); e/runs and /models open to all."""
    from test_models import setup_data, register
    setup_data(mnt, runs=("priv",))
    os.chmod(mnt.p("experiments", "e", "runs", "priv"), 0o700)
    os.chmod(mnt.p("models", "m"), 0o700)
    assert register(mnt, "m", "experiments/e/runs/priv") == "1\n"
    return mnt


def test_lineage_shows_only_readable_versions(registered):
    m = registered
    lineage = m.p("features", "feat", "lineage")
    assert read(lineage) == b"m@1\n"
    assert nobody_reads(lineage) == ""
    os.chmod(m.p("models", "m"), 0o755)
    assert nobody_reads(lineage) == "m@1\n"


def test_register_refuses_a_run_the_caller_cannot_read(registered):
    m = registered
    assert as_nobody("mkdir", m.p("models", "theirs")).returncode == 0
    r = nobody_writes(m.p("models", "theirs", "register"), "experiments/e/runs/priv\n")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "/experiments/e/runs/priv: permission denied" in nobody_reads(m.p("log"))
    assert os.listdir(m.p("models", "theirs", "versions")) == []
    os.chmod(m.p("experiments", "e", "runs", "priv"), 0o755)
    r = nobody_writes(m.p("models", "theirs", "register"), "experiments/e/runs/priv\n")
    assert r.returncode == 0, r
    assert os.listdir(m.p("models", "theirs", "versions")) == ["1"]


def test_train_refuses_tables_the_caller_cannot_read(registered):
    from test_models import SPEC
    m = registered
    os.chmod(m.p("tables", "lab"), 0o700)
    run = m.p("experiments", "e", "runs", "mine")
    assert as_nobody("mkdir", run).returncode == 0
    r = nobody_writes(os.path.join(run, "train.yaml"), SPEC)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "/tables/lab: permission denied" in nobody_reads(m.p("log"))
    assert read(os.path.join(run, "status")) == b"RUNNING\n"
    assert not os.path.exists(os.path.join(run, "training_set.csv"))
    # The feature table counts too.
    os.chmod(m.p("tables", "lab"), 0o755)
    os.chmod(m.p("features", "feat"), 0o700)
    r = nobody_writes(os.path.join(run, "train.yaml"), SPEC)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "/features/feat: permission denied" in nobody_reads(m.p("log"))


@pytest.mark.parametrize("made, spec_file, spec, named", [
    ("features/nf", "pipeline.yaml",
     "source: lab\nkey: customer_id\nfeatures:\n  n: count(churn)\n", "/tables/lab"),
    ("monitors/mo", "monitor.yaml",
     "source: table:lab\ntimestamp: churn\ngranularity: 1d\n", "/tables/lab"),
    ("endpoints/ep", "traffic", "m@1 100\n", "/models/m"),
])
def test_specs_name_only_what_their_writer_can_read(registered, made, spec_file, spec, named):
    """A pipeline, monitor or traffic naming a private table or model is
    refused (its views would show that data to the writer)."""
    m = registered
    os.chmod(m.p("tables", "lab"), 0o700)
    d = m.p(*made.split("/"))
    os.mkdir(d)
    os.chown(d, 65534, 65534)
    r = nobody_writes(os.path.join(d, spec_file), spec)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert named + ": permission denied" in nobody_reads(m.p("log"))
    assert read(os.path.join(d, spec_file)) == b""


def test_jobs_name_only_what_their_writer_can_read(registered):
    """A job runs later as its owner: job.yaml and the train specs beside
    it may not name what the one writing them cannot read."""
    from test_models import SPEC
    m = registered
    d = m.p("jobs", "j")
    os.mkdir(d)
    os.chown(d, 65534, 65534)
    r = nobody_writes(os.path.join(d, "train.yaml"), SPEC)
    assert r.returncode == 0, r
    job = ("tasks:\n  - {name: t, experiment: e, spec: train.yaml}\n"
           "  - {name: v, candidate: t, against: m@1, metric: f1_score, after: [t]}\n")
    r = nobody_writes(os.path.join(d, "job.yaml"), job)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "/models/m: permission denied" in nobody_reads(m.p("log"))
    assert read(os.path.join(d, "job.yaml")) == b""
    os.chmod(m.p("models", "m"), 0o755)
    r = nobody_writes(os.path.join(d, "job.yaml"), job)
    assert r.returncode == 0, r
    # The spec it trains with, rewritten to read a private table.
    os.chmod(m.p("tables", "lab"), 0o700)
    r = nobody_writes(os.path.join(d, "train.yaml"), SPEC.replace("seed: 1", "seed: 2"))
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "/tables/lab: permission denied" in nobody_reads(m.p("log"))
    assert read(os.path.join(d, "train.yaml")) == SPEC.encode()


def test_each_reader_gets_its_own_size(registered):
    """The kernel keeps one size per inode: a view whose content depends
    on the reader must not have root's size cached and served to nobody
    (nor nobody's to root)."""
    m = registered
    os.mkdir(m.p("experiments", "e", "runs", "pub"))
    expect_errno(errno.EINVAL, put, m.p("experiments", "e", "runs", "priv", "status"), "DONE\n")
    for path in (m.p("experiments", "e", "runs.csv"), m.p("log"),
                 m.p("features", "feat", "lineage")):
        for _ in range(2):
            root_size = os.stat(path).st_size
            assert root_size == len(read(path)), path
            r = as_nobody("sh", "-c", 'stat -c %s "$1"; cat "$1"', "sh", path)
            size, _, text = r.stdout.partition("\n")
            assert int(size) == len(text.encode()) < root_size, (path, r.stdout)


def test_no_reader_gets_anothers_pages(private_run):
    """The page cache is per file, not per reader: root reading runs.csv
    and /log through a handle it holds, while nobody has the same file
    open, must not fill pages that nobody's reads are then served.  (With
    file attributes never cached, the kernel drops the pages when the two
    readers' sizes differ; the views' direct_io keeps this so once the
    kernel may cache attributes.)"""
    m = private_run
    expect_errno(errno.EINVAL, put, m.runs("priv", "params", "lr"), "0.7\n")
    for path in (m.p("experiments", "e", "runs.csv"), m.p("log")):
        fd = os.open(path, os.O_RDONLY)
        try:
            p = subprocess.Popen(
                NOBODY + ["/usr/bin/python3", "-c",
                          "import os, sys\n"
                          "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                          "print('opened', flush=True)\n"
                          "sys.stdin.readline()\n"
                          "sys.stdout.write(os.read(fd, 1 << 20).decode())\n", path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline() == "opened\n"
            assert b"priv" in os.read(fd, 1 << 20)
            out, _ = p.communicate("go\n", timeout=30)
        finally:
            os.close(fd)
        assert p.returncode == 0
        assert "priv" not in out, (path, out)


def tune_spec():
    """test_models' training spec as a search of two trials."""
    from test_models import SPEC
    return SPEC.replace("n_estimators: 5, max_depth: 4, ", "max_depth: 4, ") + (
        "search_space:\n  n_estimators: {choice: [3, 5]}\nmax_evals: 2\nparallelism: 1\n")


def test_a_private_searchs_trials_are_private(registered):
    m = registered
    s = m.p("experiments", "e", "runs", "s")
    os.mkdir(s, 0o700)
    put(os.path.join(s, "tune.yaml"), tune_spec())
    out = subprocess.run(["timeout", "120", "cat", os.path.join(s, "wait")],
                         capture_output=True, text=True)
    assert out.stdout == "FINISHED\n", (out, m.log())
    trials = ["s-001", "s-002"]
    for t in trials:
        assert mode(m.p("experiments", "e", "runs", t)) == 0o700, t
    csv_path = m.p("experiments", "e", "runs.csv")
    assert [r["run"] for r in rows(read(csv_path).decode())] == ["priv", "s"] + trials
    assert rows(nobody_reads(csv_path)) == []
