"""The elected scheduler's sweep of a dead host's leftovers while other
hosts live (docs/scale-out.md, "What a host's death loses"): mount A is
killed -9 in the middle of a big append it holds open; B and C never see
its staged rows, and once A's session is gone for the grace period (two
sweeps two TTLs apart) the leader among B and C removes them (a line in
/log) and `mlfs check` finds no stray object.  Meanwhile C holds a big
append of its own open across several sweeps and B appends on: nothing
of theirs is swept, every row lands.  A job run training on a host
killed -9 ends FAILED "interrupted" through the survivor's sweep.

The session TTL and the sweep's interval are shortened through the
environment (MLFS_SESSION_TTL, MLFS_SWEEP_S; docs/reference.md).

Run by tools/scaleout/test-mount, which starts etcd and Ceph and sets
MLFS_META and MLFS_BLOBS (and the AWS_* keys)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time


sys.path.insert(0, os.path.dirname(__file__))
from remote import BLOBS, META, host_mount, mlfs, needs_remote, stop_hosts, store_name  # noqa: E402
from test_models import read, write  # noqa: E402

pytestmark = needs_remote

TTL_S, SWEEP_S = 3, 2

# A writer that appends ROWS rows to PATH through one open file, says
# "staged" and waits to be killed: what a crash mid-append leaves.
WRITER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
n, base = int(sys.argv[2]), int(sys.argv[3])
for lo in range(0, n, 5000):
    os.write(fd, "".join("%d,%s\n" % (base + i, "x" * 40) for i in range(lo, min(n, lo + 5000))).encode())
print("staged", flush=True)
time.sleep(600)
"""


def rows_csv(base, n):
    return "".join("%d,%s\n" % (base + i, "x" * 40) for i in range(n))


def ids(text):
    return [ln.split(",")[0] for ln in text.splitlines()[1:]]


def swept_line(mounts, pid):
    """The /log line of the sweep that removed session ...PID's leftovers
    on any of MOUNTS, or None."""
    pat = re.compile(r"swept what dead sessions left \((?:[^)]*, )?[^ ,()]*\.%d[,)].*" % pid)
    for m in mounts:
        found = pat.search(m.log())
        if found:
            return found.group(0)
    return None


def test_dead_host_leftovers_swept_live_ones_kept(monkeypatch):
    monkeypatch.setenv("MLFS_SESSION_TTL", str(TTL_S))
    monkeypatch.setenv("MLFS_SWEEP_S", str(SWEEP_S))
    name = store_name("dsw")
    with tempfile.TemporaryDirectory(prefix="mlfs-dsw-") as tmp:
        os.chmod(tmp, 0o755)
        ms = {}
        for h in "abc":
            ms[h] = host_mount(tmp, h, name)
        writer, held = None, None
        try:
            a = ms["a"].start()	# first: it leads the scheduler role
            for t in "xyz":
                os.mkdir(a.p("tables", t))
                write(a.p("tables", t, "data.csv"), "id,pad\n")
            b, c = ms["b"].start(), ms["c"].start()
            # A: a big append held open, staged, then A dies
            writer = subprocess.Popen([sys.executable, "-c", WRITER, a.p("tables", "x", "data.csv"),
                                       "60000", "0"], stdout=subprocess.PIPE, text=True)
            assert writer.stdout.readline() == "staged\n"
            time.sleep(1)	# the stager's last chunk
            a_pid = a.proc.pid
            a.kill9()
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            assert read(b.p("tables", "x", "data.csv")) == "id,pad\n"	# no partial rows

            # C: a big append of its own held open across the sweeps
            held = os.open(c.p("tables", "y", "data.csv"), os.O_WRONLY | os.O_APPEND)
            os.write(held, rows_csv(0, 30000).encode())
            # B: small appends, each committed, all along
            stop, appended, failed = threading.Event(), [], []

            def appender():
                i = 0
                while not stop.is_set():
                    try:
                        with open(b.p("tables", "z", "data.csv"), "a") as f:
                            f.write("%d,b\n" % i)
                        appended.append(str(i))
                    except OSError as e:
                        failed.append(e)
                    i += 1
                    time.sleep(0.1)

            t = threading.Thread(target=appender)
            t.start()
            try:
                end = time.monotonic() + 60
                line = None
                while line is None and time.monotonic() < end:
                    time.sleep(0.5)
                    line = swept_line((b, c), a_pid)
                assert line, "no sweep in /log of B or C:\n" + b.log() + c.log()
                assert ": 1 staged table writes" in line, line
                time.sleep(3 * SWEEP_S)	# more sweeps while C's append is open
            finally:
                stop.set()
                t.join()
            os.write(held, rows_csv(30000, 100).encode())
            os.close(held)
            held = None

            assert not failed, failed
            assert ids(read(b.p("tables", "z", "data.csv"))) == appended
            assert ids(read(b.p("tables", "y", "data.csv"))) == [str(i) for i in range(30100)]
            assert read(c.p("tables", "x", "data.csv")) == "id,pad\n"
            r = mlfs("check", "--meta", META, "--blobs", BLOBS, name)
            assert r.returncode == 0 and r.stdout.endswith(" 0 problems\n"), r.stdout + r.stderr
            for m in (b, c):
                assert not [ln for ln in m.log().splitlines() if "sweeping" in ln], m.log()
        finally:
            if writer and writer.poll() is None:
                writer.kill()
                writer.wait()
            if held is not None:
                os.close(held)
            for m in ms.values():
                print(m.stderr())	# shown when the test fails
            stop_hosts(ms.values())
        # alone with the store now: a check of a fresh replica finds nothing left
        r = mlfs("check", "--meta", META, "--blobs", BLOBS, "--cache", os.path.join(tmp, "check"),
                 name)
        assert r.returncode == 0 and r.stdout.endswith(" 0 problems\n"), r.stdout + r.stderr


