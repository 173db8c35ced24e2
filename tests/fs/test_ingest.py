"""The one CSV front end of tables and feature tables: both kinds decide
the header by the same rule (docs/reference.md, "CSV writes") and fail bad
text the same way (errno from write(), the line in /log, nothing applied).

The rule: with > (O_TRUNC), or into a table without columns, the first line
is the header.  With >> (blanks around fields and a byte order mark
dropped), the first line is a table's header when every field names one of
its columns, a feature table's when its fields hold all the key columns and
the timestamp key; otherwise it is the first row.  A table's header on >>
must repeat its columns in order (some of them, or another order, is
refused); a feature table's may name some of them, in any order, or new
ones (a merge)."""
import errno
import os

import pytest

from conftest import last_log, read

KINDS = ["tables", "features"]


def write_text(path, text, append):
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make(mnt, kind, text="id,v\n1,a\n2,b\n"):
    os.mkdir(mnt.p(kind, "t"))
    d = mnt.p(kind, "t", "data.csv")
    write_text(d, text, append=False)
    assert read(d) == text
    return d


def write_fails(mnt, kind, d, text, append, code, message):
    """write() itself fails with CODE, close() with it too, /log names the
    file and MESSAGE, and the data is as before."""
    before = read(d)
    fd = os.open(d, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, text.encode())
        assert e.value.errno == code
    finally:
        with pytest.raises(OSError) as e:
            os.close(fd)
        assert e.value.errno == code
    path, logged = last_log(mnt)
    assert path == f"/{kind}/t/data.csv"
    assert message in logged, logged
    assert read(d) == before


@pytest.mark.parametrize("kind", KINDS)
def test_replace_first_line_is_the_header(mnt, kind):
    d = make(mnt, kind)
    # Blanks around header names are dropped, as on >>.
    write_text(d, "id , w\n3,c\n", append=False)
    assert read(d) == "id,w\n3,c\n"


@pytest.mark.parametrize("kind", KINDS)
def test_append_repeated_header_is_skipped(mnt, kind):
    d = make(mnt, kind)
    # The header again, after a byte order mark and with blanks: a header.
    write_text(d, "\ufeffid , v\n3,c\n", append=True)
    assert read(d) == "id,v\n1,a\n2,b\n3,c\n"
    # No header: rows in the table's columns.
    write_text(d, "4,d\n", append=True)
    assert read(d) == "id,v\n1,a\n2,b\n3,c\n4,d\n"


@pytest.mark.parametrize("kind", KINDS)
def test_append_into_a_table_without_columns(mnt, kind):
    os.mkdir(mnt.p(kind, "t"))
    d = mnt.p(kind, "t", "data.csv")
    write_text(d, "id,v\n1,a\n", append=True)
    assert read(d) == "id,v\n1,a\n"


@pytest.mark.parametrize("kind", KINDS)
def test_append_first_row_with_a_column_name_is_a_row(mnt, kind):
    """A first row of >> whose value is a column's name ('v') is stored as
    a row for both kinds; on a table the key's name ('id') too (a feature
    table reads a first line holding every key name as a header)."""
    d = make(mnt, kind)
    write_text(d, "9,v\n", append=True)
    assert read(d) == "id,v\n1,a\n2,b\n9,v\n"
    if kind == "tables":
        write_text(d, "8, id \n7,x\n", append=True)
        assert read(d) == "id,v\n1,a\n2,b\n9,v\n8, id \n7,x\n"


def test_append_partial_header_into_a_table_is_refused(mnt):
    """On a table, a first line naming only columns is a header, and a
    header must repeat them all in order: some of them is refused."""
    d = make(mnt, "tables", "id,v,w\n1,a,b\n")
    write_fails(mnt, "tables", d, "id,v\n3,c\n", True, errno.EINVAL,
                "line 1, column 3: the header does not match the table's columns in order")


def test_append_partial_header_into_a_feature_table_merges(mnt):
    """A feature table's header holds the keys: some columns, merged."""
    d = make(mnt, "features", "id,v,w\n1,a,b\n")
    write_text(d, "w,id\nz,1\n", append=True)
    assert read(d) == "id,v,w\n1,a,z\n"
    # Without the key it is no header: a row in the table's columns.
    write_fails(mnt, "features", d, "w,v\n", True, errno.EINVAL,
                "line 1, column 3: expected 3 fields, found 2")


@pytest.mark.parametrize("kind", KINDS)
def test_append_header_in_another_order(mnt, kind):
    """The same line is a header for both; a table takes only its own
    columns in order (it never reorders or drops fields), a feature table
    merges by column name."""
    d = make(mnt, kind)
    if kind == "tables":
        write_fails(mnt, kind, d, "v,id\nz,1\n", True, errno.EINVAL,
                    "line 1, column 1: the header does not match the table's columns in order")
    else:
        write_text(d, "v,id\nz,1\n", append=True)
        assert read(d) == "id,v\n1,z\n2,b\n"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("append,text,message", [
    (True, "id,v,v\n3,c,d\n", "line 1, column 3: duplicate column 'v'"),
    (False, "id,\n3,c\n", "line 1, column 2: empty column name in header"),
    (True, "id,v\n3,c\n4,d,e\n", "line 3, column 3: expected 2 fields, found 3"),
    (True, "3,c\n4\n", "line 2, column 2: expected 2 fields, found 1"),
    (True, "5,nan\n", None),
])
def test_bad_text_fails_the_write_and_changes_nothing(mnt, kind, append, text, message):
    if message is None:
        # A non-finite number in a numeric column, for both kinds.
        d = make(mnt, kind, "id,v\n1,1.5\n2,2.5\n")
        message = "line 1, column 2: 'nan' is not a finite number"
    else:
        d = make(mnt, kind)
    write_fails(mnt, kind, d, text, append, errno.EINVAL, message)


@pytest.mark.parametrize("kind", KINDS)
def test_open_quote_fails_close_and_changes_nothing(mnt, kind):
    """An open quote is known only at the end: close() fails."""
    d = make(mnt, kind)
    fd = os.open(d, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b'id,v\n3,c\n4,"d\n')
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EINVAL
    assert last_log(mnt)[0] == f"/{kind}/t/data.csv"
    assert read(d) == "id,v\n1,a\n2,b\n"
