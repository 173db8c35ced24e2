"""Mount tests for issue 18 points 4 and 5 and its fault injection: a
full disk (a small tmpfs holding the store) fails writes with ENOSPC and
a /log line while reads go on, and writes work again once space is freed,
without a remount; a remount on a full disk replays or comes up read-only
and says so; an artifact written through one handle appears whole at
close or not at all, also across kill -9, and `mlfs check` reports and
removes what such a crash left; EIO from the store's files (an LD_PRELOAD
shim) fails the write, leaves the daemon up and `mlfs check` clean."""
import errno
import os
import subprocess
import time

import pytest

from conftest import check_argv, MLFS, Mount, SANITIZER

MiB = 1 << 20
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")


def run_dir(m):
    """A run's artifacts folder in mount M."""
    path = m.p("experiments", "e", "runs", "r", "artifacts")
    if not os.path.isdir(path):
        os.makedirs(m.p("experiments", "e", "runs", "r"))
    return path


def check(store):
    return subprocess.run(check_argv(store), capture_output=True, text=True,
                          timeout=60)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(fs, leave):
    """A filler file on FS leaving about LEAVE bytes free."""
    path = os.path.join(fs, "filler")
    size = free_bytes(fs) - leave
    with open(path, "ab") as f:
        if size > 0:
            os.posix_fallocate(f.fileno(), os.fstat(f.fileno()).st_size, size)
    return path


def write_until_error(path, chunk=MiB, limit=64):
    """Write PATH a chunk at a time until write() or close() fails: the
    OSError's errno (None if LIMIT chunks went in)."""
    data = b"x" * chunk
    try:
        with open(path, "wb") as f:
            for _ in range(limit):
                f.write(data)
                f.flush()
    except OSError as e:
        return e.errno
    return None


def retry(fn, seconds=20):
    """FN() until it stops raising OSError; its result, or the last error."""
    deadline = time.time() + seconds
    while True:
        try:
            return fn()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.25)


@pytest.fixture
def small_fs(tmp_path):
    """A 64 MiB tmpfs (the store lives on it) and a mount point beside it."""
    fs = tmp_path / "fs"
    fs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(fs)], check=True)
    (tmp_path / "mnt").mkdir()
    mounts = []
    try:
        yield str(fs), mounts
    finally:
        for m in mounts:
            if m.proc is not None:
                m.stop()
        subprocess.run(["umount", "-l", str(fs)], check=False)
        for m in mounts:
            out = m.stderr()
            assert not SANITIZER.search(out), "daemon stderr:\n" + out


def mount_on(small, tmp_path):
    """The store on the small filesystem, mounted (stopped at teardown)."""
    fs, mounts = small
    m = Mount(os.path.join(fs, "store"), str(tmp_path / "mnt"), str(tmp_path / "daemon.err"))
    mounts.append(m)
    return m.start()


