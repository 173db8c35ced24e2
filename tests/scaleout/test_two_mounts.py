"""Two mounts on one machine sharing one etcd and one S3 bucket (the
remote backend, docs/scale-out.md), as two hosts would: what A writes
(a table append, a metric point, an alias move, a traffic change) B
reads at once; A and B appending to one table at the same time lose
nothing; kill -9 of A loses nothing it acknowledged.

Run by tools/scaleout/test-mount, which starts etcd and Ceph and sets
MLFS_META and MLFS_BLOBS (and the AWS_* keys)."""
import contextlib
import errno
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from remote import host_mount, needs_remote, stop_hosts, store_name  # noqa: E402
from test_models import SPEC, read, setup_data, trained, write  # noqa: E402

pytestmark = needs_remote


@contextlib.contextmanager
def two_hosts(opts_a=("allow_other",), opts_b=("allow_other",)):
    """Mounts A and B (mount options OPTS_A, OPTS_B) of one fresh store,
    each with its own replica."""
    name = store_name("two")
    with tempfile.TemporaryDirectory(prefix="mlfs-two-") as tmp:
        os.chmod(tmp, 0o755)
        ms = [host_mount(tmp, h, name, opts) for h, opts in (("a", opts_a), ("b", opts_b))]
        try:
            for m in ms:
                m.start()
            yield ms
        finally:
            stop_hosts(ms)


@pytest.fixture
def hosts():
    with two_hosts() as ms:
        yield ms


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def test_table_append_seen_at_once(hosts):
    a, b = hosts
    os.mkdir(a.p("tables", "t"))
    write(a.p("tables", "t", "data.csv"), "id,v\n1,x\n")
    assert read(b.p("tables", "t", "data.csv")) == "id,v\n1,x\n"
    append(a.p("tables", "t", "data.csv"), "2,y\n")
    assert read(b.p("tables", "t", "data.csv")) == "id,v\n1,x\n2,y\n"
    # and back: B's append, A's cat
    append(b.p("tables", "t", "data.csv"), "3,z\n")
    assert read(a.p("tables", "t", "data.csv")).endswith("2,y\n3,z\n")


def test_metric_point_seen_at_once(hosts):
    a, b = hosts
    os.makedirs(a.p("experiments", "e", "runs", "r"))
    append(a.p("experiments", "e", "runs", "r", "metrics", "loss"), "0.5 1\n")
    assert read(b.p("experiments", "e", "runs", "r", "metrics", "loss")).split()[1:] == ["0.5", "1"]
    append(a.p("experiments", "e", "runs", "r", "metrics", "loss"), "0.25 2\n")
    lines = read(b.p("experiments", "e", "runs", "r", "metrics", "loss")).splitlines()
    assert [ln.split()[1:] for ln in lines] == [["0.5", "1"], ["0.25", "2"]]


def test_alias_and_traffic_seen_at_once(hosts):
    a, b = hosts
    setup_data(a, runs=())
    trained(a, "r1", SPEC + "register: m\n")
    trained(a, "r2", SPEC.replace("seed: 1", "seed: 2") + "register: m\n")
    subprocess.run(["ln", "-sfn", "versions/1", a.p("models", "m", "Production")], check=True)
    assert os.readlink(b.p("models", "m", "Production")) == "versions/1"
    subprocess.run(["ln", "-sfn", "versions/2", a.p("models", "m", "Production")], check=True)
    assert os.readlink(b.p("models", "m", "Production")) == "versions/2"
    assert read(b.p("models", "m", "versions", "1", "stage")).strip() == "Archived"
    os.mkdir(a.p("endpoints", "ep"))
    write(a.p("endpoints", "ep", "traffic"), "m@Production 100\n")
    assert "m@Production 100" in read(b.p("endpoints", "ep", "traffic"))
    write(a.p("endpoints", "ep", "traffic"), "m@1 100\n")
    assert "m@1 100" in read(b.p("endpoints", "ep", "traffic"))


