"""/experiments through a real mount: runs, params, metrics, tags,
artifacts, status, wait, parent links, runs.csv, deletion."""
import collections
import csv
import errno
import hashlib
import io
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from test_tables import LOG_LINE, expect_errno, last_log, put, read, sh


@pytest.fixture
def exp(mnt):
    os.mkdir(mnt.p("experiments", "churn"))
    os.mkdir(mnt.p("experiments", "churn", "runs", "r1"))
    mnt.run = lambda *parts: mnt.p("experiments", "churn", "runs", "r1", *parts)
    return mnt


def runs_csv(m):
    return list(csv.DictReader(io.StringIO(read(m.p("experiments", "churn", "runs.csv")).decode())))


def test_experiment_and_run_layout(exp):
    m = exp
    assert sorted(os.listdir(m.p("experiments", "churn"))) == ["description", "runs", "runs.csv", "tags"]
    assert sorted(os.listdir(m.run())) == ["artifacts", "end_time", "error", "metrics", "params",
                                           "progress", "start_time", "status", "tags",
                                           "train.yaml", "tune.yaml", "wait"]
    assert read(m.run("status")) == b"RUNNING\n"
    assert read(m.run("end_time")) == b""
    start = read(m.run("start_time")).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n", start)
    put(m.p("experiments", "churn", "description"), "churn model, seed project\n")
    assert read(m.p("experiments", "churn", "description")) == b"churn model, seed project\n"
    put(m.p("experiments", "churn", "tags"), "team=growth\nstage=dev\n")
    assert read(m.p("experiments", "churn", "tags")) == b"team=growth\nstage=dev\n"
    expect_errno(errno.EINVAL, put, m.p("experiments", "churn", "tags"), "no equals sign\n")
    assert "expected key=value" in last_log(m)[1]
    assert read(m.p("experiments", "churn", "tags")) == b"team=growth\nstage=dev\n"


def test_params_are_written_once(exp):
    m = exp
    assert sh(f"echo 0.1 > {m.run('params', 'lr')}").returncode == 0
    assert read(m.run("params", "lr")) == b"0.1\n"
    assert sh(f"echo 0.1 > {m.run('params', 'lr')}").returncode == 0   # same value: fine
    expect_errno(errno.EINVAL, put, m.run("params", "lr"), "0.2\n")
    path, msg = last_log(m)
    assert path.endswith("/runs/r1/params/lr")
    assert "'0.1'" in msg and "'0.2'" in msg
    assert read(m.run("params", "lr")) == b"0.1\n"
    assert os.listdir(m.run("params")) == ["lr"]
    put(m.run("params", "max_depth"), "x" * 6000)
    expect_errno(errno.EFBIG, put, m.run("params", "long"), "x" * 6001)
    assert "at most 6000" in last_log(m)[1]
    expect_errno(errno.EFBIG, put, m.run("params", "huge"), b"x" * (100 << 20))
    assert sorted(os.listdir(m.run("params"))) == ["lr", "max_depth"]


def test_bad_keys(exp):
    m = exp
    for bad in ("a\x01b", ".hidden", "x" * 129):
        expect_errno(errno.EINVAL, os.open, m.run("metrics", bad), os.O_WRONLY | os.O_CREAT)
        assert last_log(m) == (f"/experiments/churn/runs/r1/metrics/{bad}",
                               f"invalid key '{bad}': use 1-128 of [A-Za-z0-9._-], not starting with '.'")
    assert os.listdir(m.run("metrics")) == []
    expect_errno(errno.EINVAL, os.mkdir, m.p("experiments", "churn", "runs", "a\nb"))


def test_metric_lines_and_format(exp):
    m = exp
    f = m.run("metrics", "loss")
    put(f, "0.5\n", append=True)                      # VALUE
    put(f, "0.25 1\n", append=True)                   # VALUE STEP
    put(f, "1700000000000 0.125 2\n", append=True)    # TIMESTAMP_MS VALUE STEP
    put(f, "NaN 3\ninf 4\n-Infinity 5\n", append=True)
    lines = read(f).decode().splitlines()
    assert len(lines) == 6
    now = time.time() * 1000
    ts, v, step = lines[0].split()
    assert abs(int(ts) - now) < 60000 and v == "0.5" and step == "0"
    assert lines[1].split()[1:] == ["0.25", "1"]
    assert lines[2] == "1700000000000 0.125 2"
    assert [l.split()[1] for l in lines[3:]] == ["nan", "inf", "-inf"]
    assert os.stat(f).st_size == len(read(f))
    assert sh(f"wc -l < {f}").stdout.strip() == "6"