def start_with_env(m, env):
    """Start M's daemon with ENV added to this process's environment."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        m.start()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---- point 5: artifacts whole at close ----

def test_artifact_same_handle_reads_its_writes(mnt):
    d = run_dir(mnt)
    path = os.path.join(d, "f.bin")
    with open(path, "wb") as f:
        f.write(b"old content")
    fd = os.open(path, os.O_RDWR)
    other = os.open(path, os.O_RDONLY)
    try:
        os.pwrite(fd, b"NEW", 0)
        os.pwrite(fd, b"!", 11)
        assert os.pread(fd, 100, 0) == b"NEW content!"
        os.ftruncate(fd, 7)
        assert os.pread(fd, 100, 0) == b"NEW con"
        # Others see the last closed version until this handle closes.
        assert os.pread(other, 100, 0) == b"old content"
        with open(path, "rb") as f:
            assert f.read() == b"old content"
        assert os.stat(path).st_size == 11
        assert os.pread(fd, 100, 0) == b"NEW con"
        # Beside the daemon, check leaves a write in flight alone.
        out = check(mnt.store)
        assert out.returncode == 0 and "0 problems" in out.stdout, out.stdout + out.stderr
        assert os.pread(fd, 100, 0) == b"NEW con"
    finally:
        os.close(fd)
    assert os.pread(other, 100, 0) == b"NEW con"
    os.close(other)
    with open(path, "rb") as f:
        assert f.read() == b"NEW con"
    # O_APPEND and O_TRUNC on later handles.
    with open(path, "ab") as f:
        f.write(b"tent")
    with open(path, "rb") as f:
        assert f.read() == b"NEW content"
    # An O_TRUNC open that writes nothing empties the file at release,
    # which the kernel sends a moment after close() returns.
    with open(path, "wb") as f:
        pass
    deadline = time.time() + 5
    while os.path.getsize(path) and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.getsize(path) == 0


def test_kill9_mid_copy_leaves_old_or_nothing(tmp_path):
    store = str(tmp_path / "store")
    (tmp_path / "mnt").mkdir()
    m = Mount(store, str(tmp_path / "mnt"), str(tmp_path / "daemon.err")).start()
    try:
        d = run_dir(m)
        old = os.path.join(d, "model.bin")
        with open(old, "wb") as f:
            f.write(b"the whole old model\n" * 1000)
        # Two copies in flight: over the old file, and to a new one.
        over = open(old, "wb")
        over.write(os.urandom(3 * MiB))
        over.flush()
        new = open(os.path.join(d, "new.bin"), "wb")
        new.write(os.urandom(MiB))
        new.flush()
        m.kill9()
        for f in (over, new):
            try:
                f.close()
            except OSError:
                pass
    finally:
        if m.proc is not None:
            m.stop()
    out = check(store)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.count("never closed") == 3, out.stdout
    assert "(removed)" in out.stdout
    assert "created by a write that never closed" in out.stdout
    again = check(store)
    assert again.returncode == 0 and "0 problems" in again.stdout, again.stdout + again.stderr
    m.start()
    try:
        d = run_dir(m)
        with open(os.path.join(d, "model.bin"), "rb") as f:
            assert f.read() == b"the whole old model\n" * 1000
        assert not os.path.exists(os.path.join(d, "new.bin"))
        assert sorted(os.listdir(d)) == ["model.bin"]
    finally:
        m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()


# ---- point 4 and fault injection: a full disk ----

@root_only
@pytest.mark.embedded_only("fills the disk of the embedded store's folder: on the remote backend "
                          "the log and the blobs are in etcd and S3, not on that disk")
def test_full_disk_fails_writes_then_resumes(small_fs, tmp_path):
    fs, _ = small_fs
    m = mount_on(small_fs, tmp_path)
    d = run_dir(m)
    with open(os.path.join(d, "keep.txt"), "w") as f:
        f.write("still here\n")
    os.mkdir(m.p("tables", "orders"))
    with open(m.p("tables", "orders", "data.csv"), "w") as f:
        f.write("id,amount\n1,2.5\n")
    metric = m.p("experiments", "e", "runs", "r", "metrics", "loss")
    with open(metric, "w") as f:
        f.write("0.5\n")
    filler = fill(fs, 2 * MiB)

    # An artifact copy, a table append and a metric point: ENOSPC.
    assert write_until_error(os.path.join(d, "big.bin")) == errno.ENOSPC
    row = "3,1.0\n" * 200000
    with pytest.raises(OSError) as e:
        with open(m.p("tables", "orders", "data.csv"), "a") as f:
            f.write(row)
    assert e.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as e:
        with open(metric, "a") as f:
            f.write("0.4\n")
    assert e.value.errno == errno.ENOSPC
    log = m.log()
    assert "disk is full" in log and "MiB are free" in log, log
    # Reads go on.
    with open(os.path.join(d, "keep.txt")) as f:
        assert f.read() == "still here\n"
    with open(m.p("tables", "orders", "data.csv")) as f:
        assert f.read() == "id,amount\n1,2.5\n"
    # The copy that failed left nothing, or (when even its removal found
    # the disk full) an empty file that goes at unmount.
    assert "big.bin" not in os.listdir(d) or os.path.getsize(os.path.join(d, "big.bin")) == 0

    # Space freed: the next writes work, no remount.
    os.unlink(filler)

    def append_metric():
        with open(metric, "a") as f:
            f.write("0.3\n")
    retry(append_metric)
    with open(os.path.join(d, "after.txt"), "w") as f:
        f.write("written again\n")
    with open(m.p("tables", "orders", "data.csv"), "a") as f:
        f.write("4,1.5\n")
    assert "writes work again" in m.log()
    with open(metric) as f:
        assert [line.split()[1] for line in f] == ["0.5", "0.3"]
    m.stop()
    out = check(m.store)
    assert out.returncode == 0, out.stdout + out.stderr
    m.start()
    assert sorted(os.listdir(run_dir(m))) == ["after.txt", "keep.txt"]
    m.stop()


@root_only
@pytest.mark.embedded_only("replays the embedded store's write-ahead log on a full disk "
                          "(or mounts read-only): a remote replica catches up from etcd")
def test_remount_on_full_disk_replays_or_reads_only(small_fs, tmp_path):
    fs, _ = small_fs
    m = mount_on(small_fs, tmp_path)
    d = run_dir(m)
    # Acknowledged writes still in the write-ahead log at the crash.
    for i in range(8):
        with open(os.path.join(d, "f%d.bin" % i), "wb") as f:
            f.write(bytes([65 + i]) * MiB)
    m.kill9()
    filler = fill(fs, 0)
    m.start()
    err = m.stderr()
    try:
        for i in range(8):
            with open(os.path.join(d, "f%d.bin" % i), "rb") as f:
                assert f.read() == bytes([65 + i]) * MiB
        if "read-only" in err:
            assert "mounted read-only" in m.log()
            with pytest.raises(OSError) as e:
                with open(os.path.join(d, "x.txt"), "w") as f:
                    f.write("no\n")
            assert e.value.errno == errno.EROFS
        else:
            assert write_until_error(os.path.join(d, "x.bin")) == errno.ENOSPC
    finally:
        m.stop()
    os.unlink(filler)
    m.start()
    with open(os.path.join(run_dir(m), "y.txt"), "w") as f:
        f.write("writable again\n")
    m.stop()
    out = check(m.store)
    assert out.returncode == 0, out.stdout + out.stderr


# ---- fault injection: EIO from the store's files ----

@pytest.fixture(scope="module")
def eio_shim(tmp_path_factory):
    """The LD_PRELOAD shim (eio_shim.c) built for this run."""
    out = str(tmp_path_factory.mktemp("shim") / "eio_shim.so")
    src = os.path.join(os.path.dirname(__file__), "eio_shim.c")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", out, src, "-ldl"], check=True)
    return out


@pytest.mark.embedded_only("EIO injected into the files of the embedded store's folder: "
                          "the remote backend writes to etcd and S3 first")
def test_eio_fails_the_write_and_leaves_the_daemon_up(tmp_path, eio_shim):
    store = str(tmp_path / "store")
    arm = str(tmp_path / "arm")
    (tmp_path / "mnt").mkdir()
    m = Mount(store, str(tmp_path / "mnt"), str(tmp_path / "daemon.err"))
    env = {"LD_PRELOAD": eio_shim, "MLFS_EIO_DIR": store + "/", "MLFS_EIO_ARM": arm,
           # The shim comes before the sanitizer runtime in an ASan build.
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    start_with_env(m, env)
    try:
        d = run_dir(m)
        with open(os.path.join(d, "keep.txt"), "w") as f:
            f.write("acknowledged\n")
        open(arm, "w").close()
        assert write_until_error(os.path.join(d, "big.bin"), chunk=256 << 10) == errno.EIO
        metric = m.p("experiments", "e", "runs", "r", "metrics", "loss")
        with pytest.raises(OSError) as e:
            with open(metric, "w") as f:
                f.write("0.5\n")
        assert e.value.errno == errno.EIO
        assert "I/O error" in m.log() or "IO error" in m.log(), m.log()
        os.unlink(arm)
        # The daemon is up and reads go on.
        with open(os.path.join(d, "keep.txt")) as f:
            assert f.read() == "acknowledged\n"
        assert "keep.txt" in os.listdir(d)
    finally:
        if os.path.exists(arm):
            os.unlink(arm)
        m.stop()
    out = check(store)
    assert out.returncode == 0, out.stdout + out.stderr
    m.start()
    try:
        d = run_dir(m)
        with open(os.path.join(d, "keep.txt")) as f:
            assert f.read() == "acknowledged\n"
        with open(os.path.join(d, "after.txt"), "w") as f:
            f.write("writable after a remount\n")
        assert sorted(os.listdir(d)) == ["after.txt", "keep.txt"]
    finally:
        m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()
