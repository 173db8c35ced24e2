"""The model registry through the mount: /models/M with register (write a
run's path, read the version), versions/N/ and their files, aliases as
symlinks made with ln -s, ln -sfn, mv and rm under MLflow's stage rule,
history.csv, lineage, train.yaml's register:, refusals with their errno
and /log line, 8 processes racing on Production, and everything as
acknowledged after kill -9."""
import errno
import os
import subprocess

import pytest

from conftest import check_argv, MLFS, Mount, SANITIZER

SPEC = """\
labels: lab
label: churn
features:
  - table: feat
    lookup_key: customer_id
exclude: [customer_id]
params: {n_estimators: 5, max_depth: 4, seed: 1}
"""


def write(path, text):
    """One write() and close(), as /bin/echo or a script does."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read(path):
    with open(path) as f:
        return f.read()


def sh(cmd, cwd, check=True):
    out = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out
    return out


def trained(m, run, spec=SPEC):
    """A FINISHED run of experiment e holding a model."""
    d = m.p("experiments", "e", "runs", run)
    os.mkdir(d)
    write(os.path.join(d, "train.yaml"), spec)
    out = subprocess.run(["timeout", "120", "cat", os.path.join(d, "wait")],
                         capture_output=True, text=True)
    assert out.stdout == "FINISHED\n", (out, m.log())
    return d


def setup_data(m, runs=("r1", "r2")):
    os.mkdir(m.p("features", "feat"))
    os.mkdir(m.p("tables", "lab"))
    os.mkdir(m.p("experiments", "e"))
    write(m.p("features", "feat", "data.csv"),
          "customer_id,f1,f2\n" + "".join("%d,%d,%d\n" % (i, i * 37 % 100, i % 7)
                                          for i in range(1, 201)))
    write(m.p("tables", "lab", "data.csv"),
          "customer_id,churn\n" + "".join("%d,%d\n" % (i, (i * 37 % 100) < 50)
                                          for i in range(1, 201)))
    for r in runs:
        trained(m, r)
    os.mkdir(m.p("models", "m"))


def register(m, model, run_path):
    """The shell way: echo the path into register, cat it back."""
    out = sh("echo %s > register && cat register" % run_path, m.p("models", model))
    return out.stdout


def test_register_and_version_files(mnt):
    setup_data(mnt)
    assert register(mnt, "m", "experiments/e/runs/r1") == "1\n"
    assert register(mnt, "m", "/experiments/e/runs/r2/") == "2\n"
    assert register(mnt, "m", mnt.p("experiments", "e", "runs", "r1")) == "3\n"
    # Same read-write handle: write the request, read the answer.
    fd = os.open(mnt.p("models", "m", "register"), os.O_RDWR)
    try:
        os.write(fd, b"experiments/e/runs/r2\n")
        assert os.read(fd, 100) == b"4\n"
        assert os.read(fd, 100) == b""
    finally:
        os.close(fd)
    # Another session (a new shell) does not see this session's answer.
    assert subprocess.run(["setsid", "cat", mnt.p("models", "m", "register")],
                          capture_output=True, text=True).stdout == ""

    v = mnt.p("models", "m", "versions")
    assert sorted(os.listdir(v), key=int) == ["1", "2", "3", "4"]
    assert os.readlink(mnt.p("models", "m", "latest")) == "versions/4"
    one = os.path.join(v, "1")
    assert sorted(os.listdir(one)) == sorted(
        ["aliases", "created", "description", "features.yaml", "metrics.csv", "model",
         "run", "score", "signature", "stage", "status", "tags"])
    assert os.readlink(os.path.join(one, "run")) == "../../../../experiments/e/runs/r1"
    assert os.path.samefile(os.path.join(one, "run"), mnt.p("experiments", "e", "runs", "r1"))
    run_model = mnt.p("experiments", "e", "runs", "r1", "model")
    for f in os.listdir(run_model):
        with open(os.path.join(run_model, f), "rb") as a, \
                open(os.path.join(one, "model", f), "rb") as b:
            assert a.read() == b.read(), f
    assert "model.forest" in os.listdir(os.path.join(one, "model"))
    acc = read(mnt.p("experiments", "e", "runs", "r1", "metrics", "accuracy")).split()[1]
    metrics = read(os.path.join(one, "metrics.csv")).splitlines()
    assert metrics[0] == "metric,value"
    assert "accuracy," + acc in metrics
    assert read(os.path.join(one, "features.yaml")) == read(os.path.join(run_model, "features.yaml"))
    assert read(os.path.join(one, "signature")) == read(os.path.join(run_model, "signature"))
    assert read(os.path.join(one, "status")) == "READY\n"
    assert read(os.path.join(one, "stage")) == "None\n"
    assert read(os.path.join(one, "aliases")) == ""
    created = read(os.path.join(one, "created"))
    assert len(created) == 25 and created[10] == "T" and created.endswith("Z\n")
    # Sizes are exact (wc -c, tail).
    assert os.path.getsize(os.path.join(one, "metrics.csv")) == len(read(os.path.join(one, "metrics.csv")))
    # The model files are read-only, in the version and in the run.
    for d in (os.path.join(one, "model"), run_model):
        with pytest.raises(OSError) as e:
            open(os.path.join(d, "model.forest"), "wb")
        assert e.value.errno == errno.EACCES


def test_describe_and_tag(mnt):
    setup_data(mnt, runs=("r1",))
    register(mnt, "m", "experiments/e/runs/r1")
    sh("echo 'Churn model' > description && echo team=growth > tags", mnt.p("models", "m"))
    sh("echo 'Random forest, 5 trees' > description && printf 'validated=yes\\n' > tags",
       mnt.p("models", "m", "versions", "1"))
    assert read(mnt.p("models", "m", "description")) == "Churn model\n"
    assert read(mnt.p("models", "m", "tags")) == "team=growth\n"
    assert read(mnt.p("models", "m", "versions", "1", "description")) == "Random forest, 5 trees\n"
    assert read(mnt.p("models", "m", "versions", "1", "tags")) == "validated=yes\n"
    with pytest.raises(OSError) as e:
        write(mnt.p("models", "m", "versions", "1", "tags"), "no equals sign\n")
    assert e.value.errno == errno.EINVAL
    assert read(mnt.p("models", "m", "versions", "1", "tags")) == "validated=yes\n"
    assert "/models/m/versions/1/tags: " in mnt.log()
    for f in ("stage", "metrics.csv", "created"):
        with pytest.raises(OSError) as e:
            write(mnt.p("models", "m", "versions", "1", f), "x\n")
        assert e.value.errno == errno.EACCES


@pytest.mark.parametrize("path,reason", [
    ("experiments/e/runs/running", "run e/running is RUNNING, not FINISHED"),
    ("experiments/e/runs/bare", "run e/bare holds no model/"),
    ("experiments/e/runs/nope", "no run e/nope"),
    ("/etc/passwd", "'/etc/passwd' is not a run"),
    ("tables/lab", "'tables/lab' is not a run"),
    ("experiments/e/runs/r1/../../runs/r1", "is not a run"),
    ("garbage", "'garbage' is not a run"),
    ("experiments/e/runs/r1\nexperiments/e/runs/r1", "write one run path"),
])
def test_register_refused(mnt, path, reason):
    setup_data(mnt, runs=("r1",))
    os.mkdir(mnt.p("experiments", "e", "runs", "running"))
    os.mkdir(mnt.p("experiments", "e", "runs", "bare"))
    write(mnt.p("experiments", "e", "runs", "bare", "status"), "FINISHED\n")
    out = sh("/bin/echo '%s' > register" % path, mnt.p("models", "m"), check=False)
    assert out.returncode != 0
    assert "Invalid argument" in out.stderr
    assert "/models/m/register: " in mnt.log() and reason in mnt.log(), mnt.log()
    assert os.listdir(mnt.p("models", "m", "versions")) == []
    # bash's builtin echo ignores the error, the registry too: nothing made.
    sh("echo '%s' > register" % path, mnt.p("models", "m"), check=False)
    assert os.listdir(mnt.p("models", "m", "versions")) == []
    assert "latest" not in os.listdir(mnt.p("models", "m"))


def stage(m, n):
    return read(m.p("models", "m", "versions", str(n), "stage")).strip()


def history(m):
    lines = read(m.p("models", "m", "history.csv")).splitlines()
    assert lines[0] == "time,alias,from,to,uid,by"
    assert all(l.endswith(",") for l in lines[1:])      # by: a user, not a job
    return [l.split(",")[1:-1] for l in lines[1:]]


def test_aliases_and_stage_rule(mnt):
    setup_data(mnt)
    register(mnt, "m", "experiments/e/runs/r1")
    register(mnt, "m", "experiments/e/runs/r2")
    d = mnt.p("models", "m")
    sh("ln -s versions/1 Staging", d)
    assert stage(mnt, 1) == "Staging"
    sh("ln -s versions/1 Production", d)
    assert stage(mnt, 1) == "Production"         # both: Production wins
    assert read(os.path.join(d, "versions", "1", "aliases")) == "Production\nStaging\n"
    sh("ln -sfn versions/2 Production", d)       # coreutils: temp link, rename
    assert os.readlink(os.path.join(d, "Production")) == "versions/2"
    assert stage(mnt, 2) == "Production"
    assert stage(mnt, 1) == "Staging"            # still Staging's
    sh("rm Staging", d)
    assert stage(mnt, 1) == "Archived"           # Production left it, nothing arrived
    sh("ln -s %s champion" % mnt.p("models", "m", "versions", "1"), d)   # absolute
    assert os.readlink(os.path.join(d, "champion")) == "versions/1"
    assert stage(mnt, 1) == "None"               # an alias arrived
    sh("mv champion Staging", d)
    assert stage(mnt, 1) == "Staging"
    assert sorted(n for n in os.listdir(d) if os.path.islink(os.path.join(d, n))) == \
        ["Production", "Staging", "latest"]
    # Following an alias reaches the version's files.
    assert read(os.path.join(d, "Production", "status")) == "READY\n"
    uid = str(os.getuid())
    assert history(mnt) == [
        ["Staging", "", "1", uid], ["Production", "", "1", uid],
        ["Production", "1", "2", uid], ["Staging", "1", "", uid],
        ["champion", "", "1", uid], ["champion", "1", "", uid], ["Staging", "", "1", uid]]
    assert os.path.getsize(os.path.join(d, "history.csv")) == len(read(os.path.join(d, "history.csv")))


@pytest.mark.parametrize("cmd,reason", [
    ("ln -s versions/99 Production", "model 'm' has no version '99'"),
    ("ln -sfn versions/99 Production", "model 'm' has no version '99'"),
    ("ln -s ../other/versions/1 Production", "is outside model 'm'"),
    ("ln -s /models/other/versions/1 Production", "is outside model 'm'"),
    ("ln -s versions/1/model Production", "an alias points at versions/N"),
    ("ln -s ../../tables/lab Production", "an alias points at versions/N"),
    ("ln -s /etc Production", "an alias points at versions/N"),
    ("ln -sfn versions/1 latest", "reserved name"),
    ("ln -sfn versions/1 history.csv", "reserved name"),
    ("ln -sfn versions/1 register", "reserved name"),
    ("ln -sfn versions/1 description", "reserved name"),
    ("ln -s versions/1 .hidden", "invalid alias"),
    ("ln -s versions/1 'a b'", "invalid alias"),
])
def test_alias_refused(mnt, cmd, reason):
    setup_data(mnt, runs=("r1",))
    register(mnt, "m", "experiments/e/runs/r1")
    os.mkdir(mnt.p("models", "other"))
    register(mnt, "other", "experiments/e/runs/r1")
    d = mnt.p("models", "m")
    before = sorted(os.listdir(d))
    out = sh(cmd, d, check=False)
    assert out.returncode != 0
    assert reason in mnt.log(), mnt.log()
    assert sorted(os.listdir(d)) == before
    assert history(mnt) == []


def test_rm_version_refused_behind_alias(mnt):
    setup_data(mnt)
    register(mnt, "m", "experiments/e/runs/r1")
    register(mnt, "m", "experiments/e/runs/r2")
    d = mnt.p("models", "m")
    sh("ln -s versions/1 Production", d)
    out = sh("rm -r versions/1", d, check=False)
    assert out.returncode != 0 and "Device or resource busy" in out.stderr
    assert "alias 'Production' points at version 1 of 'm'" in mnt.log()
    assert sorted(os.listdir(os.path.join(d, "versions", "1", "model"))) == \
        sorted(os.listdir(mnt.p("experiments", "e", "runs", "r1", "model")))
    assert read(os.path.join(d, "versions", "1", "status")) == "READY\n"
    sh("rm Production && rm -r versions/1 versions/2", d)
    assert os.listdir(os.path.join(d, "versions")) == []
    assert "latest" not in os.listdir(d)
    assert register(mnt, "m", "experiments/e/runs/r1") == "3\n"   # never reused


def test_version_outlives_its_run(mnt):
    setup_data(mnt, runs=("r1",))
    register(mnt, "m", "experiments/e/runs/r1")
    v = mnt.p("models", "m", "versions", "1")
    with open(os.path.join(v, "model", "model.forest"), "rb") as f:
        model = f.read()
    sh("rm -r experiments/e/runs/r1", mnt.path)
    assert not os.path.exists(os.path.join(v, "run"))     # dangling link
    with open(os.path.join(v, "model", "model.forest"), "rb") as f:
        assert f.read() == model
    assert "accuracy," in read(os.path.join(v, "metrics.csv"))
    # The same name is a new run: the version does not follow it.
    trained(mnt, "r1")
    assert register(mnt, "m", "experiments/e/runs/r1") == "2\n"
    out = subprocess.run(check_argv(mnt.store), capture_output=True, text=True)
    assert out.returncode == 0, out


def test_lineage_and_features_yaml(mnt):
    setup_data(mnt)
    register(mnt, "m", "experiments/e/runs/r1")
    register(mnt, "m", "experiments/e/runs/r2")
    assert read(mnt.p("features", "feat", "lineage")) == "m@1\nm@2\n"
    fy = read(mnt.p("models", "m", "versions", "1", "features.yaml"))
    assert 'table: "feat"' in fy and "version: " in fy and "updated: " in fy
    sh("rm -r models/m", mnt.path)
    assert "m" not in os.listdir(mnt.p("models"))
    assert read(mnt.p("features", "feat", "lineage")) == ""
    # The runs keep their models.
    assert "model.forest" in os.listdir(mnt.p("experiments", "e", "runs", "r1", "model"))


def test_train_yaml_register(mnt):
    setup_data(mnt, runs=())
    d = trained(mnt, "r1", SPEC + "register: churn_model\n")
    assert os.listdir(mnt.p("models", "churn_model", "versions")) == ["1"]
    assert read(os.path.join(d, "tags", "mlfs.registered_version")) == "churn_model@1\n"
    trained(mnt, "r2", SPEC + "register: churn_model\n")
    assert os.readlink(mnt.p("models", "churn_model", "latest")) == "versions/2"
    # A search registers its best trial.
    t = mnt.p("experiments", "e", "runs", "search")
    os.mkdir(t)
    write(os.path.join(t, "tune.yaml"), SPEC + "register: churn_model\nmax_evals: 2\n"
          "search_space: {max_depth: {randint: [2, 5]}}\nmetric: accuracy\n")
    out = subprocess.run(["timeout", "120", "cat", os.path.join(t, "wait")],
                         capture_output=True, text=True)
    assert out.stdout == "FINISHED\n", mnt.log()
    best = read(os.path.join(t, "tags", "best_run")).strip()
    assert os.readlink(mnt.p("models", "churn_model", "versions", "3", "run")) == \
        "../../../../experiments/e/runs/" + best


def test_concurrent_production_moves(mnt):
    setup_data(mnt)
    register(mnt, "m", "experiments/e/runs/r1")
    register(mnt, "m", "experiments/e/runs/r2")
    d = mnt.p("models", "m")
    procs = [subprocess.Popen(
        ["bash", "-c", "for i in $(seq 100); do ln -sfn versions/$(( (i + %d) %% 2 + 1 )) "
         "Production || exit 1; done" % k], cwd=d) for k in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    h = history(mnt)
    assert len(h) == 800
    prev = ""
    for alias, frm, to, uid in h:
        assert alias == "Production" and frm == prev
        prev = to
    assert os.readlink(os.path.join(d, "Production")) == "versions/" + prev
    # No temporary link is left behind.
    assert sorted(os.listdir(d)) == sorted(
        ["Production", "description", "history.csv", "latest", "register", "tags", "versions"])


def test_kill9_keeps_what_was_acknowledged(tmp_path):
    os.chmod(tmp_path, 0o755)
    path = str(tmp_path / "mnt")
    os.mkdir(path)
    m = Mount(str(tmp_path / "store"), path, str(tmp_path / "daemon.err")).start()
    try:
        setup_data(m)
        register(m, "m", "experiments/e/runs/r1")
        register(m, "m", "experiments/e/runs/r2")
        d = m.p("models", "m")
        sh("ln -s versions/1 Production && ln -s versions/2 Staging && "
           "ln -sfn versions/2 Production && mv Staging champion", d)
        before = (read(os.path.join(d, "history.csv")), stage(m, 1), stage(m, 2),
                  os.readlink(os.path.join(d, "Production")), sorted(os.listdir(d)))
        m.kill9()
        m.start()
        after = (read(os.path.join(d, "history.csv")), stage(m, 1), stage(m, 2),
                 os.readlink(os.path.join(d, "Production")), sorted(os.listdir(d)))
        assert after == before
        assert before[1:3] == ("Archived", "Production")
        assert register(m, "m", "experiments/e/runs/r1") == "3\n"
    finally:
        m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()
    out = subprocess.run(check_argv(m.store), capture_output=True, text=True)
    assert out.returncode == 0 and "0 problems" in out.stdout, out
