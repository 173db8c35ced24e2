"""The kernel caches attributes and pages, and the notifier keeps them true.

A writer and a reader in different processes: every change is visible to
the reader at once, by content and by size (stat, wc -c), whether it came
through the mount or from the engine itself (a training ending).  Each test
first makes the kernel cache what it then changes, so a missing
invalidation would show the old size or content.  With -o stats, /.stats
counts requests: the second cat of an unchanged table reads nothing from
the daemon, and a reader's close sends no flush."""
import mmap
import os
import subprocess
import time

import pytest

from conftest import mounted


def sh(cmd):
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert r.returncode == 0, r
    return r.stdout


def other_size(path):
    """st_size as another process sees it."""
    return int(sh(f"stat -c %s '{path}'"))


def other_cat(path):
    return sh(f"cat '{path}'")


@pytest.fixture
def smnt():
    """A mount with -o stats (/.stats)."""
    with mounted(("allow_other", "stats")) as m:
        yield m


def stats(m):
    with open(m.p(".stats")) as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def open_paged(path):
    """Open PATH read-only through the page cache: a shared mmap works only
    there.  A writer's release reaches the daemon a moment after its close
    (FUSE sends it asynchronously) and until then the reader gets direct
    I/O, so try again a few times."""
    for _ in range(200):
        f = open(path, "rb")
        try:
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ).close()
            return f
        except OSError:
            f.close()
            time.sleep(0.01)
    raise AssertionError("never opened through the page cache: " + path)


def table(m, name="t", rows=3):
    os.mkdir(m.p("tables", name))
    d = m.p("tables", name, "data.csv")
    sh(f"printf 'a,b\\n' > {d}; for i in $(seq {rows}); do echo \"$i,x$i\" >> {d}; done")
    return d


def test_table_append_and_replace_seen_at_once(mnt):
    d = table(mnt)
    for i in range(20):
        before = other_cat(d)                       # cached: pages and size
        assert other_size(d) == len(before)
        sh(f"echo '{100 + i},y' >> {d}")
        size = other_size(d)                        # before any read
        after = other_cat(d)
        assert after == before + f"{100 + i},y\n"
        assert size == len(after)
        assert sh(f"wc -c < {d}").strip() == str(len(after))
    sh(f"printf 'a,b\\n7,z\\n' > {d}")
    assert other_cat(d) == "a,b\n7,z\n"
    assert other_size(d) == len("a,b\n7,z\n")


def test_metric_point_seen_at_once(mnt):
    run = mnt.p("experiments", "e", "runs", "r")
    os.makedirs(run)
    loss = os.path.join(run, "metrics", "loss")
    sh(f"echo '0.5 0' >> {loss}")
    for i in range(1, 30):
        assert other_size(loss) == len(other_cat(loss))
        other_size(loss)
        sh(f"echo '0.{i} {i}' >> {loss}")
        size = other_size(loss)
        text = other_cat(loss)
        assert text.endswith(" %d\n" % i)
        assert len(text.splitlines()) == i + 1
        assert size == len(text)


def test_property_and_views_seen_at_once(mnt):
    exp = mnt.p("experiments", "e")
    os.makedirs(os.path.join(exp, "runs", "r0"))
    runs_csv = os.path.join(exp, "runs.csv")
    tag = os.path.join(exp, "runs", "r0", "tags", "note")
    sh(f"echo first > {tag}")
    for i, v in enumerate(("0.25", "0.5", "0.125", "1")):
        old_view = other_cat(runs_csv)
        assert other_size(runs_csv) == len(old_view)
        assert other_size(tag) == len(other_cat(tag))
        other_size(tag)
        sh(f"echo {v} > {tag}")                     # a property replaced
        assert other_size(tag) == len(v) + 1
        assert other_cat(tag) == v + "\n"
        run = os.path.join(exp, "runs", f"r{i + 1}")
        os.mkdir(run)
        other_size(runs_csv)
        sh(f"echo {v} > {run}/params/lr")           # a view's new row
        size = other_size(runs_csv)
        view = other_cat(runs_csv)
        assert any(v in line.split(",") for line in view.splitlines()[1:]), view
        assert size == len(view)


