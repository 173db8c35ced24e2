"""/features through a real mount: feature tables, merge and replace writes,
point-in-time versions, online lookups, pipelines and refresh, checked with
the tools a user would use and against a plain Python reference."""
import csv
import datetime
import errno
import io
import math
import os
import re
import statistics
import subprocess
import time
import sys
import threading

import pytest

from conftest import expect_errno, last_log, put, read

TOOLS = os.path.join(os.path.dirname(__file__), "..", "..", "tools")

PIPELINE = """\
source: orders                # a table under /tables
key: customer_id              # group by; becomes the feature table's key
as_of: 2026-11-27             # optional reference date; default: refresh time
features:
  total_orders: count(order_id)
  total_spent: sum(amount)
  avg_order_value: avg(amount)
  days_since_last_order: days_since(max(order_date))
  active_days: count_distinct(date(order_date))
  order_amount_std: stddev(amount)              # sample stddev, null for one row
  avg_days_between_orders: days_since_last_order / total_orders
  spent_30d: sum(amount) where order_date >= as_of - 30d
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)


def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    d = tmp_path_factory.mktemp("seed")
    subprocess.run([sys.executable, os.path.join(TOOLS, "gen_orders.py"), str(d),
                    "--orders", "3000", "--customers", "300", "--seed", "7"], check=True)
    return d


@pytest.fixture
def orders(mnt, seed):
    os.mkdir(mnt.p("tables", "orders"))
    assert sh(f"cp {seed}/orders.csv {mnt.p('tables', 'orders', 'data.csv')}").returncode == 0
    return mnt


def reference(orders_csv, as_of, point_in_time=False):
    """The seed pipeline, computed the obvious way.  POINT_IN_TIME: only
    orders on or before as_of exist."""
    by = {}
    with open(orders_csv) as f:
        for r in csv.DictReader(f):
            if point_in_time and datetime.date.fromisoformat(r["order_date"]) > as_of:
                continue
            by.setdefault(r["customer_id"], []).append(r)
    out = {}
    cut = as_of - datetime.timedelta(days=30)
    for cid, rows in by.items():
        amounts = [float(r["amount"]) for r in rows]
        dates = [datetime.date.fromisoformat(r["order_date"]) for r in rows]
        n = len(rows)
        dsl = (as_of - max(dates)).days
        out[cid] = {
            "total_orders": n,
            "total_spent": sum(amounts),
            "avg_order_value": sum(amounts) / n,
            "days_since_last_order": dsl,
            "active_days": len(set(dates)),
            "order_amount_std": statistics.stdev(amounts) if n > 1 else None,
            "avg_days_between_orders": dsl / n,
            "spent_30d": sum((a for a, d in zip(amounts, dates) if d >= cut), 0.0),
        }
    return out


def check_against(text, ref):
    rows = rows_of(text)
    header = rows[0]
    assert header == ["customer_id", "total_orders", "total_spent", "avg_order_value",
                      "days_since_last_order", "active_days", "order_amount_std",
                      "avg_days_between_orders", "spent_30d"]
    got = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert set(got) == set(ref)
    for cid, want in ref.items():
        g = got[cid]
        for k, v in want.items():
            if v is None:
                assert g[k] == "", (cid, k, g[k])
            elif isinstance(v, int):
                assert g[k] == str(v), (cid, k, g[k], v)
            else:
                assert math.isclose(float(g[k]), v, rel_tol=1e-9, abs_tol=1e-9), (cid, k, g[k], v)
    # Integer keys come out in numeric order.
    keys = [int(r[0]) for r in rows[1:]]
    assert keys == sorted(keys)


def make_features(m, name="customer_features", pipeline=PIPELINE):
    os.mkdir(m.p("features", name))
    put(m.p("features", name, "pipeline.yaml"), pipeline)
    return m.p("features", name)


# ---- the tree ----

def test_tree_and_files(mnt):
    assert "features" in os.listdir(mnt.path)
    assert "/features/NAME/" in read(mnt.p("README"))
    os.mkdir(mnt.p("features", "f"))
    assert os.listdir(mnt.p("features")) == ["f"]
    assert sorted(os.listdir(mnt.p("features", "f"))) == sorted(
        ["data.csv", "description", "keys", "lineage", "pipeline.yaml", "refresh",
         "rows", "stats.csv", "tags", "timestamp_key"])
    assert os.path.isdir(mnt.p("features", "f", "rows"))
    assert os.listdir(mnt.p("features", "f", "rows")) == []
    assert read(mnt.p("features", "f", "data.csv")) == ""
    expect_errno(errno.EEXIST, os.mkdir, mnt.p("features", "f"))
    expect_errno(errno.EINVAL, os.mkdir, mnt.p("features", "bad name"))
    assert "invalid name" in last_log(mnt)[1]


# ---- the seed pipeline ----

def test_seed_pipeline_matches_reference(orders, seed):
    m = orders
    d = make_features(m)
    assert read(f"{d}/pipeline.yaml") == PIPELINE
    assert read(f"{d}/keys") == "customer_id\n"
    r = sh(f"echo 1 > {d}/refresh")
    assert r.returncode == 0, r.stderr
    ref = reference(f"{seed}/orders.csv", datetime.date(2026, 11, 27))
    text = read(f"{d}/data.csv")
    check_against(text, ref)
    # Sizes are exact for every tool.
    assert os.stat(f"{d}/data.csv").st_size == len(text.encode())
    assert sh(f"wc -c < {d}/data.csv").stdout.strip() == str(len(text.encode()))
    assert sh(f"tail -1 {d}/data.csv").stdout == text.splitlines(True)[-1]
    assert sh(f"head -3 {d}/data.csv").stdout == "".join(text.splitlines(True)[:3])
    # The report.
    rep = dict(l.split(" ", 1) for l in read(f"{d}/refresh").splitlines())
    assert rep["status"] == "ok"
    assert rep["source"] == "orders"
    assert rep["as_of"] == "2026-11-27"
    assert rep["rows_in"] == "3000"
    assert rep["keys_out"] == str(len(ref))
    assert float(rep["duration_ms"]) >= 0
    assert re.match(r"\d{4}-\d\d-\d\dT", rep["time"])
    path, msg = last_log(m)
    assert path == "/features/customer_features/refresh"
    assert re.fullmatch(r"refreshed: status ok time \S+ source orders as_of 2026-11-27 "
                        rf"rows_in 3000 keys_out {len(ref)} duration_ms [0-9.]+", msg), msg
    # Online lookup: the same line as data.csv.
    line42 = [l for l in text.splitlines() if l.startswith("42,")][0]
    assert read(f"{d}/rows/42") == text.splitlines()[0] + "\n" + line42 + "\n"
    assert sh(f"cat {d}/rows/42").stdout.splitlines()[1] == line42
    assert os.stat(f"{d}/rows/42").st_size == len(read(f"{d}/rows/42"))
    expect_errno(errno.ENOENT, read, f"{d}/rows/999999")
    assert sorted(os.listdir(f"{d}/rows"), key=int) == sorted(ref, key=int)
    # stats.csv: a line per column, counts right.
    stats = rows_of(read(f"{d}/stats.csv"))
    assert stats[0] == ["column", "type", "count", "nulls", "distinct", "min", "max", "mean", "std"]
    byname = {r[0]: r for r in stats[1:]}
    assert byname["total_orders"][1] == "int"
    assert byname["customer_id"][2] == str(len(ref))
    singles = sum(1 for v in ref.values() if v["order_amount_std"] is None)
    assert byname["order_amount_std"][3] == str(singles)
    assert math.isclose(float(byname["total_spent"][7]),
                        statistics.mean(v["total_spent"] for v in ref.values()), rel_tol=1e-9)
    # A second refresh merges the same values: nothing changes.
    assert sh(f"echo now > {d}/refresh").returncode == 0
    assert read(f"{d}/data.csv") == text


def test_refresh_merges_new_orders(orders, seed):
    m = orders
    d = make_features(m)
    put(f"{d}/refresh", "1\n")
    before = rows_of(read(f"{d}/data.csv"))
    # A new customer and a new order for customer 42.
    put(m.p("tables", "orders", "data.csv"),
        "9000001,42,10.5,2026-11-26\n9000002,777777,3.25,2026-11-20\n", append=True)
    put(f"{d}/refresh", "1")
    after = {r[0]: r for r in rows_of(read(f"{d}/data.csv"))[1:]}
    assert len(after) == (len(before) - 1) + 1     # one new key; 42 existed
    assert after["777777"][1:3] == ["1", "3.25"]
    assert after["777777"][6] == ""             # stddev of one order is null
    old42 = {r[0]: r for r in before[1:]}["42"]
    assert int(after["42"][1]) == int(old42[1]) + 1
    assert after["42"][4] == "1"                # days since 2026-11-26


def test_refresh_as_of_override_and_versions(orders, seed):
    m = orders
    os.mkdir(m.p("features", "cf"))
    d = m.p("features", "cf")
    put(f"{d}/keys", "customer_id\n")
    put(f"{d}/timestamp_key", "as_of_date\n")
    put(f"{d}/pipeline.yaml", PIPELINE)
    put(f"{d}/refresh", "2026-06-01\n")
    put(f"{d}/refresh", "2026-11-27\n")
    ref_now = reference(f"{seed}/orders.csv", datetime.date(2026, 11, 27))
    text = read(f"{d}/data.csv")
    rows = rows_of(text)
    assert rows[0][-1] == "as_of_date"
    assert all(r[-1] == "2026-11-27" for r in rows[1:])
    # As of a date between the refreshes: the June version.
    june = rows_of(read(f"{d}/rows/42@2026-07-01"))[1]
    assert june[-1] == "2026-06-01"
    ref_june = reference(f"{seed}/orders.csv", datetime.date(2026, 6, 1))
    assert int(june[4]) == ref_june["42"]["days_since_last_order"]
    assert rows_of(read(f"{d}/rows/42"))[1][4] == str(ref_now["42"]["days_since_last_order"])
    expect_errno(errno.ENOENT, read, f"{d}/rows/42@2026-01-01")


def test_point_in_time_backfill(orders, seed):
    """With `timestamp:` a refresh as of a past date sees only the orders
    known then: the history is what a refresh on each date would have
    given."""
    m = orders
    os.mkdir(m.p("features", "daily"))
    d = m.p("features", "daily")
    put(f"{d}/keys", "customer_id\n")
    put(f"{d}/timestamp_key", "as_of_date\n")
    put(f"{d}/pipeline.yaml", PIPELINE.replace("key: customer_id ", "key: customer_id\ntimestamp: order_date "))
    for day in ("2026-03-01", "2026-11-27"):
        put(f"{d}/refresh", day + "\n")
    ref_march = reference(f"{seed}/orders.csv", datetime.date(2026, 3, 1), point_in_time=True)
    assert "rows_in 3000" in read(f"{d}/refresh")
    got = {}
    for cid in list(ref_march)[:40]:
        row = rows_of(read(f"{d}/rows/{cid}@2026-04-01"))
        got[cid] = row
        assert row[1][-1] == "2026-03-01"
        assert int(row[1][1]) == ref_march[cid]["total_orders"]
        assert int(row[1][4]) == ref_march[cid]["days_since_last_order"] >= 0
        assert math.isclose(float(row[1][2]), ref_march[cid]["total_spent"], rel_tol=1e-9)
    # Customers whose first order came after March have no March version.
    ref_now = reference(f"{seed}/orders.csv", datetime.date(2026, 11, 27))
    late = [c for c in ref_now if c not in ref_march]
    assert late                 # the seed has customers who first ordered after March
    expect_errno(errno.ENOENT, read, f"{d}/rows/{late[0]}@2026-04-01")
    assert rows_of(read(f"{d}/rows/{late[0]}"))[1][-1] == "2026-11-27"
    expect_errno(errno.EINVAL, put, f"{d}/pipeline.yaml",
                 PIPELINE.replace("key: customer_id ", "key: customer_id\ntimestamp: amount "))
    assert "timestamp: column 'amount' is float, not a date or timestamp" in last_log(m)[1]


# ---- writes: merge, replace, keys ----

def test_merge_replace_and_new_columns(mnt):
    os.mkdir(mnt.p("features", "f"))
    d = mnt.p("features", "f", "data.csv")
    put(d, "id,a\n2,y\n1,x\n")
    assert read(d) == "id,a\n1,x\n2,y\n"
    assert read(mnt.p("features", "f", "keys")) == "id\n"
    # >> upserts by key; a new column is null for old rows.
    assert sh(f"printf 'id,b\\n2,z\\n3,w\\n' >> {d}").returncode == 0
    assert read(d) == "id,a,b\n1,x,\n2,y,z\n3,,w\n"
    # Rows without a header follow the table's columns.
    assert sh(f"echo 1,xx,q >> {d}").returncode == 0
    assert read(d) == "id,a,b\n1,xx,q\n2,y,z\n3,,w\n"
    assert os.stat(d).st_size == len(read(d))
    # > replaces everything, columns too.
    assert sh(f"printf 'id,c\\n5,\"q,1\"\\n' > {d}").returncode == 0
    assert read(d) == 'id,c\n5,"q,1"\n'
    assert os.stat(d).st_size == len(read(d))
    assert os.listdir(mnt.p("features", "f", "rows")) == ["5"]
    # Empty it.
    assert sh(f": > {d}").returncode == 0
    # An O_TRUNC open with no write applies at the release, which FUSE
    # sends a moment after close() returns (docs/reference.md).
    for _ in range(200):
        if read(d) == "id,c\n":
            break
        time.sleep(0.01)
    assert read(d) == "id,c\n"
    assert os.listdir(mnt.p("features", "f", "rows")) == []


def test_composite_keys(mnt):
    os.mkdir(mnt.p("features", "f"))
    f = mnt.p("features", "f")
    put(f"{f}/keys", "store\nitem\n")
    assert read(f"{f}/keys") == "store\nitem\n"
    put(f"{f}/data.csv", "item,store,qty\nx,1,5\ny,1,6\nx,2,7\n")
    put(f"{f}/data.csv", "store,item,qty\n1,x,50\n", append=True)
    assert read(f"{f}/rows/1,x") == "item,store,qty\nx,1,50\n"
    assert read(f"{f}/rows/2,x") == "item,store,qty\nx,2,7\n"
    expect_errno(errno.ENOENT, read, f"{f}/rows/3,x")
    expect_errno(errno.ENOENT, read, f"{f}/rows/1")
    assert sorted(os.listdir(f"{f}/rows")) == ["1,x", "1,y", "2,x"]
    # Keys cannot change once there are rows.
    expect_errno(errno.EINVAL, put, f"{f}/keys", "item\n")
    assert "only while it is empty" in last_log(mnt)[1]
    assert read(f"{f}/keys") == "store\nitem\n"


def test_bad_writes_change_nothing(mnt):
    os.mkdir(mnt.p("features", "f"))
    d = mnt.p("features", "f", "data.csv")
    put(d, "id,v\n1,a\n2,b\n")
    good = read(d)
    cases = [
        # duplicate key in one > write: both lines named
        (False, "id,v\n7,a\n8,b\n7,c\n", "line 4: duplicate key '7' (first on line 2)"),
        # no key column: on merge no header but a row, of 3 fields
        (True, "v,w,x\nq,r,s\n", "line 1, column 3: expected 2 fields, found 3"),
        # a null key
        (True, "id,v\n3,c\n,d\n", "line 3, column 1: key 'id' is empty"),
        # extra fields on merge
        (True, "id,v\n3,c,extra\n", "line 2, column 3: expected 2 fields, found 3"),
        # duplicate column
        (True, "id,v,v\n3,c,d\n", "duplicate column 'v'"),
        # null key in a replace
        (False, "id,v\n,a\n", "key 'id' is empty"),
    ]
    for append, text, msg in cases:
        expect_errno(errno.EINVAL, put, d, text, append=append)
        path, logged = last_log(mnt)
        assert path == "/features/f/data.csv"
        assert msg in logged, logged
        assert read(d) == good
    # bash's echo sees the error of write() too.
    r = sh(f"printf 'id,v\\n1,a\\n1,b\\n' > {d}")
    assert r.returncode != 0
    assert read(d) == good


def test_timestamp_key_versions(mnt):
    os.mkdir(mnt.p("features", "f"))
    f = mnt.p("features", "f")
    put(f"{f}/timestamp_key", "ts\n")
    assert read(f"{f}/timestamp_key") == "ts\n"
    put(f"{f}/data.csv", "id,ts,v\n1,2026-01-01,10\n1,2026-03-01,30\n2,2026-02-01,20\n")
    put(f"{f}/data.csv", "id,ts,v\n1,2026-02-01,25\n", append=True)
    # data.csv: the latest version of each key.
    assert read(f"{f}/data.csv") == "id,ts,v\n1,2026-03-01,30\n2,2026-02-01,20\n"
    assert read(f"{f}/rows/1") == "id,ts,v\n1,2026-03-01,30\n"
    # As of a time: latest at or before it.
    assert read(f"{f}/rows/1@2026-02-15").splitlines()[1] == "1,2026-02-01,25"
    assert read(f"{f}/rows/1@2026-02-01").splitlines()[1] == "1,2026-02-01,25"
    assert read(f"{f}/rows/1@2026-01-31T23:59:59Z").splitlines()[1] == "1,2026-01-01,10"
    expect_errno(errno.ENOENT, read, f"{f}/rows/1@2025-12-31")
    # A version needs its time; the same (key, time) twice in a > is a duplicate.
    expect_errno(errno.EINVAL, put, f"{f}/data.csv", "id,ts,v\n3,,1\n", append=True)
    assert "timestamp_key 'ts'" in last_log(mnt)[1]
    expect_errno(errno.EINVAL, put, f"{f}/data.csv", "id,ts,v\n3,2026-01-01,1\n3,2026-01-01,2\n")
    assert "duplicate key" in last_log(mnt)[1]
    expect_errno(errno.EINVAL, put, f"{f}/timestamp_key", "v\n")
    assert read(f"{f}/data.csv") == "id,ts,v\n1,2026-03-01,30\n2,2026-02-01,20\n"
    # rm of a key removes every version.
    os.unlink(f"{f}/rows/1")
    expect_errno(errno.ENOENT, read, f"{f}/rows/1@2026-02-15")
    assert read(f"{f}/data.csv") == "id,ts,v\n2,2026-02-01,20\n"
    assert os.stat(f"{f}/data.csv").st_size == len(read(f"{f}/data.csv"))


def test_description_tags_lineage(mnt):
    os.mkdir(mnt.p("features", "f"))
    f = mnt.p("features", "f")
    assert sh(f"echo 'customer behaviour from orders' > {f}/description").returncode == 0
    assert read(f"{f}/description") == "customer behaviour from orders\n"
    put(f"{f}/tags", "team=growth\nsource=orders\n")
    assert read(f"{f}/tags") == "team=growth\nsource=orders\n"
    expect_errno(errno.EINVAL, put, f"{f}/tags", "no equals sign\n")
    assert "key=value" in last_log(mnt)[1]
    assert read(f"{f}/tags") == "team=growth\nsource=orders\n"
    assert read(f"{f}/lineage") == ""
    expect_errno(errno.EACCES, put, f"{f}/lineage", "x\n")


# ---- pipeline errors ----

def test_pipeline_errors_name_line_and_column(orders):
    m = orders
    os.mkdir(m.p("tables", "people"))
    put(m.p("tables", "people", "data.csv"), "customer_id,name\n1,ann\n")
    d = make_features(m)
    cases = [
        (PIPELINE.replace("source: orders ", "source: ordrs  "),
         "line 1, column 9: source: no table 'ordrs' under /tables"),
        (PIPELINE.replace("sum(amount)\n", "sum(amont)\n"),
         "line 6, column 20: feature 'total_spent': unknown column 'amont'"),
        (PIPELINE.replace("avg(amount)", "avg(order_date)"),
         "line 7, column 24: feature 'avg_order_value': avg needs a number, but column 'order_date' is date"),
        (PIPELINE.replace("total_orders: count(order_id)", "total_orders: count(order_id) + avg_days_between_orders"),
         "line 11, column 52: feature 'avg_days_between_orders': 'total_orders' depends on itself"),
        (PIPELINE.replace("key: customer_id ", "key: customer   "),
         "line 2, column 6: key: no column 'customer' in table 'orders'"),
        (PIPELINE.replace("stddev(amount)", "stdev(amount)"),
         "line 10, column 21: feature 'order_amount_std': unknown function 'stdev'"),
        (PIPELINE + "  broken: sum(amount\n", "line 13, column 21: feature 'broken': expected ')' or ','"),
        ("source: orders\nkey: customer_id\nfeatures: [a, b]\n",
         "line 3, column 11: features must be a map of name: expression"),
        ("source: orders\nkey: customer_id\nfeatures:\n  a: count(*)\n  a: sum(amount)\n",
         "line 5, column 3: duplicate key 'a' (first on line 4)"),
        ("source: orders\n  key: [\n", "line 2, column 6: mapping values are not allowed in this context"),
    ]
    for text, msg in cases:
        expect_errno(errno.EINVAL, put, f"{d}/pipeline.yaml", text)
        path, logged = last_log(m)
        assert path == "/features/customer_features/pipeline.yaml"
        assert logged.startswith(msg), (msg, logged)
        assert read(f"{d}/pipeline.yaml") == PIPELINE
    # A string aggregate over a table of strings.
    p2 = "source: people\nkey: customer_id\nfeatures:\n  n: sum(name)\n"
    os.mkdir(m.p("features", "p"))
    expect_errno(errno.EINVAL, put, m.p("features", "p", "pipeline.yaml"), p2)
    assert last_log(m) == ("/features/p/pipeline.yaml",
                           "line 4, column 10: feature 'n': sum needs a number, but column 'name' is string")
    assert read(m.p("features", "p", "pipeline.yaml")) == ""


def test_refresh_errors(orders):
    m = orders
    os.mkdir(m.p("features", "empty"))
    e = m.p("features", "empty")
    expect_errno(errno.EINVAL, put, f"{e}/refresh", "1\n")
    assert "no pipeline.yaml" in last_log(m)[1]
    r = sh(f"echo 1 > {e}/refresh")
    assert r.returncode != 0      # the error reaches write(): even echo sees it
    d = make_features(m)
    expect_errno(errno.EINVAL, put, f"{d}/refresh", "please\n")
    assert "write 1" in last_log(m)[1]
    assert read(f"{d}/data.csv") == ""
    # The source table drops a column the pipeline needs: refresh fails,
    # says where, and the report says failed.
    put(m.p("tables", "orders", "data.csv"), "order_id,customer_id,order_date\n1,1,2026-01-01\n")
    expect_errno(errno.EINVAL, put, f"{d}/refresh", "1\n")
    assert "unknown column 'amount'" in last_log(m)[1]
    assert read(f"{d}/data.csv") == ""


def test_refresh_while_source_is_replaced(orders, seed, tmp_path):
    """A refresh racing with replaces of its source either merges one
    whole version of the source or fails with EAGAIN and merges nothing."""
    m = orders
    d = make_features(m)
    src = f"{seed}/orders.csv"
    lines = open(src).read().splitlines(True)
    half = tmp_path / "half.csv"
    half.write_text("".join(lines[:1501]))
    ref_full = reference(src, datetime.date(2026, 11, 27))
    ref_half = reference(str(half), datetime.date(2026, 11, 27))
    stop = threading.Event()
    errors = []

    def replacer():
        i = 0
        while not stop.is_set():
            r = sh(f"cp {half if i % 2 else src} {m.p('tables', 'orders', 'data.csv')}")
            if r.returncode:
                errors.append(r.stderr)
            i += 1
            # Every fourth replace a pause, so that a refresh can win the
            # race at times even where refreshes are slow (ASan).
            if i % 4 == 0:
                stop.wait(0.5)

    t = threading.Thread(target=replacer)
    t.start()
    outcomes = []
    try:
        for _ in range(12):
            f = m.p("features", "customer_features")
            sh(f"rm -rf {f}")
            make_features(m)
            try:
                put(f"{d}/refresh", "1\n")
                outcomes.append("ok")
                text = read(f"{d}/data.csv")
                n = len(text.splitlines()) - 1
                assert n in (len(ref_full), len(ref_half))
                check_against(text, ref_full if n == len(ref_full) else ref_half)
            except OSError as ex:
                assert ex.errno == errno.EAGAIN, ex
                outcomes.append("again")
                assert "changed during the refresh; nothing merged" in last_log(m)[1]
                assert read(f"{d}/data.csv") == ""
                assert "status failed" in read(f"{d}/refresh")
    finally:
        stop.set()
        t.join()
    assert not errors
    assert len(outcomes) == 12 and "ok" in outcomes, outcomes


def test_rm_r_and_rmdir(orders):
    m = orders
    d = make_features(m)
    put(f"{d}/refresh", "1\n")
    assert sh(f"rm -r {d}").returncode == 0
    assert os.listdir(m.p("features")) == []
    d = make_features(m)
    put(f"{d}/refresh", "1\n")
    os.rmdir(d)
    assert os.listdir(m.p("features")) == []
    # Recreated: empty, no leftovers.
    os.mkdir(d)
    assert read(f"{d}/data.csv") == ""
    assert read(f"{d}/pipeline.yaml") == ""


def test_survives_restart(orders, seed):
    m = orders
    d = make_features(m)
    put(f"{d}/refresh", "1\n")
    text = read(f"{d}/data.csv")
    m.stop()
    m.start()
    assert read(f"{d}/data.csv") == text
    assert read(f"{d}/pipeline.yaml") == PIPELINE
    assert "status ok" in read(f"{d}/refresh")
