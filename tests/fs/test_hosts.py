"""Mounting on hosts: `mount -t fuse.mlfs` and an fstab line through
mount.fuse3, `mlfs umount` while the mount is busy (retries, the pids that
hold it, -l), and the systemd unit template: `systemd-analyze verify`, and
its ExecStart/ExecStop run as systemd runs them, with a notify socket.

mount(8) runs its helper with a fixed PATH (it drops the caller's), and
mount.fuse3 runs `mlfs` by name: the helper tests run in a private mount
namespace whose /usr/local/sbin holds only a link to MLFS_BIN, so the host
sees neither that nor their mounts."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import MLFS, SANITIZER, Mount, helper_form

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "systemd",
                    "mlfs@.service.in")
TOP = ("README", "endpoints", "experiments", "features", "jobs", "log", "models",
       "monitors", "sessions", "tables")


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="mlfs-hosts-") as d:
        os.chmod(d, 0o755)
        os.mkdir(os.path.join(d, "mnt"))
        yield d


def daemon_pid(store):
    try:
        with open(os.path.join(store, "mlfs.pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def kill_daemon(store):
    """Whatever a test left: the daemon goes, and its namespace with it."""
    pid = daemon_pid(store)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def in_namespace(tmp, script, timeout=60):
    """Run the sh SCRIPT in a private mount namespace where mount(8)'s
    helper finds `mlfs`; $MLFS, $STORE, $MNT are set, and $SRC and $REMOTE:
    mount(8)'s operand and the options to add for the remote backend.  The script's
    mount is always unmounted, and the daemon killed if it stays."""
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir, exist_ok=True)
    if not os.path.exists(os.path.join(bindir, "mlfs")):
        os.symlink(os.path.abspath(MLFS), os.path.join(bindir, "mlfs"))
    store = os.path.join(tmp, "store")
    src, remote, _ = helper_form(store)
    env = dict(os.environ, MLFS=os.path.abspath(MLFS), STORE=store, SRC=src, REMOTE=remote,
               MNT=os.path.join(tmp, "mnt"))
    full = ('trap \'grep -q " $MNT " /proc/self/mounts && "$MLFS" umount -t 10 "$MNT"\' EXIT\n'
            'mount --bind "%s" /usr/local/sbin\n' % bindir) + script
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private",
                               "sh", "-ec", full], env=env, capture_output=True,
                              text=True, timeout=timeout)
    finally:
        kill_daemon(store)


def mounts_line(out, mnt):
    lines = [l for l in out.splitlines() if l.split(" ")[1:2] == [mnt]]
    assert len(lines) == 1, out
    return lines[0].split(" ")


def read_back(tmp, *path):
    """Mount the store again (mlfs mount -f) and read PATH."""
    m = Mount(os.path.join(tmp, "store"), os.path.join(tmp, "mnt"),
              os.path.join(tmp, "daemon.err")).start()
    try:
        with open(m.p(*path)) as f:
            return f.read()
    finally:
        m.stop()


def test_mount_t_fuse_mlfs_daemonizes_and_serves_other_users(tmp):
    r = in_namespace(tmp, """
        mount -t fuse.mlfs "$SRC" "$MNT" -o "allow_other$REMOTE"
        grep " $MNT " /proc/self/mounts
        echo ---
        setpriv --reuid=65534 --regid=65534 --clear-groups ls "$MNT"
        echo ---
        mkdir "$MNT/tables/t"
        printf 'a,b\\n1,2\\n' > "$MNT/tables/t/data.csv"
        "$MLFS" umount "$MNT"
        echo unmounted
    """)
    assert r.returncode == 0, r.stderr
    mounts, listing, rest = r.stdout.split("---\n")
    src, _, fstype, opts = mounts_line(mounts, os.path.join(tmp, "mnt"))[:4]
    assert src == "mlfs:" + helper_form(os.path.join(tmp, "store"))[2]
    assert fstype == "fuse.mlfs"
    assert "allow_other" in opts.split(",") and "default_permissions" in opts.split(",")
    # mount(8) returned once the mount was up, the daemon serving in the
    # background: another user lists the tree (allow_other).
    assert tuple(listing.split()) == TOP
    assert rest == "unmounted\n"
    assert read_back(tmp, "tables", "t", "data.csv") == "a,b\n1,2\n"


@pytest.mark.parametrize("opts,expect", [
    ("defaults,allow_other,nofail,x-systemd.requires-mounts-for={store}", ["rw", "allow_other"]),
    ("rw,noexec,nosuid,nodev,noatime,relatime,_netdev,noauto,comment=x,allow_other",
     ["noexec", "nosuid", "nodev", "allow_other"]),
])
def test_fstab_line_mounts_with_mount_T(tmp, opts, expect):
    store, mnt = os.path.join(tmp, "store"), os.path.join(tmp, "mnt")
    fstab = os.path.join(tmp, "fstab")
    with open(fstab, "w") as f:
        f.write("# a test fstab\n%s %s fuse.mlfs %s 0 0\n" % (store, mnt, opts.format(store=store)))
    r = in_namespace(tmp, """
        mount -T "%s" "$MNT"
        grep " $MNT " /proc/self/mounts
        ls "$MNT"
        "$MLFS" umount "$MNT"
    """ % fstab)
    assert r.returncode == 0, r.stderr
    fields = mounts_line(r.stdout, mnt)
    assert fields[2] == "fuse.mlfs"
    for o in expect:
        assert o in fields[3].split(","), fields
    assert tuple(r.stdout.split("\n", 1)[1].split()) == TOP


def test_mount_helper_bad_option_fails_and_says_which(tmp):
    r = in_namespace(tmp, 'mount -t fuse.mlfs "$STORE" "$MNT" -o allow_other,no_such_option')
    assert r.returncode != 0
    assert "no_such_option" in r.stderr
    assert not os.path.ismount(os.path.join(tmp, "mnt"))


def test_mount_helper_remote_options_go_together(tmp):
    r = in_namespace(tmp, 'mount -t fuse.mlfs name "$MNT" -o allow_other,meta=http://127.0.0.1:1')
    assert r.returncode != 0
    assert "meta= and blobs= go together" in r.stderr
    assert not os.path.ismount(os.path.join(tmp, "mnt"))


def test_helper_form_only_as_mount_fuse3_runs_it(tmp):
    store, mnt = os.path.join(tmp, "store"), os.path.join(tmp, "mnt")
    # A mistyped command with two words after it mounts nothing.
    r = subprocess.run([os.path.abspath(MLFS), "chekc", "store", "mnt"], capture_output=True,
                       text=True, cwd=tmp)
    assert r.returncode == 2 and "unknown command 'chekc'" in r.stderr
    assert not os.path.exists(store) and not os.path.ismount(mnt)
    r = subprocess.run([MLFS, store, mnt, "-o", "rw,dev,suid,allow_other"],
                       capture_output=True, text=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mnt) and daemon_pid(store)
    finally:
        if os.path.ismount(mnt):
            subprocess.run([MLFS, "umount", mnt], check=False)
        kill_daemon(store)
    assert not os.path.ismount(mnt)


def umount(path, *opts):
    t0 = time.time()
    r = subprocess.run([MLFS, "umount", *opts, path], capture_output=True, text=True,
                       timeout=120)
    return r, time.time() - t0


def test_umount_busy_names_the_holders_then_succeeds(mnt):
    cwd_holder = subprocess.Popen(["sleep", "60"], cwd=mnt.p("tables"))
    fd_holder = subprocess.Popen(["sh", "-c", 'exec 3<"$1"; exec sleep 60', "sh",
                                  mnt.p("README")])
    try:
        time.sleep(0.3)
        r, took = umount(mnt.path, "-t", "1")
        assert r.returncode == 1
        assert "still busy after 1 s" in r.stderr
        assert "pid %d (sleep): cwd %s\n" % (cwd_holder.pid, mnt.p("tables")) in r.stderr
        assert "pid %d (sleep): fd 3 %s\n" % (fd_holder.pid, mnt.p("README")) in r.stderr
        assert 1 <= took < 10
        assert os.path.ismount(mnt.path) and mnt.proc.poll() is None
        assert "tables" in os.listdir(mnt.path)
    finally:
        for p in (cwd_holder, fd_holder):
            p.kill()
            p.wait()
    r, _ = umount(mnt.path)
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(mnt.path)
    # mlfs umount returned after the daemon closed its store.
    assert mnt.proc.wait(timeout=5) == 0
    assert not os.path.exists(os.path.join(mnt.store, "mlfs.pid"))


def test_umount_retries_until_the_holder_leaves(mnt):
    holder = subprocess.Popen(["sleep", "1.5"], cwd=mnt.path)
    try:
        time.sleep(0.3)
        r, took = umount(mnt.path, "-t", "20")
        assert r.returncode == 0, r.stderr
        assert holder.poll() is not None
        assert 0.8 <= took < 15
        assert not os.path.ismount(mnt.path)
    finally:
        holder.kill()
        holder.wait()


def test_umount_t0_tries_once(mnt):
    holder = subprocess.Popen(["sleep", "60"], cwd=mnt.path)
    try:
        time.sleep(0.3)
        r, took = umount(mnt.path, "-t", "0")
        assert r.returncode == 1 and "pid %d (sleep)" % holder.pid in r.stderr
        assert took < 3
    finally:
        holder.kill()
        holder.wait()


def test_umount_lazy_detaches_and_the_daemon_ends_when_the_holder_leaves(mnt):
    holder = subprocess.Popen(["sleep", "60"], cwd=mnt.p("tables"))
    try:
        time.sleep(0.3)
        r, _ = umount(mnt.path, "-l")
        assert r.returncode == 0, r.stderr
        assert not os.path.ismount(mnt.path)
        # The holder still works in the detached tree, served by the daemon.
        assert os.listdir("/proc/%d/cwd" % holder.pid) == []
        assert mnt.proc.poll() is None
    finally:
        holder.kill()
        holder.wait()
    assert mnt.proc.wait(timeout=20) == 0


def test_umount_errors(mnt, tmp):
    r, _ = umount(tmp)
    assert r.returncode == 1 and r.stderr == "mlfs umount: %s: not mounted\n" % tmp
    r, _ = umount(os.path.join(tmp, "nothing"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    for bad in (["-t", "x"], ["-t", "-1"], ["-q"], []):
        r = subprocess.run([MLFS, "umount", *bad] + ([mnt.path] if bad else []),
                           capture_output=True, text=True)
        assert r.returncode == 2, bad
        assert r.stderr, bad
    assert os.path.ismount(mnt.path)


def test_umount_clears_a_dead_daemons_mount(mnt):
    mnt.proc.send_signal(signal.SIGKILL)
    mnt.proc.wait()
    with pytest.raises(OSError):
        os.listdir(mnt.path)
    r, _ = umount(mnt.path)
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(mnt.path)
    mnt.err.close()
    mnt.proc = None


def unit_text(bindir):
    with open(UNIT) as f:
        return f.read().replace("@bindir@", bindir)


def test_unit_template_verifies(tmp):
    units = os.path.join(tmp, "units")
    os.mkdir(units)
    with open(os.path.join(units, "mlfs@.service"), "w") as f:
        f.write(unit_text(os.path.dirname(os.path.abspath(MLFS))))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        os.path.join(units, "mlfs@churn.service")],
                       capture_output=True, text=True, timeout=120)
    # Unknown keys and bad values are warnings on stderr with status 0.
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr


def unit_command(text, key, env):
    line = re.search(r"^%s=(.*)$" % key, text, re.M).group(1)
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], w) for w in line.split()]


def test_unit_commands_run_as_systemd_runs_them(tmp):
    """ExecStartPre, ExecStart with NOTIFY_SOCKET (READY=1 comes once the
    mount is up), then ExecStop: unmounted, the daemon gone with status 0."""
    text = unit_text(os.path.dirname(os.path.abspath(MLFS)))
    env = {"STORE": os.path.join(tmp, "store"), "MOUNTPOINT": os.path.join(tmp, "mnt", "churn"),
           "OPTIONS": "allow_other"}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(tmp, "notify"))
    sock.settimeout(30)
    daemon = None
    try:
        subprocess.run(unit_command(text, "ExecStartPre", env), check=True)
        with open(os.path.join(tmp, "daemon.err"), "wb") as err:
            daemon = subprocess.Popen(unit_command(text, "ExecStart", env), stderr=err,
                                      env=dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify")))
        assert sock.recv(256) == b"READY=1"
        assert os.path.ismount(env["MOUNTPOINT"])
        assert tuple(sorted(os.listdir(env["MOUNTPOINT"]))) == TOP
        r = subprocess.run(unit_command(text, "ExecStop", env), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert daemon.wait(timeout=10) == 0
        assert not os.path.ismount(env["MOUNTPOINT"])
        with open(os.path.join(tmp, "daemon.err")) as f:
            out = f.read()
        assert not SANITIZER.search(out), out
    finally:
        sock.close()
        if daemon and daemon.poll() is None:
            subprocess.run(["fusermount3", "-u", "-z", env["MOUNTPOINT"]], check=False)
            daemon.kill()
            daemon.wait()


def test_unit_failed_mount_sends_no_ready(tmp):
    text = unit_text(os.path.dirname(os.path.abspath(MLFS)))
    env = {"STORE": os.path.join(tmp, "store"), "MOUNTPOINT": os.path.join(tmp, "mnt"),
           "OPTIONS": "allow_other,no_such_option"}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(tmp, "notify"))
    sock.settimeout(0.5)
    try:
        r = subprocess.run(unit_command(text, "ExecStart", env), capture_output=True, text=True,
                           env=dict(os.environ, NOTIFY_SOCKET=os.path.join(tmp, "notify")),
                           timeout=60)
        assert r.returncode == 1 and "no_such_option" in r.stderr
        assert not SANITIZER.search(r.stderr), r.stderr
        with pytest.raises(socket.timeout):
            sock.recv(256)
    finally:
        sock.close()
        if os.path.ismount(env["MOUNTPOINT"]):
            subprocess.run(["fusermount3", "-u", "-z", env["MOUNTPOINT"]], check=False)