def test_table_stats_seen_at_once(mnt):
    d = table(mnt, rows=2)
    s = mnt.p("tables", "t", "stats.csv")
    first = other_cat(s)
    assert other_size(s) == len(first)
    other_size(s)
    sh(f"for i in $(seq 100 160); do echo \"$i,q\" >> {d}; done")
    size = other_size(s)
    second = other_cat(s)
    assert second != first and "63" in second          # count of a
    assert size == len(second)


def test_alias_and_stage_seen_at_once(mnt):
    from test_models import setup_data, register
    setup_data(mnt)
    register(mnt, "m", "experiments/e/runs/r1")
    register(mnt, "m", "experiments/e/runs/r2")
    d = mnt.p("models", "m")
    sh(f"cd {d} && ln -s versions/1 Production")
    stage2 = os.path.join(d, "versions", "2", "stage")
    for n in (2, 1, 2):
        assert sh(f"readlink {d}/Production") == "versions/%d\n" % (3 - n)
        old = other_cat(stage2)
        assert other_size(stage2) == len(old)
        other_size(stage2)
        sh(f"cd {d} && ln -sfn versions/{n} Production")
        size = other_size(stage2)
        assert sh(f"readlink {d}/Production") == "versions/%d\n" % n
        assert sh(f"cat {d}/Production/run/status") == "FINISHED\n"
        now = other_cat(stage2)
        assert now == ("Production\n" if n == 2 else "Archived\n")
        assert size == len(now)


