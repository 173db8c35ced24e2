"""Training and tuning through the mount: train.yaml and tune.yaml in a run
directory start work that runs off the request path; progress, wait,
status, error, model/ and training_set.csv tell what happened.  Every
rejected spec fails write() with its errno and a /log line, starting
nothing; KILLED stops a training and a search; a daemon killed mid-training
leaves the run FAILED "interrupted" after the next mount."""
import errno
import os
import shutil
import subprocess
import time

import pytest

from conftest import Mount, SANITIZER, write

DATA = os.environ.get("MLFS_DATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def read(path):
    with open(path) as f:
        return f.read()


def wait_status(m, run_dir, timeout=120):
    """cat wait: blocks until the run ends, then its status."""
    out = subprocess.run(["timeout", str(timeout), "cat", os.path.join(run_dir, "wait")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out
    return out.stdout.strip()


def make_churn(m):
    """customer_features (a feature table keyed by id) and customer_labels,
    from the mlc_churn data set: 5,000 customers."""
    rows = read(os.path.join(DATA, "mlc_churn.csv")).splitlines()
    header = rows[0].split(",")
    label_at = header.index("churn")
    feats = ["customer_id"] + [h for i, h in enumerate(header) if i != label_at]
    frows, lrows = [",".join(feats)], ["customer_id,churn"]
    for i, line in enumerate(rows[1:]):
        cells = line.split(",")
        frows.append(",".join([str(i)] + [c for j, c in enumerate(cells) if j != label_at]))
        lrows.append("%d,%s" % (i, cells[label_at]))
    os.mkdir(m.p("features", "customer_features"))
    write(m.p("features", "customer_features", "data.csv"), "\n".join(frows) + "\n")
    os.mkdir(m.p("tables", "customer_labels"))
    write(m.p("tables", "customer_labels", "data.csv"), "\n".join(lrows) + "\n")
    os.mkdir(m.p("experiments", "churn"))


SPEC = """\
labels: customer_labels
label: churn
features:
  - table: customer_features
    lookup_key: customer_id
exclude: [customer_id]
params: {n_estimators: 30, max_depth: 8, seed: 42}
split: {test_size: 0.2, seed: 42}
tags: {team: growth}
"""


def new_run(m, name):
    d = m.p("experiments", "churn", "runs", name)
    os.mkdir(d)
    return d


def test_train_to_finished(mnt):
    make_churn(mnt)
    d = new_run(mnt, "rf_baseline")
    write(os.path.join(d, "train.yaml"), SPEC)
    assert wait_status(mnt, d) == "FINISHED"
    assert read(os.path.join(d, "progress")) == "done\n"
    assert read(os.path.join(d, "error")) == ""
    assert read(os.path.join(d, "train.yaml")) == SPEC
    params = os.listdir(os.path.join(d, "params"))
    for p in ("n_estimators", "max_depth", "min_samples_leaf", "max_features",
              "model_type", "n_train", "n_test", "n_features", "label"):
        assert p in params, p
    assert read(os.path.join(d, "params", "n_estimators")) == "30\n"
    assert read(os.path.join(d, "params", "n_test")) == "1000\n"
    metrics = sorted(os.listdir(os.path.join(d, "metrics")))
    assert metrics == ["accuracy", "f1_score", "log_loss", "oob_score", "precision",
                       "recall", "roc_auc"]
    acc = float(read(os.path.join(d, "metrics", "accuracy")).split()[1])
    assert 0.9 < acc <= 1.0    # mlc_churn: scikit-learn reaches about 0.95
    assert read(os.path.join(d, "tags", "mlflow.source.type")) == "mlfs\n"
    assert read(os.path.join(d, "tags", "team")) == "growth\n"
    model = sorted(os.listdir(os.path.join(d, "model")))
    assert model == ["confusion.csv", "features.yaml", "importances.csv", "model.forest",
                     "profile", "signature"]
    imp = read(os.path.join(d, "model", "importances.csv")).splitlines()
    assert imp[0] == "feature,importance"
    values = [float(line.rsplit(",", 1)[1]) for line in imp[1:]]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 1) < 1e-9
    # The model file works with the forest CLI.
    out = subprocess.run([os.environ.get("MLFS_BIN", "mlfs"), "forest", "info",
                          "--model", os.path.join(d, "model", "model.forest")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "30" in out.stdout, out
    ts = read(os.path.join(d, "training_set.csv")).splitlines()
    assert ts[0].startswith("customer_id,churn,") and ts[0].endswith(",split")
    assert len(ts) == 5001
    assert sum(1 for line in ts[1:] if line.endswith(",test")) == 1000
    assert os.path.getsize(os.path.join(d, "training_set.csv")) == len("\n".join(ts)) + 1
    # A trained run takes no second spec.
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "train.yaml"), SPEC)
    assert e.value.errno == errno.EBUSY
    assert "train.yaml: the run is FINISHED" in mnt.log()


@pytest.mark.parametrize("spec,err,reason", [
    ("labels: customer_labels\nlabel: churn\nlabelz: 1\n", errno.EINVAL,
     "line 3, column 1: unknown key 'labelz'"),
    ("labels: nope\nlabel: churn\n", errno.EINVAL, "no table 'nope' under /tables"),
    ("labels: customer_labels\nlabel: churned\n", errno.EINVAL, "no column 'churned'"),
    ("labels: customer_labels\nlabel: churn\nfeatures: [{table: nope, lookup_key: customer_id}]\n",
     errno.EINVAL, "no feature table 'nope'"),
    ("labels: customer_labels\nlabel: churn\nfeatures: [{table: customer_features, "
     "lookup_key: customer_id, columns: [bogus]}]\n", errno.EINVAL, "no column 'bogus'"),
    ("labels: customer_labels\nlabel: churn\nfeatures: [{table: customer_features, "
     "lookup_key: cid}]\n", errno.EINVAL, "lookup_key: no column 'cid'"),
    ("labels: customer_labels\nlabel: churn\nparams: {n_estimators: lots}\n", errno.EINVAL,
     "line 3, column 24: params:"),
    ("labels: customer_labels\nlabel: churn\nparams: {max_depthh: 3}\n", errno.EINVAL, "params:"),
    ("labels: customer_labels\nlabel: churn\nsplit: {test_size: 2}\n", errno.EINVAL, "test_size"),
    ("labels: customer_labels\nlabel: churn\nregister: .churn\n", errno.EINVAL,
     "register: '.churn' is not a model name"),
    ("labels: [customer_labels\n", errno.EINVAL, "line"),
])
def test_bad_specs_start_nothing(mnt, spec, err, reason):
    make_churn(mnt)
    d = new_run(mnt, "r")
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "train.yaml"), spec)
    assert e.value.errno == err
    assert reason in mnt.log(), mnt.log()
    assert "/experiments/churn/runs/r/train.yaml: " in mnt.log()
    assert read(os.path.join(d, "status")) == "RUNNING\n"
    assert read(os.path.join(d, "progress")) == ""
    assert os.listdir(os.path.join(d, "params")) == []
    # The run still takes a good spec afterwards.
    write(os.path.join(d, "train.yaml"), SPEC)
    assert wait_status(mnt, d) == "FINISHED"


