"""Many writers and readers on the same files (issue 18 point 1): every read
of a metric series, a table's data.csv and a view (runs.csv, stats.csv)
taken while others write must be one consistent version - whole lines, no
NUL byte, no EIO, st_size on the reading handle equal to the bytes read, a
prefix of the final content where the file only grows - and at the end every
acknowledged point, row and param is in the store exactly once.

Readers are `cat` processes and Python open()/read() with os.fstat on the
handle; writers are bash loops (`echo V >> FILE`) and os.open(O_APPEND)."""
import csv
import io
import os
import re
import subprocess
import threading
import time

POINT = re.compile(rb"^-?\d+ \S+ -?\d+$")


class Reads:
    """Every read the readers made: (how and which file, bytes or None,
    error, st_size)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.all = []

    def add(self, rec):
        with self.lock:
            self.all.append(rec)


def read_python(path):
    """open, fstat the handle, read to EOF, as Python's open().read() and
    cp do; (data, None, st_size) or (None, error, None)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return None, f"open: {e.strerror}", None
    try:
        size = os.fstat(fd).st_size
        parts = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            parts.append(b)
        return b"".join(parts), None, size
    except OSError as e:
        return None, f"read: {e.strerror}", None
    finally:
        os.close(fd)


def read_cat(path):
    r = subprocess.run(["cat", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode:
        return None, r.stderr.decode(errors="replace").strip(), None
    return r.stdout, None, None


def reader_loop(path, how, reads, stop):
    fn = read_cat if how == "cat" else read_python
    name = f"{how} {os.path.basename(path)}"
    while not stop.is_set():
        data, err, size = fn(path)
        reads.add((name, data, err, size))


def run_readers(paths, writers):
    """Readers (one `cat` loop and one Python loop for each of PATHS, twice
    over when there is one path) while WRITERS (callables) run; returns
    the reads."""
    reads, stop = Reads(), threading.Event()
    kinds = ["cat", "python"] * (2 if len(paths) == 1 else 1)
    readers = [threading.Thread(target=reader_loop, args=(p, how, reads, stop))
               for p in paths for how in kinds]
    for t in readers:
        t.start()
    try:
        threads = [threading.Thread(target=w) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        for t in readers:
            t.join()
    return reads.all


def bash_appender(path, values, acked):
    """One bash process appending each value with `echo V >> PATH`;
    the values whose echo succeeded are added to ACKED (a list), and
    "error: ..." for each line bash printed on stderr."""
    def run():
        script = 'for v in "$@"; do echo "$v" >> "$F" && echo "$v"; done'
        r = subprocess.run(["bash", "-c", script, "bash"] + values, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, "F": path})
        acked.extend(r.stdout.decode().split())
        acked.extend("error: " + ln for ln in r.stderr.decode().splitlines())
    return run


def appender(path, items, acked, piece=None):
    """For each (NAME, TEXT) of ITEMS: os.open(O_APPEND), TEXT in write()s
    of at most PIECE bytes (one write when None), close; NAME is added to
    ACKED once close() succeeded, "error: NAME ..." otherwise."""
    def run():
        for name, text in items:
            data = text.encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
                try:
                    for i in range(0, len(data), piece or len(data)):
                        os.write(fd, data[i:i + (piece or len(data))])
                finally:
                    os.close(fd)
            except OSError as e:
                acked.append(f"error: {name} ({len(data)} bytes): {e.strerror}")
                continue
            acked.append(name)
    return run


class Problems:
    """Counts of bad reads by kind, with an example of each."""

    def __init__(self, total):
        self.total, self.counts, self.examples = total, {}, {}

    def add(self, kind, example):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.examples.setdefault(kind, example[:200])

    def merge(self, other, what):
        """OTHER's problems (of other reads), each kind prefixed by WHAT."""
        self.total += other.total
        for kind, n in other.counts.items():
            self.counts[f"{what}: {kind}"] = n
            self.examples[f"{what}: {kind}"] = other.examples[kind]

    def add_write_errors(self, acked):
        """Writes that failed ("error: ..." entries of ACKED)."""
        for a in acked:
            if isinstance(a, str) and a.startswith("error"):
                self.add("writes failed", a)

    def __str__(self):
        return f"of {self.total} reads: " + "; ".join(
            f"{n} {k} (e.g. {self.examples[k]})" for k, n in sorted(self.counts.items()))


def check_reads(reads, final, line_ok, prefix=True):
    """Problems of each read: an error (EIO), a NUL byte, a last line with
    no newline, a malformed line, not a prefix of FINAL (when PREFIX), a
    handle's st_size shorter than any version."""
    p = Problems(len(reads))
    for how, data, err, size in reads:
        if err is not None:
            p.add("failed", f"{how}: {err}")
            continue
        if b"\0" in data:
            i = data.index(b"\0")
            p.add("held NUL bytes", f"{how}: {data[max(0, i - 20):i + 8]!r} at byte {i} of {len(data)}")
        if data and not data.endswith(b"\n"):
            p.add("ended in a cut line", f"{how}: ...{data[-40:]!r}")
        bad = [ln for ln in data.split(b"\n")[:-1] if not line_ok(ln)]
        if bad:
            p.add("held a malformed line", f"{how}: {bad[0][:80]!r}")
        if prefix and final[:len(data)] != data:
            i = next((k for k, (a, b) in enumerate(zip(data, final)) if a != b), len(final))
            p.add("were not a prefix of the final content",
                  f"{how}: {len(data)} bytes, first difference at byte {i}: "
                  f"{data[max(0, i - 20):i + 20]!r}")
        # st_size is the file's, not the handle's: with writers at work a
        # direct-I/O reader's fstat may see a newer version than it reads
        # (docs/reference.md, caching); a page-cache reader's equality is
        # tested quiet in test_cache.py.  Only a size no version had would
        # be a defect: none smaller than the first line.
        if size is not None and 0 < size < len(data.split(b"\n", 1)[0]) + 1:
            p.add("had st_size no version had", f"{how}: st_size {size}, read {len(data)}")
    return p


def read_final(path):
    """The content once the writers are done: read until two reads 0.1 s
    apart agree (so that a stale read is not taken for the store's)."""
    last = None
    for _ in range(20):
        with open(path, "rb") as f:
            data = f.read()
        if data == last:
            break
        last = data
        time.sleep(0.1)
    return data


def test_metric_read_while_16_append(mnt):
    run = mnt.p("experiments", "e", "runs", "r")
    os.makedirs(run)
    path = os.path.join(run, "metrics", "loss")
    with open(path, "w") as f:
        f.write("0.5 0\n")
    acked, writers = [], []
    for w in range(16):
        values = [str(w * 100000 + i) for i in range(120)]
        if w < 12:
            writers.append(bash_appender(path, values, acked))
        else:
            writers.append(appender(path, [(v, v + "\n") for v in values], acked))
    reads = run_readers([path], writers)
    final = read_final(path)

    # Every acknowledged point once, each writer's in its order.
    problems = check_reads(reads, final, POINT.match)
    problems.add_write_errors(acked)
    got = [int(float(ln.split(b" ")[1])) for ln in final.split(b"\n")[1:] if POINT.match(ln)]
    ok = [int(a) for a in acked if not a.startswith("error")]
    for w in range(16):
        mine, want = [v for v in got if v // 100000 == w], [v for v in ok if v // 100000 == w]
        if mine != want:
            lost = sorted(set(want) - set(mine))
            problems.add("acknowledged points not stored once and in order",
                         f"writer {w}: {len(mine)} stored, {len(want)} acknowledged, "
                         f"missing {lost[:5]}")
    assert len(reads) >= 40, f"only {len(reads)} reads"
    assert not problems.counts, str(problems)


def csv_batches(w, count, rnd_sizes):
    """COUNT batches of rows for writer W: (batch id, csv text)."""
    out = []
    for b in range(count):
        rows = [f"{w}-{b}-{i},{w},{b * 100 + i}.25,r{i}\n" for i in range(rnd_sizes[b % len(rnd_sizes)])]
        out.append((f"{w}-{b}", "".join(rows)))
    return out


def split_at(items):
    """The first row of a batch's (position, id) list after a gap."""
    return next(i for i in range(1, len(items)) if items[i][0] != items[i - 1][0] + 1)


def batch_problems(data, sizes):
    """Batches (row ids W-B-I) a table read shows only part of, or not
    together and in order."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "replace"))))[1:]
    seen = {}
    for pos, row in enumerate(rows):
        if row[0] == "start":
            continue
        bid = row[0].rsplit("-", 1)[0]
        seen.setdefault(bid, []).append((pos, row[0]))
    bad = []
    for bid, items in seen.items():
        n = sizes.get(bid)
        want = [f"{bid}-{i}" for i in range(n)] if n else None
        together = [p for p, _ in items] == list(range(items[0][0], items[0][0] + len(items)))
        if [r for _, r in items] != want or not together:
            bad.append(f"batch {bid}: {len(items)} of {n} rows"
                       + ("" if together else f", split at row {split_at(items)} by other rows"))
    return bad


def test_table_read_while_appending(mnt):
    os.mkdir(mnt.p("tables", "t"))
    path = mnt.p("tables", "t", "data.csv")
    with open(path, "w") as f:
        f.write("id,w,x,note\nstart,0,0.25,first\n")
    header = b"id,w,x,note\n"
    acked, writers, sizes = [], [], {"start": None}
    for w in range(6):
        batches = csv_batches(w, 40, [1, 7, 30, 3, 60])
        sizes.update({bid: text.count("\n") for bid, text in batches})
        # A batch in several write()s: the readers' forks (subprocess's
        # close_fds) flush the writers' inherited handles mid-row.
        writers.append(appender(path, batches, acked, 700))
    stats = mnt.p("tables", "t", "stats.csv")
    reads = run_readers([path, stats], writers)
    final = read_final(path)

    table_reads = [r for r in reads if r[0].endswith("data.csv")]
    stat_reads = [r for r in reads if r[0].endswith("stats.csv")]
    problems = check_reads(table_reads, final, lambda ln: len(ln.split(b",")) == 4)
    problems.add_write_errors(acked)

    # Every acknowledged batch once, whole and together; no other row.
    assert final.startswith(header + b"start,0,0.25,first\n")
    ids = [r[0] for r in csv.reader(io.StringIO(final.decode()))][2:]
    ok = [b for b in acked if not b.startswith("error")]
    if len(ids) != len(set(ids)) or sorted({i.rsplit("-", 1)[0] for i in ids}) != sorted(ok):
        problems.add("acknowledged batches not stored once", f"{len(ok)} acknowledged, "
                     f"{len({i.rsplit('-', 1)[0] for i in ids})} stored")
    sizes.pop("start")
    for bad in batch_problems(final, sizes):
        problems.add("batches stored in part", bad)

    assert len(table_reads) >= 5 and len(stat_reads) >= 5, (len(table_reads), len(stat_reads))
    for how, data, err, size in table_reads:
        if err is None and not data.startswith(header):
            problems.add("did not start with the header", f"{how}: {data[:40]!r}")
        bad = batch_problems(data, sizes) if err is None else []
        if bad:
            problems.add("held part of a batch", f"{how}: {bad[0]} ({len(bad)} such batches)")
    problems.merge(check_reads(stat_reads, b"", lambda ln: len(ln.split(b",")) == 9,
                               prefix=False), "stats.csv reads")
    assert not problems.counts, "data.csv " + str(problems)


def param_writer(run_dir, keys, acked):
    """params/KEY = a value unique to the run and key, one file each."""
    def run():
        for k in keys:
            value = f"{os.path.basename(run_dir)}:{k}:" + "v" * (len(k) * 7 % 50)
            try:
                with open(os.path.join(run_dir, "params", k), "w") as f:
                    f.write(value + "\n")
                with open(os.path.join(run_dir, "metrics", "m" + k[1:]), "a") as f:
                    f.write(f"{len(value)}\n")
            except OSError as e:
                acked.append(f"error: {k}: {e.strerror}")
                continue
            acked.append((os.path.basename(run_dir), k, value))
    return run


def runs_csv_problems(data):
    """A runs.csv read whose rows do not all have the header's fields, or
    whose params.K cells are neither empty nor the whole value written."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "replace"))))
    if not rows or rows[0][:6] != ["run", "status", "start_time", "end_time", "duration_s", "parent"]:
        return [f"header {rows[0][:6] if rows else None}"]
    bad = [f"row {r[:1]}: {len(r)} fields, header {len(rows[0])}"
           for r in rows[1:] if len(r) != len(rows[0])]
    for r in rows[1:]:
        for col, cell in zip(rows[0], r):
            if col.startswith("params.") and cell and not re.fullmatch(
                    re.escape(f"{r[0]}:{col[7:]}:") + "v*", cell):
                bad.append(f"row {r[0]} {col}: {cell!r}")
    return bad


def test_runs_csv_read_while_params_are_written(mnt):
    exp = mnt.p("experiments", "e")
    os.mkdir(exp)
    runs = [os.path.join(exp, "runs", f"r{i}") for i in range(6)]
    for r in runs:
        os.mkdir(r)
    acked, writers = [], []
    for i, r in enumerate(runs):
        writers.append(param_writer(r, [f"p{i}_{k}" for k in range(40)], acked))
    path = os.path.join(exp, "runs.csv")
    reads = run_readers([path], writers)

    # Every acknowledged param in its run and in runs.csv.
    final = read_final(path)
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(final.decode()))}
    for run, k, value in (a for a in acked if not isinstance(a, str)):
        with open(os.path.join(exp, "runs", run, "params", k)) as f:
            assert f.read() == value + "\n"
        assert rows[run]["params." + k] == value
    assert len(rows) == 6

    assert len(reads) >= 5, f"only {len(reads)} reads"
    problems = check_reads(reads, final, lambda ln: True, prefix=False)
    for how, data, err, size in reads:
        bad = runs_csv_problems(data) if err is None else []
        if bad:
            problems.add("held a bad row", f"{how}: {bad[0]} ({len(bad)} such rows)")
    problems.add_write_errors(acked)
    assert not problems.counts, str(problems)