def test_bad_metric_write_logs_nothing(exp):
    m = exp
    f = m.run("metrics", "acc")
    put(f, "0.9 1\n", append=True)
    before = read(f)
    for bad, reason in (("0.91 2\nabc 3\n0.93 4\n", "line 2: 'abc' is not a number"),
                        ("0.5 1.5\n", "line 1: step '1.5' is not an integer"),
                        ("-5 0.5 1\n", "line 1: timestamp '-5' is not a non-negative integer (ms)"),
                        ("1 2 3 4\n", "line 1: expected VALUE, VALUE STEP or TIMESTAMP_MS VALUE STEP"),
                        ("true\n", "line 1: 'true' is not a number")):
        expect_errno(errno.EINVAL, put, f, bad, True)
        assert last_log(m) == ("/experiments/churn/runs/r1/metrics/acc", reason)
        assert read(f) == before
    # A failed first write to a new metric leaves no metric behind.
    expect_errno(errno.EINVAL, put, m.run("metrics", "new"), "x\n")
    assert os.listdir(m.run("metrics")) == ["acc"]


def metric_steps(path):
    return [tuple(l.split()[1:]) for l in read(path).decode().splitlines()]


def test_metric_writer_after_its_run_is_removed(exp):
    """A point after another process removed the run and made it again
    starts the new run's series (the daemon's memo of the last metric
    logged is not used across the change); an open writer's next point
    after its run was removed is ENOENT."""
    m = exp
    f = m.run("metrics", "loss")
    put(f, "0.5 1\n0.4 2\n", append=True)
    assert sh(f"rm -r {m.run()} && mkdir {m.run()} && echo '0.9 7' >> {f}").returncode == 0
    put(f, "0.2 8\n", append=True)
    assert metric_steps(f) == [("0.9", "7"), ("0.2", "8")]
    assert os.stat(f).st_size == len(read(f))
    assert runs_csv(m)[0]["metrics.loss"] == "0.2"
    fd = os.open(f, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"0.1 9\n")
        assert sh(f"rm -r {m.run()}").returncode == 0
        expect_errno(errno.ENOENT, os.write, fd, b"0.3 10\n")
    finally:
        os.close(fd)
    assert runs_csv(m) == []


