"""Checkpoints of a remote store (docs/scale-out.md, "Checkpoints"):
host A writes, `mlfs checkpoint` twice (the second compacts the log up
to the first), and host B, mounted fresh afterwards, loads the
checkpoint and replays the rest: it sees everything.  `mlfs check`
finds nothing left over; bad invocations fail with a message.

Run by tools/scaleout/test-mount, which starts etcd and Ceph and sets
MLFS_META and MLFS_BLOBS (and the AWS_* keys)."""
import os
import sys
import tempfile


sys.path.insert(0, os.path.dirname(__file__))
from remote import BLOBS, META, host_mount, mlfs, needs_remote, stop_hosts, store_name  # noqa: E402
from test_models import read, write  # noqa: E402

pytestmark = needs_remote


def checkpoint(tmp, name):
    r = mlfs("checkpoint", "--meta", META, "--blobs", BLOBS, "--cache",
             os.path.join(tmp, "ckpt-cache"), name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(name + ": checkpoint at entry "), r.stdout
    return int(r.stdout.split()[-1])


def test_fresh_mount_after_checkpoint_and_compaction():
    name = store_name("ck")
    with tempfile.TemporaryDirectory(prefix="mlfs-ck-") as tmp:
        os.chmod(tmp, 0o755)
        mounts = {}

        def mount(h):
            m = host_mount(tmp, h, name)
            mounts[h] = m
            return m.start()
        try:
            a = mount("a")
            os.mkdir(a.p("tables", "t"))
            write(a.p("tables", "t", "data.csv"), "id,v\n1,x\n")
            os.mkdir(a.p("tables", "gone"))
            write(a.p("tables", "gone", "data.csv"), "id\n1\n")
            first = checkpoint(tmp, name)
            os.rmdir(a.p("tables", "gone"))
            with open(a.p("tables", "t", "data.csv"), "a") as f:
                f.write("2,y\n")
            second = checkpoint(tmp, name)
            assert second > first
            with open(a.p("tables", "t", "data.csv"), "a") as f:
                f.write("3,z\n")
            b = mount("b")
            assert read(b.p("tables", "t", "data.csv")) == "id,v\n1,x\n2,y\n3,z\n"
            assert not os.path.exists(b.p("tables", "gone"))
            # B writes on past the checkpoint; A sees it
            with open(b.p("tables", "t", "data.csv"), "a") as f:
                f.write("4,w\n")
            assert read(a.p("tables", "t", "data.csv")).endswith("3,z\n4,w\n")
            r = mlfs("check", "--meta", META, "--blobs", BLOBS, name)
            assert r.returncode == 0 and r.stdout.endswith(": 0 problems\n"), r.stdout + r.stderr
        finally:
            stop_hosts(mounts.values())


def test_checkpoint_refusals():
    r = mlfs("checkpoint", "somestore")
    assert r.returncode == 2 and "usage" in r.stderr
    with tempfile.TemporaryDirectory(prefix="mlfs-ck-") as tmp:
        name = "ck-empty%d-%s" % (os.getpid(), os.urandom(4).hex())
        r = mlfs("checkpoint", "--meta", META, "--blobs", BLOBS, "--cache", tmp, name)
        assert r.returncode == 1 and "nothing to checkpoint" in r.stderr, r.stderr
