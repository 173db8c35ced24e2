"""Privacy through a real mount: mkdir keeps its mode, and the views that
gather many objects (runs.csv, /log) show another user only what that
user may read.  The mount runs as root with allow_other and
default_permissions (conftest); the second user is nobody (65534), run
with setpriv (util-linux)."""
import os
import stat
import subprocess

import pytest

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(autouse=True)
def need_setpriv():
    if subprocess.run(["sh", "-c", "command -v setpriv"], capture_output=True).returncode:
        pytest.fail("setpriv (util-linux) is required")


def as_nobody(*args):
    return subprocess.run(NOBODY + list(args), capture_output=True, text=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


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