def test_spec_over_the_limit(mnt):
    make_churn(mnt)
    d = new_run(mnt, "big")
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "train.yaml"), SPEC + "#" * (1 << 20) + "\n")
    assert e.value.errno == errno.EFBIG
    assert read(os.path.join(d, "status")) == "RUNNING\n"


def test_bash_echo_reports_through_log(mnt):
    """bash's builtin echo ignores close's error: write() refuses what the
    text so far already gets wrong."""
    make_churn(mnt)
    d = new_run(mnt, "e")
    out = subprocess.run(["bash", "-c", "echo 'labels: x' > %s/train.yaml; echo $?" % d],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "1"
    assert "train.yaml: line 1, column 9: no table 'x' under /tables" in mnt.log()
    assert read(os.path.join(d, "train.yaml")) == ""


def test_missing_key_fails_at_close(mnt):
    """A key still missing at close: close() fails (/bin/echo reports it),
    /log says which, nothing starts."""
    make_churn(mnt)
    d = new_run(mnt, "m")
    out = subprocess.run(["/bin/echo", "labels: customer_labels"],
                         stdout=open(os.path.join(d, "train.yaml"), "w"), stderr=subprocess.PIPE)
    assert out.returncode != 0
    assert "train.yaml: line 1, column 1: label: the label column is missing" in mnt.log()
    assert read(os.path.join(d, "progress")) == ""
    assert read(os.path.join(d, "status")) == "RUNNING\n"


def test_spec_written_line_by_line(mnt):
    """printf and shell loops write a spec a line at a time."""
    make_churn(mnt)
    d = new_run(mnt, "lines")
    lines = "".join("'%s\\n'" % line.replace("'", "") for line in SPEC.splitlines())
    r = subprocess.run(["bash", "-c", "printf '%%b' %s > %s/train.yaml" % (lines, d)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert wait_status(mnt, d) == "FINISHED"
    assert read(os.path.join(d, "train.yaml")) == SPEC


def test_one_class_label_fails_with_error(mnt):
    make_churn(mnt)
    os.mkdir(mnt.p("tables", "same"))
    write(mnt.p("tables", "same", "data.csv"),
          "customer_id,churn\n" + "".join("%d,no\n" % i for i in range(50)))
    d = new_run(mnt, "one")
    write(os.path.join(d, "train.yaml"), SPEC.replace("customer_labels", "same"))
    assert wait_status(mnt, d) == "FAILED"
    assert "single class" in read(os.path.join(d, "error"))
    assert read(os.path.join(d, "progress")) == "failed\n"
    assert "/experiments/churn/runs/one/train.yaml: " in mnt.log()
    assert "single class" in mnt.log()


def test_killed_stops_training(mnt):
    make_churn(mnt)
    d = new_run(mnt, "long")
    write(os.path.join(d, "train.yaml"),
          SPEC.replace("n_estimators: 30, max_depth: 8", "n_estimators: 5000, max_depth: 30"))
    deadline = time.time() + 30
    while not read(os.path.join(d, "progress")).startswith("tree "):
        assert time.time() < deadline, read(os.path.join(d, "progress"))
        time.sleep(0.05)
    t0 = time.time()
    write(os.path.join(d, "status"), "KILLED\n")
    assert wait_status(mnt, d) == "KILLED"
    # The job ends within a second (between trees) and keeps KILLED.
    while read(os.path.join(d, "progress")) != "killed\n":
        assert time.time() - t0 < 5, read(os.path.join(d, "progress"))
        time.sleep(0.05)
    assert read(os.path.join(d, "status")) == "KILLED\n"
    assert "model" not in os.listdir(d)


def test_queued_behind_the_worker(mnt):
    """One training at a time by default: the second reads "queued"."""
    make_churn(mnt)
    a, b = new_run(mnt, "a"), new_run(mnt, "b")
    write(os.path.join(a, "train.yaml"),
          SPEC.replace("n_estimators: 30, max_depth: 8", "n_estimators: 3000, max_depth: 30"))
    write(os.path.join(b, "train.yaml"), SPEC)
    assert read(os.path.join(b, "progress")) == "queued\n"
    write(os.path.join(a, "status"), "KILLED\n")
    assert wait_status(mnt, b) == "FINISHED"


TUNE = SPEC.replace("params: {n_estimators: 30, max_depth: 8, seed: 42}\n", "params: {seed: 42}\n") + """\
search_space:
  n_estimators: {choice: [10, 20]}
  max_depth: {choice: [5, 10, 15]}
  min_samples_split: {choice: [2, 5, 10]}
algo: tpe
max_evals: 12
parallelism: 2
metric: accuracy
"""


def test_tune_child_runs(mnt):
    make_churn(mnt)
    d = new_run(mnt, "search")
    write(os.path.join(d, "tune.yaml"), TUNE)
    assert wait_status(mnt, d) == "FINISHED"
    runs = sorted(os.listdir(mnt.p("experiments", "churn", "runs")))
    assert runs == ["search"] + ["search-%03d" % i for i in range(1, 13)]
    best_run = read(os.path.join(d, "tags", "best_run")).strip()
    assert read(os.path.join(d, "tags", "trials")) == "12\n"
    accs = {}
    for r in runs[1:]:
        rd = mnt.p("experiments", "churn", "runs", r)
        assert os.readlink(os.path.join(rd, "parent")) == "../search"
        assert read(os.path.join(rd, "status")) == "FINISHED\n"
        accs[r] = float(read(os.path.join(rd, "metrics", "accuracy")).split()[1])
    assert accs[best_run] == max(accs.values())
    best = float(read(os.path.join(d, "metrics", "best_accuracy")).split()[1])
    assert best == accs[best_run]
    for p in ("n_estimators", "max_depth", "min_samples_split"):
        assert read(os.path.join(d, "params", p)) == read(
            mnt.p("experiments", "churn", "runs", best_run, "params", p))
    assert read(os.path.join(d, "progress")) == "done\n"
    # runs.csv compares them side by side.
    csv = read(mnt.p("experiments", "churn", "runs.csv")).splitlines()
    assert len(csv) == 14 and "metrics.accuracy" in csv[0]


def test_tune_killed(mnt):
    make_churn(mnt)
    d = new_run(mnt, "s2")
    write(os.path.join(d, "tune.yaml"),
          TUNE.replace("max_evals: 12", "max_evals: 400").replace("[10, 20]", "[400, 500]"))
    deadline = time.time() + 30
    while not read(os.path.join(d, "progress")).startswith("trial "):
        assert time.time() < deadline
        time.sleep(0.05)
    write(os.path.join(d, "status"), "KILLED\n")
    assert wait_status(mnt, d) == "KILLED"
    deadline = time.time() + 10
    while read(os.path.join(d, "progress")) != "killed\n":
        assert time.time() < deadline, read(os.path.join(d, "progress"))
        time.sleep(0.05)
    trials = [r for r in os.listdir(mnt.p("experiments", "churn", "runs")) if r.startswith("s2-")]
    assert 0 < len(trials) < 400
    # Trials that were growing trees stop at the next tree and end KILLED.
    deadline = time.time() + 30
    for r in trials:
        while True:
            st = read(mnt.p("experiments", "churn", "runs", r, "status")).strip()
            if st != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.05)
        assert st in ("KILLED", "FINISHED"), (r, st)


def start_long_training(m, run):
    """Run RUN's training of 5000 deep trees and wait until it is fitting
    them; returns the run's directory."""
    make_churn(m)
    d = new_run(m, run)
    write(os.path.join(d, "train.yaml"),
          SPEC.replace("n_estimators: 30, max_depth: 8", "n_estimators: 5000, max_depth: 30"))
    deadline = time.time() + 30
    while not read(os.path.join(d, "progress")).startswith("tree "):
        assert time.time() < deadline
        time.sleep(0.05)
    return d


def test_kill9_during_training_reads_interrupted(tmp_path):
    (tmp_path / "mnt").mkdir()
    m = Mount(str(tmp_path / "store"), str(tmp_path / "mnt"), str(tmp_path / "err")).start()
    try:
        d = start_long_training(m, "crash")
        m.kill9()
        m.start()
        assert read(os.path.join(d, "status")) == "FAILED\n"
        assert read(os.path.join(d, "error")) == "interrupted: the daemon stopped\n"
        assert read(os.path.join(d, "progress")) == "failed\n"
    finally:
        m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()


def test_unmount_stops_training_as_killed(tmp_path):
    (tmp_path / "mnt").mkdir()
    m = Mount(str(tmp_path / "store"), str(tmp_path / "mnt"), str(tmp_path / "err")).start()
    try:
        d = start_long_training(m, "stopped")
        t0 = time.time()
        m.stop()                      # the unmount waits for the training to stop
        assert time.time() - t0 < 10
        m.start()
        assert read(os.path.join(d, "status")) == "KILLED\n"
        assert read(os.path.join(d, "progress")) == "killed\n"
    finally:
        m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()