def test_metric_writers_interleaved(exp):
    """Points of one metric from an open writer and from other processes,
    and of another metric of the run, in turn: every point in order, the
    summary (size) and the run's latest values right after each."""
    m = exp
    f, g = m.run("metrics", "loss"), m.run("metrics", "acc")
    fd = os.open(f, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        want = []
        for i in range(6):
            os.write(fd, f"0.{i} {2 * i}\n".encode())
            assert sh(f"echo '1.{i} {2 * i + 1}' >> {f}; echo '0.{i}5 {i}' >> {g}").returncode == 0
            want += [(f"0.{i}", str(2 * i)), (f"1.{i}", str(2 * i + 1))]
            assert metric_steps(f) == want
            assert os.stat(f).st_size == len(read(f))
            row = runs_csv(m)[0]
            assert (row["metrics.loss"], row["metrics.acc"]) == (f"1.{i}", f"0.{i}5")
        os.write(fd, b"0.75 99\n")
    finally:
        os.close(fd)
    assert metric_steps(f)[-1] == ("0.75", "99")
    assert metric_steps(g) == [(f"0.{i}5", str(i)) for i in range(6)]
    assert runs_csv(m)[0]["metrics.loss"] == "0.75"


def test_latest_metric_by_step_in_runs_csv(exp):
    m = exp
    f = m.run("metrics", "loss")
    put(f, "100 0.9 5\n200 0.8 3\n300 0.7 5\n", append=True)
    put(m.run("params", "lr"), "0.1\n")
    os.mkdir(m.p("experiments", "churn", "runs", "r2"))
    put(m.p("experiments", "churn", "runs", "r2", "metrics", "acc"), "0.75\n", append=True)
    rows = runs_csv(m)
    assert [r["run"] for r in rows] == ["r1", "r2"]
    assert rows[0]["metrics.loss"] == "0.7" and rows[0]["params.lr"] == "0.1"
    assert rows[0]["metrics.acc"] == "" and rows[1]["metrics.acc"] == "0.75"
    assert list(rows[0].keys())[:6] == ["run", "status", "start_time", "end_time", "duration_s", "parent"]
    # The best run by accuracy, with sort: r2 (r1 has none, which sort -g puts first).
    assert list(rows[0].keys()).index("metrics.acc") == 7
    out = sh(f"tail -n +2 {m.p('experiments', 'churn', 'runs.csv')} | sort -t, -k8 -gr | head -1 | cut -d, -f1")
    assert out.stdout == "r2\n"


def test_status_end_time_and_wait(exp):
    m = exp
    expect_errno(errno.EINVAL, put, m.run("status"), "DONE\n")
    assert "FINISHED, FAILED or KILLED" in last_log(m)[1]
    expect_errno(errno.EINVAL, put, m.run("status"), "RUNNING\n")
    waiter = subprocess.Popen(["cat", m.run("wait")], stdout=subprocess.PIPE)
    time.sleep(0.3)
    assert waiter.poll() is None                      # still blocked
    t0 = time.time()
    put(m.run("status"), "FINISHED\n")
    out, _ = waiter.communicate(timeout=10)
    assert out == b"FINISHED\n"
    assert time.time() - t0 < 5                       # generous: woken, not timed out
    assert read(m.run("status")) == b"FINISHED\n"
    assert read(m.run("end_time")).decode().endswith("Z\n")
    assert read(m.run("wait")) == b"FINISHED\n"       # no longer blocks
    row = runs_csv(m)[0]
    assert row["status"] == "FINISHED" and float(row["duration_s"]) >= 0


def test_interrupted_wait_returns_at_once(exp):
    m = exp
    waiter = subprocess.Popen(["cat", m.run("wait")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    waiter.send_signal(signal.SIGINT)
    waiter.wait(timeout=5)
    assert waiter.returncode != 0
    # Many blocked readers do not hold FUSE workers: the mount still answers.
    waiters = [subprocess.Popen(["cat", m.run("wait")], stdout=subprocess.PIPE) for _ in range(30)]
    time.sleep(0.3)
    assert read(m.run("status")) == b"RUNNING\n"
    put(m.run("status"), "KILLED\n")
    for w in waiters:
        assert w.communicate(timeout=10)[0] == b"KILLED\n"


def test_parent_links(exp):
    m = exp
    runs = m.p("experiments", "churn", "runs")
    os.mkdir(os.path.join(runs, "child"))
    os.mkdir(os.path.join(runs, "grandchild"))
    assert sh(f"cd {runs} && ln -s ../r1 child/parent && ln -s ../child grandchild/parent").returncode == 0
    assert os.readlink(os.path.join(runs, "child", "parent")) == "../r1"
    assert read(os.path.join(runs, "child", "parent", "status")) == b"RUNNING\n"
    expect_errno(errno.EINVAL, os.symlink, "../grandchild", m.run("parent"))
    assert "cycle" in last_log(m)[1]
    expect_errno(errno.EINVAL, os.symlink, "../nope", m.run("parent"))
    expect_errno(errno.EINVAL, os.symlink, "../../../other/runs/x", m.run("parent"))
    assert not os.path.lexists(m.run("parent"))
    rows = {r["run"]: r for r in runs_csv(m)}
    assert rows["child"]["parent"] == "r1" and rows["grandchild"]["parent"] == "child"
    os.unlink(os.path.join(runs, "grandchild", "parent"))
    assert not os.path.lexists(os.path.join(runs, "grandchild", "parent"))


def test_run_deletion_keeps_children(exp):
    m = exp
    runs = m.p("experiments", "churn", "runs")
    os.mkdir(os.path.join(runs, "trial1"))
    os.symlink("../r1", os.path.join(runs, "trial1", "parent"))
    put(m.run("params", "lr"), "0.1")
    put(m.run("metrics", "loss"), "1\n2\n", append=True)
    os.makedirs(m.run("artifacts", "model"))
    put_blob(m.run("artifacts", "model", "m.bin"), b"\0" * 1000)
    assert sh(f"rm -r {m.run()}").returncode == 0
    assert os.listdir(runs) == ["trial1"]
    assert runs_csv(m)[0]["parent"] == "(deleted)"
    # A new run of the same name starts empty.
    os.mkdir(m.run())
    assert os.listdir(m.run("params")) == [] and os.listdir(m.run("artifacts")) == []
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p("experiments", "churn"))
    assert sh(f"rm -r {m.p('experiments', 'churn')}").returncode == 0
    assert os.listdir(m.p("experiments")) == []


def put_blob(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_artifacts_behave_like_a_directory(exp, tmp_path):
    m = exp
    a = m.run("artifacts")
    os.makedirs(os.path.join(a, "model", "sub"))
    put_blob(os.path.join(a, "model", "a.txt"), b"hello\n")
    with open(os.path.join(a, "model", "a.txt"), "r+b") as f:     # write in the middle
        f.seek(1)
        f.write(b"ELL")
    assert read(os.path.join(a, "model", "a.txt")) == b"hELLo\n"
    with open(os.path.join(a, "sparse"), "wb") as f:             # a hole reads as zeros
        f.seek(300000)
        f.write(b"end")
    assert read(os.path.join(a, "sparse")) == b"\0" * 300000 + b"end"
    os.truncate(os.path.join(a, "sparse"), 10)
    assert read(os.path.join(a, "sparse")) == b"\0" * 10
    os.rename(os.path.join(a, "model", "a.txt"), os.path.join(a, "b.txt"))
    assert sorted(os.listdir(a)) == ["b.txt", "model", "sparse"]
    assert sh(f"mv -n {a}/sparse {a}/b.txt").returncode == 0        # RENAME_NOREPLACE keeps b.txt
    assert read(os.path.join(a, "b.txt")) == b"hELLo\n"
    expect_errno(errno.ENOTEMPTY, os.rmdir, os.path.join(a, "model"))
    expect_errno(errno.EINVAL, os.rename, os.path.join(a, "model"), os.path.join(a, "model", "sub", "x"))
    os.chmod(os.path.join(a, "b.txt"), 0o600)
    assert os.stat(os.path.join(a, "b.txt")).st_mode & 0o777 == 0o600
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 << 20))
    assert sh(f"cp -r {tmp_path} {a}/copied").returncode == 0
    assert read(os.path.join(a, "copied", "src.bin")) == src.read_bytes()
    assert sh(f"rm -r {a}/model {a}/copied").returncode == 0
    assert sorted(os.listdir(a)) == ["b.txt", "sparse"]


def test_big_artifact_streams(exp):
    """256 MB in and out through cp/cat, content checked by hash."""
    m = exp
    size = 256 << 20
    block = hashlib.sha256(b"seed").digest() * (1 << 15)          # 1 MiB
    h = hashlib.sha256()
    with open(m.run("artifacts", "big.bin"), "wb") as f:
        for i in range(size // len(block)):
            chunk = block[i % 32:] + block[:i % 32]
            h.update(chunk)
            f.write(chunk)
    assert os.stat(m.run("artifacts", "big.bin")).st_size == size
    h2 = hashlib.sha256()
    with open(m.run("artifacts", "big.bin"), "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h2.update(b)
    assert h.hexdigest() == h2.hexdigest()


def test_concurrent_writers_lose_nothing(exp):
    m = exp
    f = m.run("metrics", "loss")
    procs = []
    for w in range(8):
        script = f"for i in $(seq 1 200); do echo \"$i.{w} $i\" >> {f}; done"
        procs.append(subprocess.Popen(["bash", "-c", script]))
    batch = "".join(f"{i}.9 {i}\n" for i in range(1000))
    threads = [threading.Thread(target=put, args=(m.run("metrics", "acc"), batch, True)) for _ in range(4)]
    for t in threads:
        t.start()
    assert all(p.wait() == 0 for p in procs)
    for t in threads:
        t.join()
    # Every writer's own points, each once: writer w logged "i.w i" for i in 1..200.
    points = collections.Counter()
    for line in read(f).decode().splitlines():
        assert re.fullmatch(r"\d+ \d+\.\d \d+", line), line
        _, value, step = line.split()
        i, w = value.split(".")
        assert i == step, line
        points[int(w), int(i)] += 1
    assert points == collections.Counter({(w, i): 1 for w in range(8) for i in range(1, 201)})
    # The four batches: every point four times.
    acc = collections.Counter(tuple(l.split()[1:]) for l in read(m.run("metrics", "acc")).decode().splitlines())
    assert acc == collections.Counter({(f"{i}.9", str(i)): 4 for i in range(1000)})


def test_other_user_owns_their_run(exp):
    m = exp
    r = sh(f"setpriv --reuid=4321 --regid=4321 --clear-groups mkdir {m.p('experiments', 'churn', 'runs', 'theirs')}")
    assert r.returncode == 0, r.stderr
    st = os.stat(m.p("experiments", "churn", "runs", "theirs"))
    assert (st.st_uid, st.st_gid) == (4321, 4321)
    assert os.stat(m.p("experiments", "churn", "runs", "theirs", "status")).st_uid == 4321
    # Another user may not write into root's run, and nothing is written.
    assert errno_as(4322, f"os.open({m.run('params', 'x')!r}, os.O_WRONLY | os.O_CREAT)") == errno.EACCES
    assert errno_as(4322, f"os.open({m.run('metrics', 'loss')!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)") \
        == errno.EACCES
    assert os.listdir(m.run("params")) == [] and os.listdir(m.run("metrics")) == []
    assert [(r["run"], r.get("params.x"), r.get("metrics.loss")) for r in runs_csv(m)] == \
        [("r1", None, None), ("theirs", None, None)]
    # runs/ is sticky, like /tmp: others may not remove someone's run.
    assert errno_as(4322, f"os.rmdir({m.p('experiments', 'churn', 'runs', 'theirs')!r})") == errno.EPERM
    assert os.path.isdir(m.p("experiments", "churn", "runs", "theirs"))
    assert read(m.p("experiments", "churn", "runs", "theirs", "status")) == b"RUNNING\n"
    # The owner may write into their own run.
    assert errno_as(4321, f"os.close(os.open({m.p('experiments', 'churn', 'runs', 'theirs', 'params', 'x')!r}, "
                          "os.O_WRONLY | os.O_CREAT))") == 0


def errno_as(uid, statement):
    """Run the Python STATEMENT as user and group UID; its errno, 0 if none."""
    code = f"import os\ntry:\n    {statement}\n    print(0)\nexcept OSError as e:\n    print(e.errno)\n"
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                        "/usr/bin/python3", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_ln_sfn_moves_the_parent(exp):
    """ln -sfn makes the link under a temporary name, then renames it."""
    m = exp
    runs = m.p("experiments", "churn", "runs")
    for r in ("a", "b"):
        os.mkdir(os.path.join(runs, r))
    assert sh(f"cd {runs} && ln -s ../a r1/parent && ln -sfn ../b r1/parent").returncode == 0
    assert os.readlink(m.run("parent")) == "../b"
    assert sorted(os.listdir(m.run())) == sorted(["artifacts", "end_time", "error", "metrics",
                                                  "params", "parent", "progress", "start_time",
                                                  "status", "tags", "train.yaml", "tune.yaml",
                                                  "wait"])
    r = sh(f"cd {runs} && ln -sfn ../r1 b/parent")            # b -> r1 -> b: a cycle
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert last_log(m)[1] == "'r1' as parent of 'b' makes a cycle"
    assert not os.path.lexists(os.path.join(runs, "b", "parent"))
    assert runs_csv(m)[2]["parent"] == "b"
