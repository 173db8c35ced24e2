"""Control files through a real mount: a refresh runs as a job on the
session's runner (-o train_workers=N) while close() still waits for it and
returns its error; the option is checked."""
import errno
import os
import subprocess

import pytest

from conftest import MLFS, Mount, SANITIZER

PIPELINE = """\
source: orders
key: customer_id
as_of: 2026-11-27
features:
  total_orders: count(order_id)
  total_spent: sum(amount)
"""

ORDERS = ("order_id,customer_id,amount,order_date\n"
          "1,10,5.5,2026-11-01\n"
          "2,10,4.5,2026-11-02\n"
          "3,11,1.0,2026-11-03\n")


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


@pytest.fixture
def workers_mnt(tmp_path):
    """A mount with two job threads, the option given with allow_other."""
    (tmp_path / "mnt").mkdir()
    m = Mount(str(tmp_path / "store"), str(tmp_path / "mnt"), str(tmp_path / "err"),
              opts=("allow_other,train_workers=2",)).start()
    yield m
    m.stop()
    assert not SANITIZER.search(m.stderr()), m.stderr()


def make_feature(m):
    os.mkdir(m.p("tables", "orders"))
    write(m.p("tables", "orders", "data.csv"), ORDERS)
    d = m.p("features", "cust")
    os.mkdir(d)
    write(os.path.join(d, "pipeline.yaml"), PIPELINE)
    return d


def test_refresh_has_merged_when_close_returns(workers_mnt):
    d = make_feature(workers_mnt)
    write(os.path.join(d, "refresh"), "1\n")
    # No wait, no retry: close() answered once the job merged.
    with open(os.path.join(d, "rows", "10")) as f:
        row = f.read()
    assert "2" in row.split("\n")[1].split(",") and "10.0" in row
    with open(os.path.join(d, "refresh")) as f:
        assert "status ok" in f.read()
    assert "refreshed: " in workers_mnt.log()


def test_refresh_error_comes_back_from_close(workers_mnt):
    d = make_feature(workers_mnt)
    # The source loses a column the pipeline needs after the write was
    # checked: the job fails and close() says so.
    fd = os.open(os.path.join(d, "refresh"), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, b"1\n")
        write(workers_mnt.p("tables", "orders", "data.csv"),
              "order_id,customer_id,order_date\n1,1,2026-01-01\n")
    finally:
        with pytest.raises(OSError) as e:
            os.close(fd)
    assert e.value.errno == errno.EINVAL
    last = workers_mnt.log().strip().split("\n")[-1]
    assert "/features/cust/refresh: " in last and "unknown column 'amount'" in last
    with open(os.path.join(d, "data.csv")) as f:
        assert f.read() == ""


@pytest.mark.parametrize("value", ["0", "x", "65", ""])
def test_bad_train_workers_is_refused(tmp_path, value):
    os.mkdir(tmp_path / "mnt")
    r = subprocess.run([MLFS, "mount", str(tmp_path / "store"), str(tmp_path / "mnt"),
                        "-f", "-o", "train_workers=" + value],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "train_workers must be 1 to 64" in r.stderr
    assert not os.path.ismount(tmp_path / "mnt")
