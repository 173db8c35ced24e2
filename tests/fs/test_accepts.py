"""Input the platform used to take silently and get wrong (issue 18,
points 6 and 7), through a real mount: a UTF-8 byte order mark before a
CSV, feature keys that contradict the pipeline, symlinks where none is
kept, numbers that do not fit, truncate and hard links.  Each is refused
with its errno and a /log line, or does what docs/reference.md says."""
import errno
import json
import os
import subprocess

import pytest

from test_endpoints import RESPONSE_HEADER, exchange, predict, serving, table
from test_tables import expect_errno, last_log, put, read

BOM = b"\xef\xbb\xbf"


def write_pieces(path, *pieces, append=False):
    """Each piece in its own write(), then close()."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC))
    try:
        for p in pieces:
            assert os.write(fd, p) == len(p)
    finally:
        os.close(fd)


# ---- a byte order mark (Excel's "CSV UTF-8") ----

@pytest.mark.parametrize("pieces", [
    [BOM + b"id,x\n1,2\n"],
    [b"\xef", b"\xbb", b"\xbfid,x\n1,2\n"],        # split across writes
    [b"\xef\xbb", b"\xbfid,x\n", b"1,2\n"],
])
def test_bom_stripped_from_table(mnt, pieces):
    os.mkdir(mnt.p("tables", "t"))
    write_pieces(mnt.p("tables", "t", "data.csv"), *pieces)
    assert read(mnt.p("tables", "t", "schema")) == b"id int\nx int\n"
    assert read(mnt.p("tables", "t", "data.csv")) == b"id,x\n1,2\n"
    # An Excel file appended: its header (after the mark) is the table's.
    write_pieces(mnt.p("tables", "t", "data.csv"), BOM + b"id,x\n3,4\n", append=True)
    assert read(mnt.p("tables", "t", "data.csv")) == b"id,x\n1,2\n3,4\n"


def test_bom_only_at_the_start(mnt):
    """A mark later in the stream is data; U+FEC0 (EF BB 80) is a letter."""
    os.mkdir(mnt.p("tables", "t"))
    write_pieces(mnt.p("tables", "t", "data.csv"), b"id,s\n1,", BOM + b"x\n")
    assert read(mnt.p("tables", "t", "data.csv")) == b"id,s\n1," + BOM + b"x\n"
    os.mkdir(mnt.p("tables", "u"))
    write_pieces(mnt.p("tables", "u", "data.csv"), b"\xef\xbb", b"\x80d\n1\n")
    assert read(mnt.p("tables", "u", "schema")) == "\ufec0d int\n".encode()


def test_bom_stripped_by_cp_and_from_features(mnt, tmp_path):
    src = tmp_path / "excel.csv"
    src.write_bytes(BOM + b"customer_id,f1\r\n1,10\r\n2,20\r\n")
    os.mkdir(mnt.p("tables", "t"))
    subprocess.run(["cp", str(src), mnt.p("tables", "t", "data.csv")], check=True)
    assert read(mnt.p("tables", "t", "data.csv")) == b"customer_id,f1\n1,10\n2,20\n"
    os.mkdir(mnt.p("features", "f"))
    subprocess.run(["cp", str(src), mnt.p("features", "f", "data.csv")], check=True)
    assert read(mnt.p("features", "f", "keys")) == b"customer_id\n"
    assert read(mnt.p("features", "f", "rows", "2")) == b"customer_id,f1\n2,20\n"
    write_pieces(mnt.p("features", "f", "data.csv"), b"\xef\xbb", b"\xbfcustomer_id,f1\n2,21\n",
                 append=True)
    assert read(mnt.p("features", "f", "rows", "2")) == b"customer_id,f1\n2,21\n"


def test_bom_stripped_from_requests(mnt):
    serving(mnt, traffic="m@1 100\n")
    want = predict(mnt, "customer_id\n5\n6\n")
    assert want.splitlines()[0] == RESPONSE_HEADER and len(table(want)) == 2
    assert predict(mnt, BOM + b"customer_id\n5\n6\n") == want
    out = json.loads(predict(mnt, BOM + b'{"inputs": {"customer_id": [5, 6]}}'))
    assert [str(p) for p in out["predictions"]] == [r["prediction"] for r in table(want)]
    score = mnt.p("models", "m", "versions", "1", "score")
    plain = exchange(score, "customer_id\n5\n6\n")
    fd = os.open(score, os.O_RDWR)
    try:
        for piece in (b"\xef", b"\xbb\xbf", b"customer_id\n5\n", b"6\n"):
            os.write(fd, piece)
        got = b""
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            got += b
    finally:
        os.close(fd)
    assert got.decode() == plain and len(table(plain)) == 2


# ---- feature keys against pipeline.yaml ----

def test_keys_must_agree_with_pipeline(mnt):
    os.mkdir(mnt.p("tables", "orders"))
    put(mnt.p("tables", "orders", "data.csv"),
        "order_id,customer_id,amount\n1,10,2.5\n2,10,3.5\n3,11,1\n")
    d = mnt.p("features", "f")
    os.mkdir(d)
    put(d + "/pipeline.yaml", "source: orders\nkey: customer_id\nfeatures:\n  n: count(*)\n")
    assert read(d + "/keys") == b"customer_id\n"
    for text in ("order_id\n", "customer_id\norder_id\n"):
        expect_errno(errno.EINVAL, put, d + "/keys", text)
        path, msg = last_log(mnt)
        assert path == "/features/f/keys"
        want = text.strip().replace("\n", ", ")
        assert msg.startswith("keys: '%s' contradicts pipeline.yaml's key 'customer_id'" % want), msg
        assert read(d + "/keys") == b"customer_id\n"
    put(d + "/keys", "customer_id\n")                 # the same key is fine
    put(d + "/refresh", "1\n")
    assert read(d + "/data.csv") == b"customer_id,n\n10,2\n11,1\n"
    # Emptied, and without a pipeline, the key may be any column.
    put(d + "/data.csv", "")
    expect_errno(errno.EINVAL, put, d + "/keys", "n\n")
    # truncate applies before it returns (`: >` only at the release, a
    # moment after close(): racing the next write).
    os.truncate(d + "/pipeline.yaml", 0)
    put(d + "/keys", "n\n")
    assert read(d + "/keys") == b"n\n"


# ---- symlinks: only ln -sfn's rename step is held ----

def test_symlink_names_a_run_does_not_take(mnt):
    os.makedirs(mnt.p("experiments", "e", "runs", "a"))
    os.mkdir(mnt.p("experiments", "e", "runs", "r"))
    run = mnt.p("experiments", "e", "runs", "r")
    before = sorted(os.listdir(run))
    for name in ("notes", "Cu-abcde", "Cuabcdefg"):
        expect_errno(errno.EINVAL, os.symlink, "../a", os.path.join(run, name))
        assert last_log(mnt) == ("/experiments/e/runs/r/" + name,
                                 "'%s': only 'parent' can be a link here" % name)
        assert not os.path.lexists(os.path.join(run, name))
    assert sorted(os.listdir(run)) == before
    # coreutils' temporary name is held for the rename that follows.
    os.symlink("../a", os.path.join(run, "CuX9abQz"))
    os.rename(os.path.join(run, "CuX9abQz"), os.path.join(run, "parent"))
    assert os.readlink(os.path.join(run, "parent")) == "../a"
    assert not os.path.lexists(os.path.join(run, "CuX9abQz"))
    # ln -sfn over it, which takes that path.
    os.mkdir(mnt.p("experiments", "e", "runs", "b"))
    out = subprocess.run(["ln", "-sfn", "../b", "parent"], cwd=run, capture_output=True, text=True)
    assert out.returncode == 0, out
    assert os.readlink(os.path.join(run, "parent")) == "../b"


def test_symlink_where_no_links_are(mnt):
    os.mkdir(mnt.p("tables", "t"))
    expect_errno(errno.EPERM, os.symlink, "data.csv", mnt.p("tables", "t", "CuX9abQz"))
    assert last_log(mnt) == ("/tables/t/CuX9abQz", "no links can be made here")
    assert sorted(os.listdir(mnt.p("tables", "t"))) == ["data.csv", "schema", "stats.csv"]


# ---- numbers that do not fit ----

NONFINITE = "is not a finite number: nan, inf and magnitudes beyond 1.8e308 (like 1e400) " \
            "are refused in a numeric column"
BEYOND_INT64 = "is beyond the 64-bit integer range"


@pytest.mark.parametrize("rows, where, value, why", [
    ("1,1e400\n", "line 2, column 2", "1e400", NONFINITE),           # a new column
    ("1,2.5\n2,-1E999\n", "line 3, column 2", "-1E999", NONFINITE),  # a float column
    ("1,2.5\n2,nan\n", "line 3, column 2", "nan", NONFINITE),
    ("1,7\n2,-inf\n", "line 3, column 2", "-inf", NONFINITE),        # an int column
    ("1,7\n2,99999999999999999999\n", "line 3, column 2", "99999999999999999999", BEYOND_INT64),
    ("1,-9223372036854775809\n", "line 2, column 2", "-9223372036854775809", BEYOND_INT64),
])
def test_numbers_that_do_not_fit_are_refused(mnt, rows, where, value, why):
    os.mkdir(mnt.p("tables", "t"))
    d = mnt.p("tables", "t", "data.csv")
    put(d, "id,x\n0,\n")
    before, schema = read(d), read(mnt.p("tables", "t", "schema"))
    expect_errno(errno.EINVAL, put, d, "id,x\n" + rows)
    path, msg = last_log(mnt)
    assert path == "/tables/t/data.csv"
    assert msg.startswith("%s: '%s' %s" % (where, value, why)), msg
    assert read(d) == before and read(mnt.p("tables", "t", "schema")) == schema
    expect_errno(errno.EINVAL, put, d, rows, True)               # >> the same
    assert read(d) == before


def test_numbers_that_fit_or_are_text(mnt):
    os.mkdir(mnt.p("tables", "t"))
    d = mnt.p("tables", "t", "data.csv")
    # nan and inf alone (any sign) make a new column text; an int64's
    # edges are ints; a float column takes an integer beyond int64.
    put(d, "w,i,f\nnan,9223372036854775807,1.5\n-inf,-9223372036854775808,"
           "123456789012345678901234567890\n")
    assert read(mnt.p("tables", "t", "schema")) == b"w string\ni int\nf float\n"
    assert read(d).splitlines()[2] == b"-inf,-9223372036854775808,123456789012345678901234567890"
    # A text column takes anything.
    put(d, "1e400,1,2\n", append=True)
    assert read(d).splitlines()[-1] == b"1e400,1,2"
    # A declared float column refuses nan and inf too; a declared string
    # column keeps 1e400 as written.
    os.mkdir(mnt.p("tables", "s"))
    put(mnt.p("tables", "s", "schema"), "x float\ny string\n")
    expect_errno(errno.EINVAL, put, mnt.p("tables", "s", "data.csv"), "x,y\ninf,1\n")
    assert last_log(mnt)[1].startswith("line 2, column 1: 'inf' " + NONFINITE)
    put(mnt.p("tables", "s", "data.csv"), "x,y\n1e300,1e400\n")
    assert read(mnt.p("tables", "s", "data.csv")) == b"x,y\n1e300,1e400\n"


def test_schema_over_stored_text_refuses_nonfinite(mnt):
    os.mkdir(mnt.p("tables", "t"))
    put(mnt.p("tables", "t", "data.csv"), "x\nnan\n")
    expect_errno(errno.EINVAL, put, mnt.p("tables", "t", "schema"), "x float\n")
    assert "'nan' is not a valid float" in last_log(mnt)[1]
    assert read(mnt.p("tables", "t", "schema")) == b"x string\n"


def test_feature_values_that_do_not_fit(mnt):
    os.mkdir(mnt.p("features", "f"))
    d = mnt.p("features", "f", "data.csv")
    put(d, "k,x\n1,2.5\n")
    for value, why in (("1e400", NONFINITE), ("inf", NONFINITE)):
        expect_errno(errno.EINVAL, put, d, "k,x\n2,%s\n" % value, True)
        assert last_log(mnt) == ("/features/f/data.csv", "line 2, column 2: '%s' %s" % (value, why))
    expect_errno(errno.EINVAL, put, d, "k,x\n99999999999999999999,1\n", True)
    assert last_log(mnt)[1].startswith("line 2, column 1: '99999999999999999999' " + BEYOND_INT64)
    assert read(d) == b"k,x\n1,2.5\n"


def test_metric_beyond_a_double(mnt):
    os.makedirs(mnt.p("experiments", "e", "runs", "r"))
    f = mnt.p("experiments", "e", "runs", "r", "metrics", "loss")
    put(f, "0.5\n", append=True)
    for value in ("1e400", "-1e999 3"):
        expect_errno(errno.EINVAL, put, f, value + "\n", True)
        assert last_log(mnt) == ("/experiments/e/runs/r/metrics/loss",
                                 "line 1: '%s' is beyond the range of a double (+-1.8e308)"
                                 % value.split()[0])
    # NaN and inf written as such are values, as MLflow logs them.
    put(f, "nan 1\n-inf 2\n1e308 3\n", append=True)
    assert [l.split()[1:] for l in read(f).decode().splitlines()] == \
        [["0.5", "0"], ["nan", "1"], ["-inf", "2"], ["1e+308", "3"]]


# ---- truncate and hard links ----

def test_artifact_size_limit(mnt):
    os.makedirs(mnt.p("experiments", "e", "runs", "r"))
    f = mnt.p("experiments", "e", "runs", "r", "artifacts", "model.bin")
    put(f, "abc")
    limit = 1 << 44                                    # 16 TiB, ext4's largest file
    for size in ((1 << 63) - 1, limit + 1):
        expect_errno(errno.EFBIG, os.truncate, f, size)
        path, msg = last_log(mnt)
        assert path == "/experiments/e/runs/r/artifacts/model.bin"
        assert msg.startswith("a file ending at byte %d is past the largest file" % size), msg
        assert os.stat(f).st_size == 3
    out = subprocess.run(["truncate", "-s", "9223372036854775807", f], capture_output=True, text=True)
    assert out.returncode != 0 and "too large" in out.stderr, out
    # Up to the limit a file is sparse, and st_blocks counts its size.
    os.truncate(f, limit)
    st = os.stat(f)
    assert (st.st_size, st.st_blocks) == (limit, limit // 512)
    fd = os.open(f, os.O_RDWR)
    try:
        assert os.pread(fd, 4, limit - 2) == b"\0\0"
        expect_errno(errno.EFBIG, os.pwrite, fd, b"x", limit)
    finally:
        os.close(fd)
    os.truncate(f, 1)
    assert read(f) == b"a"


def test_truncate_a_metric(mnt):
    os.makedirs(mnt.p("experiments", "e", "runs", "r"))
    f = mnt.p("experiments", "e", "runs", "r", "metrics", "loss")
    put(f, "0.5 1\n", append=True)
    before = read(f)
    expect_errno(errno.EPERM, os.truncate, f, 0)
    assert last_log(mnt) == ("/experiments/e/runs/r/metrics/loss",
                             "a metric is append-only: its points cannot be removed "
                             "(rm -r the run, or log under another key)")
    assert read(f) == before
    put(f, "0.25 2\n")                                  # '>' still appends
    assert len(read(f).splitlines()) == 2


def test_hard_links_refused(mnt, tmp_path):
    os.mkdir(mnt.p("tables", "t"))
    put(mnt.p("tables", "t", "data.csv"), "a\n1\n")
    os.makedirs(mnt.p("experiments", "e", "runs", "r"))
    art = mnt.p("experiments", "e", "runs", "r", "artifacts")
    put(os.path.join(art, "x"), "1")
    for src, dst, logged in (
            (mnt.p("tables", "t", "data.csv"), mnt.p("tables", "t", "copy.csv"), "/tables/t/copy.csv"),
            (os.path.join(art, "x"), os.path.join(art, "y"), "/experiments/e/runs/r/artifacts/y")):
        expect_errno(errno.EPERM, os.link, src, dst)
        assert last_log(mnt) == (logged, "hard links are not supported "
                                         "(ln -s makes an alias or a run's parent)")
        assert not os.path.exists(dst)
    out = subprocess.run(["ln", os.path.join(art, "x"), os.path.join(art, "z")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "Operation not permitted" in out.stderr
