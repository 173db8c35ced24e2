"""Mount fixture for the mount tests: a fresh store in a temp dir, mounted
with the real mlfs daemon in the foreground, always unmounted, and the
daemon's stderr scanned for errors and sanitizer reports.

MLFS_BIN names the mlfs binary (tools/test sets it).  With MLFS_META and
MLFS_BLOBS set (tools/scaleout/test-mount --suite), every mount is of a
fresh store of its own in that etcd and S3 bucket, its replica in the
store folder (docs/scale-out.md).  A test that needs the embedded store
itself says so with @pytest.mark.embedded_only("why"): on the remote
backend it is deselected (not skipped) and listed with its reason."""
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

MLFS = os.environ.get("MLFS_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tools", "mlfs")
SANITIZER = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"Sanitizer|SUMMARY:|Segmentation fault|Assertion .* failed)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "embedded_only(why): needs the embedded store's own folder; "
        "deselected on the remote backend (MLFS_META)")


def pytest_collection_modifyitems(config, items):
    """On the remote backend, deselect the embedded_only tests and print
    each with its reason on a line of its own."""
    if not os.environ.get("MLFS_META"):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker("embedded_only")
        (drop if mark else keep).append(item)
        if mark:
            why = mark.args[0] if mark.args else "(no reason given)"
            tr.write_line("embedded only: %s: %s" % (item.nodeid, why))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def remote_name(store):
    """The remote store's name for the store folder STORE: the same for
    every mount of that folder (a remount after kill -9 finds its data)."""
    return "t%d-%s" % (os.getpid(), hashlib.sha1(
        os.path.realpath(store).encode()).hexdigest()[:12])


def store_argv(store):
    """The operands that name STORE to `mlfs mount`: STORE, or on the
    remote backend the options and the name of its remote store."""
    if not os.environ.get("MLFS_META"):
        return [store]
    return ["--meta", os.environ["MLFS_META"], "--blobs", os.environ["MLFS_BLOBS"],
            "--cache", store, remote_name(store)]


def check_argv(store):
    """`mlfs check STORE`, or on the remote backend the check of STORE's
    replica and the store's objects."""
    return [MLFS, "check"] + store_argv(store)


def recover_killed(m, leftover):
    """After M was killed -9: whether `mlfs check`, alone with the store,
    reports LEFTOVER (what a build cut short leaves); then a mount removes
    it, the check is clean, and M runs again."""
    left = subprocess.run(check_argv(m.store), capture_output=True, text=True)
    assert left.returncode in (0, 1), left.stderr
    m.start()
    m.stop()
    clean = subprocess.run(check_argv(m.store), capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert " 0 problems" in clean.stdout
    m.start()
    return leftover in left.stdout


def helper_form(store):
    """What mount(8) -t fuse.mlfs gets for STORE: (the operand, the -o
    options to add, the folder mlfs serves); on the remote backend the
    store's name and meta=,blobs=,cache= (its replica in STORE/NAME)."""
    if not os.environ.get("MLFS_META"):
        return store, "", store
    name = remote_name(store)
    return name, ",meta=%s,blobs=%s,cache=%s" % (
        os.environ["MLFS_META"], os.environ["MLFS_BLOBS"], store), os.path.join(store, name)


class Mount:
    """A running daemon serving STORE at PATH."""

    def __init__(self, store, path, errlog, opts=("allow_other",), remote=None):
        self.store, self.path, self.errlog, self.opts = store, path, errlog, opts
        self.proc = None
        # (META, BLOBS, NAME): the remote backend, the replica in STORE
        if remote is None and os.environ.get("MLFS_META"):
            remote = (os.environ["MLFS_META"], os.environ["MLFS_BLOBS"], remote_name(store))
        self.remote = remote

    def start(self, timeout=20):
        args = [MLFS, "mount", self.store, self.path, "-f"]
        if self.remote:
            meta, blobs, name = self.remote
            args = [MLFS, "mount", "--meta", meta, "--blobs", blobs,
                    "--cache", self.store, name, self.path, "-f"]
        for o in self.opts:
            args += ["-o", o]
        self.err = open(self.errlog, "ab")
        self.proc = subprocess.Popen(args, stdout=self.err, stderr=self.err)
        deadline = time.time() + timeout
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError("mlfs exited: " + self.stderr())
            if time.time() > deadline:
                raise RuntimeError("mount timed out: " + self.stderr())
            time.sleep(0.02)
        return self

    def stop(self):
        """Unmount and wait for the daemon to close its store."""
        if self.proc is None:
            return
        if os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-u", self.path], check=False)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.err.close()
        self.proc = None

    def kill9(self):
        """Kill the daemon as a crash would, then clean the dead mount."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.err.close()
        self.proc = None
        subprocess.run(["fusermount3", "-u", "-z", self.path], check=False)
        subprocess.run(["umount", "-l", self.path], check=False,
                       stderr=subprocess.DEVNULL)

    def stderr(self):
        try:
            with open(self.errlog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        with open(self.p("log")) as f:
            return f.read()


@contextlib.contextmanager
def mounted(opts=("allow_other",)):
    """A fresh store mounted with OPTS in a temp dir; unmounted at the end,
    the daemon's stderr checked for sanitizer reports."""
    with tempfile.TemporaryDirectory(prefix="mlfs-test-") as tmp:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "mnt")
        os.mkdir(path)
        m = Mount(os.path.join(tmp, "store"), path, os.path.join(tmp, "daemon.err"), opts)
        m.start()
        try:
            yield m
        finally:
            m.stop()
            out = m.stderr()
            assert not SANITIZER.search(out), "daemon stderr:\n" + out


@pytest.fixture
def mnt():
    with mounted() as m:
        yield m


# ---- helpers the tests of tables and feature tables share ----

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (/.*?): (.*)$")


def put(path, data, append=False, create=True):
    """Write DATA with write() until done, then close(), like cp (a new
    file unless not CREATE).  Raises OSError with the errno of write() or
    close()."""
    flags = os.O_WRONLY | (os.O_CREAT if create else 0) | \
        (os.O_APPEND if append else os.O_TRUNC)
    data = memoryview(data if isinstance(data, bytes) else data.encode())
    fd = os.open(path, flags)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def write(path, text):
    """write() and close() of a file that exists, as echo or a script
    does; errors raise."""
    put(path, text, create=False)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read(path):
    return read_bytes(path).decode()


def expect_errno(code, fn, *args, **kw):
    with pytest.raises(OSError) as e:
        fn(*args, **kw)
    assert e.value.errno == code, e.value


def last_log(m):
    """The last line of /log: (path, message)."""
    lines = m.log().strip().split("\n")
    match = LOG_LINE.match(lines[-1])
    assert match, lines[-1]
    return match.group(1), match.group(2)
