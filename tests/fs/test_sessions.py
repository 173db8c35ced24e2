"""/sessions on the embedded store (docs/reference.md "/", docs/scale-out.md
"Sessions, leader election and fencing"): one line, this daemon's, which
leads the scheduler role; read-only; a daemon killed with kill -9 leaves
no session behind at the next mount, and that mount leads at once.  The
sessions of several hosts on etcd are tests/unit/test_cluster.c's."""
import errno
import os
import socket
import time

from conftest import expect_errno, mounted, read, write

HEADER = "session,host,pid,start,mountpoint,leads"


def sessions(m, leads="scheduler", timeout=5.0):
    """/sessions' lines after the header, once one leads LEADS (the
    schedulers ask for the role on their first tick, just after mount)."""
    deadline = time.time() + timeout
    while True:
        lines = read(m.p("sessions")).splitlines()
        assert lines[0] == HEADER
        rows = [line.split(",") for line in lines[1:]]
        if any(r[5] == leads for r in rows) or time.time() > deadline:
            return rows
        time.sleep(0.05)


def test_this_mount_leads():
    with mounted() as m:
        rows = sessions(m)
        assert len(rows) == 1, rows
        session, host, pid, start, mountpoint, leads = rows[0]
        assert host == socket.gethostname()
        assert int(pid) == m.proc.pid
        assert session == "%s.%d" % (host, m.proc.pid)
        assert start.endswith("Z") and start[:4].isdigit()
        assert mountpoint == os.path.realpath(m.path)
        assert leads == "scheduler"
        expect_errno(errno.EACCES, write, m.p("sessions"), "x\n")
        assert "sessions" in os.listdir(m.path)


def test_killed_daemon_leaves_no_session():
    with mounted() as m:
        first = sessions(m)[0]
        m.kill9()
        m.start()
        rows = sessions(m, timeout=2.0)
        assert [r[0] for r in rows] == ["%s.%d" % (first[1], m.proc.pid)]
        assert rows[0][5] == "scheduler"