def test_concurrent_appends_lose_nothing(hosts):
    a, b = hosts
    os.mkdir(a.p("tables", "t"))
    write(a.p("tables", "t", "data.csv"), "id,host\n")
    failed = []

    def appender(m, host, base):
        for i in range(25):
            try:
                append(m.p("tables", "t", "data.csv"), "%d,%s\n" % (base + i, host))
            except OSError as e:  # a clear error, and then nothing landed
                failed.append((base + i, e.errno))

    ts = [threading.Thread(target=appender, args=(a, "a", 1000)),
          threading.Thread(target=appender, args=(b, "b", 2000))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    want = {str(n) for n in list(range(1000, 1025)) + list(range(2000, 2025))}
    want -= {str(n) for n, _ in failed}
    for m in (a, b):
        rows = read(m.p("tables", "t", "data.csv")).splitlines()[1:]
        ids = [r.split(",")[0] for r in rows]
        assert len(ids) == len(set(ids)), "a row twice"
        assert set(ids) == want, (sorted(set(ids) ^ want), failed)
    # Conflicts are retried (table.c, 5 times) before EAGAIN; how many run
    # out depends on the machine's load, but each host's rows do land.
    for host, base in (("a", 1000), ("b", 2000)):
        assert any(str(n) in want for n in range(base, base + 25)), (host, failed)
    assert {e for _, e in failed} <= {errno.EAGAIN}, failed


def test_kill9_loses_nothing_acknowledged(hosts):
    a, b = hosts
    os.mkdir(a.p("tables", "t"))
    write(a.p("tables", "t", "data.csv"), "id\n")
    for i in range(20):
        append(a.p("tables", "t", "data.csv"), "%d\n" % i)
    a.kill9()
    want = "id\n" + "".join("%d\n" % i for i in range(20))
    assert read(b.p("tables", "t", "data.csv")) == want
    a.start()
    assert read(a.p("tables", "t", "data.csv")) == want
    append(a.p("tables", "t", "data.csv"), "20\n")
    assert read(b.p("tables", "t", "data.csv")) == want + "20\n"


def test_mode_and_owner_seen_at_once(hosts):
    """B caches owners and modes (attrs.c) and the kernel caches B's
    attributes: A's chmod and chown reach both through B's watch, without
    any open on B (the bound is a liveness bound, not a speed check)."""
    a, b = hosts
    os.mkdir(a.p("tables", "m"))
    write(a.p("tables", "m", "data.csv"), "id\n1\n")
    path_b = b.p("tables", "m", "data.csv")
    assert read(path_b) == "id\n1\n"	# an open catches B up (close-to-open)
    assert os.stat(path_b).st_mode & 0o777 != 0o600
    os.chmod(a.p("tables", "m", "data.csv"), 0o600)
    eventually(lambda: os.stat(path_b).st_mode & 0o777 == 0o600)
    os.chown(a.p("tables", "m", "data.csv"), 4321, 4321)
    eventually(lambda: (os.stat(path_b).st_uid, os.stat(path_b).st_gid) == (4321, 4321))


def test_names_seen_at_once(hosts):
    """A table B looked up (and the kernel cached, or cached as absent)
    changes on A: B sees the new name and the removed one."""
    a, b = hosts
    with pytest.raises(FileNotFoundError):
        os.stat(b.p("tables", "late"))
    os.mkdir(a.p("tables", "late"))
    eventually(lambda: os.path.isdir(b.p("tables", "late")))
    assert "late" in os.listdir(b.p("tables"))
    os.rmdir(a.p("tables", "late"))
    eventually(lambda: not os.path.exists(b.p("tables", "late")))
    assert "late" not in os.listdir(b.p("tables"))


def test_replaced_table_seen_at_once(hosts):
    """B read a table (its node cached by B's inode); A drops it and makes
    a new one under the same name: B's next cat reads the new table."""
    a, b = hosts
    os.mkdir(a.p("tables", "r"))
    write(a.p("tables", "r", "data.csv"), "id,v\n1,old\n")
    assert read(b.p("tables", "r", "data.csv")) == "id,v\n1,old\n"
    with open(b.p("tables", "r", "data.csv")) as held:
        os.rmdir(a.p("tables", "r"))
        os.mkdir(a.p("tables", "r"))
        write(a.p("tables", "r", "data.csv"), "id,v\n2,new\n")
        eventually(lambda: read(b.p("tables", "r", "data.csv")) == "id,v\n2,new\n")
        held.read()


def eventually(ok, timeout=5.0):
    """OK() becomes true within TIMEOUT seconds (polled every 10 ms)."""
    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, "not seen within %.0f s" % timeout
        time.sleep(0.01)