def test_cached_handle_of_other_process_sees_change(mnt):
    """B reads the table (the kernel keeps its pages and size), A appends,
    B reads again through the same cached inode."""
    d = table(mnt, rows=500)
    script = """
import os, sys
p = sys.argv[1]
for line in sys.stdin:
    with open(p, 'rb') as f:
        data = f.read()
        size = os.fstat(f.fileno()).st_size
    print(len(data), size, data.count(bytes([10])), flush=True)
"""
    reader = subprocess.Popen(["/usr/bin/python3", "-c", script, d],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        expected_lines = 501
        for i in range(10):
            reader.stdin.write("go\n")
            reader.stdin.flush()
            n, size, lines = map(int, reader.stdout.readline().split())
            assert (n, lines) == (size, expected_lines)
            sh(f"echo '{1000 + i},w' >> {d}")
            expected_lines += 1
    finally:
        reader.stdin.close()
        reader.wait()


def test_directory_made_again_while_a_file_below_is_open(mnt):
    """rm -r of a run while a writer holds one of its metrics open, then
    mkdir of the same name: the new run shows its files at once, in this
    process and in another, while the old handle stays open and after it
    closes (the kernel keeps the removed directory's inode, dead, while
    the open file pins it: the new one must not be given its number)."""
    run = mnt.p("experiments", "e", "runs", "r1")
    os.makedirs(run)
    loss = os.path.join(run, "metrics", "loss")
    fd = os.open(loss, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"0.5 1\n")
        sh(f"rm -r {run} && mkdir {run}")
        assert "metrics" in os.listdir(run) and "status" in os.listdir(run)
        assert "metrics" in sh(f"ls {run}").split()
        assert os.listdir(os.path.join(run, "metrics")) == []
        sh(f"echo '0.7 2' >> {loss}")
        assert other_cat(loss).split()[1:] == ["0.7", "2"]
    finally:
        os.close(fd)
    assert sorted(os.listdir(os.path.join(run, "metrics"))) == ["loss"]
    table(mnt, "t")
    data = mnt.p("tables", "t", "data.csv")
    with open(data) as held:
        sh(f"rm -r {mnt.p('tables', 't')} && mkdir {mnt.p('tables', 't')}")
        assert "data.csv" in os.listdir(mnt.p("tables", "t"))
        assert "x1" not in other_cat(data)
        assert held.read().startswith("a,b\n1,x1\n")


def test_reader_keeps_its_version_through_a_replace(mnt):
    d = table(mnt, rows=0)
    big = "a,b\n" + "".join(f"{i},{'v' * 50}\n" for i in range(60000))
    with open(d, "w") as f:
        f.write(big)
    os.stat(d)
    with open_paged(d) as f:
        head = f.read(100000)
        sh(f"printf 'a,b\\n1,small\\n' > {d}")       # replaced meanwhile
        rest = f.read()
        assert os.fstat(f.fileno()).st_size == len(big)
    assert (head + rest).decode() == big
    assert other_cat(d) == "a,b\n1,small\n"
    assert other_size(d) == len("a,b\n1,small\n")
    assert os.stat(d).st_size == len("a,b\n1,small\n")


def test_tail_f_sees_new_points(mnt):
    run = mnt.p("experiments", "e", "runs", "r")
    os.makedirs(run)
    loss = os.path.join(run, "metrics", "loss")
    sh(f"echo '1.0 0' >> {loss}")
    with open(loss, "rb") as f:
        assert f.read().count(b"\n") == 1
        sh(f"echo '0.9 1' >> {loss}; echo '0.8 2' >> {loss}")
        more = f.read()
        assert more.count(b"\n") == 2 and more.endswith(b" 2\n")
    out = subprocess.run(["bash", "-c", f"timeout 3 tail -f {loss} & sleep 1.2; "
                          f"echo '0.7 3' >> {loss}; wait"], capture_output=True, text=True)
    assert out.stdout.splitlines()[-1].endswith(" 3")


def test_training_status_seen_at_once(mnt):
    """A change the engine makes by itself: the run's status at the end."""
    from test_train import make_churn, new_run, SPEC, wait_status, write
    make_churn(mnt)
    d = new_run(mnt, "rf")
    status = os.path.join(d, "status")
    runs_csv = mnt.p("experiments", "churn", "runs.csv")
    early = other_cat(status)                         # kernel caches it
    assert other_size(status) == len(early)
    other_size(status)
    other_cat(runs_csv)
    other_size(runs_csv)
    write(os.path.join(d, "train.yaml"), SPEC)
    subprocess.run(["cat", os.path.join(d, "wait")], capture_output=True)
    size, csv_size = other_size(status), other_size(runs_csv)
    assert other_cat(status) == "FINISHED\n"
    assert size == len("FINISHED\n")
    assert "FINISHED" in other_cat(runs_csv)
    assert csv_size == len(other_cat(runs_csv))


def test_mmap_of_a_table(mnt):
    d = table(mnt, rows=1000)
    want = other_cat(d).encode()
    os.stat(d)
    with open_paged(d) as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert mm[:] == want
    sh(f"printf 'a,b\\n5,five\\n' > {d}")
    os.stat(d)
    with open_paged(d) as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert mm[:] == b"a,b\n5,five\n"
    # A handle with direct I/O (a writer has it open) maps privately only.
    with open(d, "ab") as w:
        with open(d, "rb") as f:
            with pytest.raises(OSError):
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
                assert mm[:] == b"a,b\n5,five\n"


def test_second_cat_of_unchanged_table_reads_from_page_cache(smnt):
    d = table(smnt, rows=0)
    with open(d, "w") as f:
        f.write("a,b\n" + "".join(f"{i},{i * 3}\n" for i in range(200000)))
    first = other_cat(d)
    # The writer's RELEASE is asynchronous: should it land after the first
    # cat's open, that cat's pages may be dropped once; a cat after it is
    # the one to measure.
    other_cat(d)
    before = stats(smnt)
    second = other_cat(d)
    after = stats(smnt)
    assert second == first
    assert after["read"] - before["read"] == 2        # /.stats' own two reads
    # A reader's close sends no flush.
    assert after["flush"] == before["flush"]


def test_append_changes_page_cache(smnt):
    d = table(smnt, rows=0)
    with open(d, "w") as f:
        f.write("a,b\n" + "".join(f"{i},{i}\n" for i in range(50000)))
    other_cat(d)
    other_cat(d)
    sh(f"echo '999999,1' >> {d}")
    before = stats(smnt)
    text = other_cat(d)                                # the new version: read
    assert text.endswith("999999,1\n") and "\0" not in text
    middle = stats(smnt)
    assert middle["read"] - before["read"] > 2
    assert other_cat(d) == text                        # then cached again
    assert stats(smnt)["read"] - middle["read"] == 2


def feature_table(m, name="f"):
    os.mkdir(m.p("features", name))
    sh(f"echo id > {m.p('features', name, 'keys')}")
    d = m.p("features", name, "data.csv")
    sh(f"printf 'id,v\\n1,a\\n2,b\\n' > {d}")
    return d


def test_online_row_change_of_same_size_seen_at_once(mnt):
    d = feature_table(mnt)
    row = mnt.p("features", "f", "rows", "1")
    for i, v in enumerate("cdefghij"):
        before = other_cat(row)                     # cached: pages and size
        assert other_cat(row) == before and other_size(row) == len(before)
        sh(f"echo '1,{v}' >> {d}")                  # the same size, new value
        assert other_size(row) == len(before)
        assert other_cat(row) == f"id,v\n1,{v}\n"
    other_cat(mnt.p("features", "f", "rows", "2"))
    sh(f"printf 'id,v\\n2,zz\\n' > {d}")            # a replace drops key 1
    assert other_cat(mnt.p("features", "f", "rows", "2")) == "id,v\n2,zz\n"
    r = subprocess.run(["cat", row], capture_output=True)
    assert r.returncode != 0
    other_cat(mnt.p("features", "f", "rows", "2"))
    os.unlink(mnt.p("features", "f", "rows", "2"))  # rm of a key
    assert not os.path.exists(mnt.p("features", "f", "rows", "2"))


def test_second_read_of_unchanged_row_reads_from_page_cache(smnt):
    feature_table(smnt)
    row = smnt.p("features", "f", "rows", "2")
    first = other_cat(row)
    other_cat(row)
    before = stats(smnt)
    assert other_cat(row) == first == "id,v\n2,b\n"
    after = stats(smnt)
    assert after["read"] - before["read"] == 2        # /.stats' own two reads


ORDERS_PIPELINE = """\
source: orders
key: customer_id
as_of: 2026-11-27
features:
  orders: count(order_id)
  spent: sum(amount)
"""


def test_online_row_after_a_refresh_seen_at_once(mnt):
    """Another process keeps rows/KEY cached (its name, attributes and
    pages: stat and read it twice); a refresh merges a new value into the
    row, of the same size or longer: the cached entry's next stat, open
    and read in that process see it at once, size and content."""
    os.mkdir(mnt.p("tables", "orders"))
    orders = mnt.p("tables", "orders", "data.csv")
    sh(f"printf 'order_id,customer_id,amount,order_date\\n"
       f"1,10,5.0,2026-11-01\\n2,11,1.0,2026-11-02\\n' > {orders}")
    d = mnt.p("features", "cust")
    os.mkdir(d)
    with open(os.path.join(d, "pipeline.yaml"), "w") as f:
        f.write(ORDERS_PIPELINE)
    sh(f"echo 1 > {d}/refresh")
    script = """
import os, sys
p = sys.argv[1]
for line in sys.stdin:
    out = []
    for _ in range(2):
        before = os.stat(p).st_size
        with open(p, 'rb') as f:
            data = f.read()
            size = os.fstat(f.fileno()).st_size
        out.append(f"{before} {size} {data.decode().split(chr(10))[1]}")
    print(' | '.join(out), flush=True)
"""
    row = os.path.join(d, "rows", "10")
    reader = subprocess.Popen(["/usr/bin/python3", "-c", script, row],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # Same size while the count has one digit and the sum ends .0;
        # then longer (10 orders, a sum of two digits).
        for n in range(1, 12):
            reader.stdin.write("go\n")
            reader.stdin.flush()
            got = reader.stdout.readline().strip().split(" | ")
            text = other_cat(row)      # a new open: the daemon's answer
            line = text.split("\n")[1]
            fields = line.split(",")
            assert fields[0] == "10" and fields[1] == str(n), text
            assert float(fields[2]) == 5.0 + (n - 1) * 1.0, text
            assert got == [f"{len(text)} {len(text)} {line}"] * 2, (n, got)
            sh(f"echo '{100 + n},10,1.0,2026-11-03' >> {orders}; echo 1 > {d}/refresh")
    finally:
        reader.stdin.close()
        reader.wait()


# ---- owners and modes: the daemon caches them too (engine/store/attrs.c) ----

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def other_stat(path):
    """Mode, owner and group as another process sees them."""
    return sh(f"stat -c '%a %u %g' '{path}'").strip()


def nobody_can_read(path):
    r = subprocess.run(NOBODY + ["cat", path], capture_output=True, text=True)
    assert r.returncode == 0 or "Permission denied" in r.stderr, r.stderr
    return r.returncode == 0


def test_chmod_chown_seen_at_once_by_other_process(mnt):
    """Another process has stat'ed and read a feature table's files (the
    daemon has their owners and modes cached, and the absence of any of
    its own for rows/KEY); each chmod and chown is what that process sees
    next, in stat and in whether it may open."""
    d = feature_table(mnt)
    f = mnt.p("features", "f")
    row = mnt.p("features", "f", "rows", "1")
    for _ in range(2):
        assert other_stat(d) == "644 0 0" and other_stat(row) == "444 0 0"
        assert nobody_can_read(d) and nobody_can_read(row)
    os.chmod(d, 0o600)
    assert other_stat(d) == "600 0 0" and not nobody_can_read(d)
    os.chmod(d, 0o644)
    assert other_stat(d) == "644 0 0" and nobody_can_read(d)
    os.chown(d, 4321, 4322)
    assert other_stat(d) == "644 4321 4322"
    # The table's owner is its rows' owner; its mode guards them.
    os.chown(f, 4321, 4322)
    assert other_stat(f) == "755 4321 4322" and other_stat(row) == "444 4321 4322"
    os.chmod(f, 0o700)
    assert other_stat(f) == "700 4321 4322" and not nobody_can_read(row)
    os.chmod(f, 0o755)
    assert nobody_can_read(row)
    # A key's own mode, set after its absence was cached.
    os.chmod(row, 0o400)
    assert other_stat(row) == "400 4321 4322" and not nobody_can_read(row)
    assert other_stat(mnt.p("features", "f", "rows", "2")) == "444 4321 4322"


def test_owner_and_mode_of_a_remade_object_are_the_new_ones(mnt):
    """A run and a feature table with a chmod and chown, removed and made
    again by another user: the engine drops the old owner and mode in the
    same batch, and the new object shows its maker's, not the cached ones."""
    os.mkdir(mnt.p("experiments", "e"))
    os.chmod(mnt.p("experiments", "e"), 0o1777)
    run = mnt.p("experiments", "e", "runs", "r")
    feat = mnt.p("features", "g")
    os.mkdir(run)
    os.mkdir(feat)
    for p in (run, feat):
        os.chmod(p, 0o700)
        os.chown(p, 4321, 4321)
        assert other_stat(p) == "700 4321 4321"
        sh(f"rm -r '{p}'")
        r = subprocess.run(NOBODY + ["mkdir", p], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        mode, uid, gid = other_stat(p).split()
        assert (uid, gid) == ("65534", "65534") and mode != "700", other_stat(p)
        # Theirs now: they may list it.
        r = subprocess.run(NOBODY + ["ls", p], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_owner_and_mode_kept_across_a_remount():
    with mounted() as m:
        d = feature_table(m)
        row = m.p("features", "f", "rows", "1")
        other_stat(row)
        os.chmod(d, 0o600)
        os.chown(m.p("features", "f"), 4321, 4321)
        before = (other_stat(d), other_stat(row))
        assert before == ("600 0 0", "444 4321 4321")
        m.stop()
        m.start()
        assert (other_stat(d), other_stat(row)) == before
        os.chmod(d, 0o640)
        assert other_stat(d) == "640 0 0"