def test_dead_host_job_run_failed(monkeypatch):
    """A job run RUNNING on A (a long training) when A is killed -9 ends
    FAILED "interrupted" through B's sweep while B lives on, as a lone
    mount's recovery would end it, and so does the experiment run its
    task was training; a new run then runs on B."""
    from test_jobs import big_world, put_job, slow_spec, start, status, tasks, training_started, wait_run
    monkeypatch.setenv("MLFS_SESSION_TTL", str(TTL_S))
    monkeypatch.setenv("MLFS_SWEEP_S", str(SWEEP_S))
    name = store_name("dsj")
    with tempfile.TemporaryDirectory(prefix="mlfs-dsj-") as tmp:
        os.chmod(tmp, 0o755)
        ms = {h: host_mount(tmp, h, name) for h in "ab"}
        try:
            a = ms["a"].start()	# first: it leads the scheduler role
            b = ms["b"].start()
            big_world(a)
            put_job(a, "crash", "tasks:\n  - {name: t, experiment: e, spec: slow.yaml}\n",
                    files=[("slow.yaml", slow_spec(20000))])
            rid = start(a, "crash")
            training_started(a, a.p("experiments", "e", "runs", "crash-%s-t" % rid))
            a_pid = a.proc.pid
            a.kill9()
            end = time.monotonic() + 60
            while status(b, "crash", rid) == "RUNNING" and time.monotonic() < end:
                time.sleep(0.5)
            assert status(b, "crash", rid) == "FAILED", b.log()
            ts = tasks(b, "crash", rid)
            assert ts["t"]["status"] == "FAILED" and "interrupted" in ts["t"]["error"], ts
            line = swept_line((b,), a_pid)
            assert line and line.endswith(" 1 job runs interrupted, 1 trainings interrupted"), b.log()
            trained = b.p("experiments", "e", "runs", "crash-%s-t" % rid)
            with open(os.path.join(trained, "status")) as f:
                assert f.read().strip() == "FAILED"
            with open(os.path.join(trained, "error")) as f:
                assert f.read() == "interrupted: the daemon stopped\n"
            put_job(b, "crash", "tasks:\n  - {name: t, experiment: e, spec: slow.yaml}\n",
                    files=[("slow.yaml", slow_spec(3))])
            again = start(b, "crash")
            assert wait_run(b, "crash", again, timeout=120) == "FINISHED"
            assert status(b, "crash", rid) == "FAILED"
        finally:
            for m in ms.values():
                print(m.stderr())	# shown when the test fails
            stop_hosts(ms.values())
