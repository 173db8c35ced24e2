"""remote.py - what the scale-out mount tests share: the etcd and S3
addresses tools/scaleout/test-mount sets (MLFS_META, MLFS_BLOBS and the
AWS_* keys), the mark that runs a test only there, a fresh store name,
mounts of one store as separate hosts (each with its own replica in the
temporary folder), their stop with the sanitizer check, and the mlfs
command itself."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fs"))
from conftest import MLFS, Mount, SANITIZER  # noqa: E402

META, BLOBS = os.environ.get("MLFS_META"), os.environ.get("MLFS_BLOBS")
needs_remote = pytest.mark.skipif(not META or not BLOBS,
                                  reason="needs MLFS_META and MLFS_BLOBS (tools/scaleout/test-mount)")


def store_name(prefix):
    """A store name no other test (or earlier run) uses."""
    return "%s%d-%s" % (prefix, os.getpid(), os.urandom(4).hex())


def host_mount(tmp, host, name, opts=("allow_other",)):
    """Host HOST's mount (not started) of remote store NAME: its replica,
    mount point and error log in TMP."""
    os.mkdir(os.path.join(tmp, "mnt-" + host))
    return Mount(os.path.join(tmp, "cache-" + host), os.path.join(tmp, "mnt-" + host),
                 os.path.join(tmp, host + ".err"), opts=opts, remote=(META, BLOBS, name))


def stop_hosts(mounts):
    """Stops MOUNTS; none may have printed a sanitizer report."""
    for m in mounts:
        m.stop()
        assert not SANITIZER.search(m.stderr()), m.stderr()


def mlfs(*args):
    return subprocess.run([MLFS, *args], capture_output=True, text=True, timeout=120)
