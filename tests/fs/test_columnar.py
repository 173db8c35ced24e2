"""The columnar form of a table version through the mount: a refresh
builds it on its first scan; kill -9 during that build, and the next
mount removes what it left, `mlfs check` is clean and the next refresh
is right (checked against a computation in Python)."""
import os
import random
import subprocess
import time

from conftest import check_argv, MLFS, mounted, recover_killed

PIPELINE = """source: ev
key: k
features:
  n: count(*)
  s: sum(x)
  hi: max(x)
"""


def expected(rows):
    out = {}
    for k, x in rows:
        n, s, hi = out.get(k, (0, 0, None))
        out[k] = (n + 1, s + x, x if hi is None or x > hi else hi)
    return out


def features(path):
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == "k,n,s,hi"
    got = {}
    for line in lines[1:]:
        k, n, s, hi = line.split(",")
        got[int(k)] = (int(n), int(s), int(hi))
    return got


def check(store):
    return subprocess.run(check_argv(store), capture_output=True, text=True)


def refresh_status(m):
    with open(m.p("features", "cf", "refresh")) as f:
        return f.read()


def load_events(m, src, rows, note):
    """Write ROWS (k, x) with NOTE to SRC, cp it into table ev, and
    declare feature table cf over it."""
    src.write_text("k,x,note\n" + "".join(f"{k},{x},{note}\n" for k, x in rows))
    os.mkdir(m.p("tables", "ev"))
    subprocess.run(["cp", str(src), m.p("tables", "ev", "data.csv")], check=True)
    os.mkdir(m.p("features", "cf"))
    with open(m.p("features", "cf", "pipeline.yaml"), "w") as f:
        f.write(PIPELINE)


def test_kill_during_columnar_build(tmp_path):
    rnd = random.Random(4)
    rows = [(rnd.randrange(5000), rnd.randrange(-1000, 1000)) for _ in range(400000)]
    src = tmp_path / "ev.csv"
    with mounted() as m:
        load_events(m, src, rows, "some text to make it longer")
        hit = False
        for delay in (0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5):
            # A new version each time, replaced whole (an append would
            # only extend the form by a chunk, too quick to be hit), whose
            # first scan builds its form; kill the daemon during the refresh.
            rows.append((rnd.randrange(5000), rnd.randrange(-1000, 1000)))
            with open(src, "a") as f:
                f.write("%d,%d,x\n" % rows[-1])
            subprocess.run(["cp", str(src), m.p("tables", "ev", "data.csv")], check=True)
            sh = subprocess.Popen(["sh", "-c", f"echo 1 > {m.p('features', 'cf', 'refresh')}"],
                                  stderr=subprocess.DEVNULL)
            time.sleep(delay)
            m.kill9()
            sh.wait(timeout=30)
            # Alone with the store, a form cut short is a problem to
            # report; the mount removes it.
            hit = recover_killed(m, "not whole, left by a build cut short")
            if hit:
                break
        assert hit, "no kill came during a columnar build"
        with open(m.p("features", "cf", "refresh"), "w") as f:
            f.write("1\n")
        assert "status ok" in refresh_status(m)
        assert features(m.p("features", "cf", "data.csv")) == expected(rows)
        # Appended rows make a new version: its form is built anew.
        more = [(rnd.randrange(5000), rnd.randrange(-1000, 1000)) for _ in range(1000)]
        with open(m.p("tables", "ev", "data.csv"), "a") as f:
            f.write("".join(f"{k},{x},t\n" for k, x in more))
        with open(m.p("features", "cf", "refresh"), "w") as f:
            f.write("1\n")
        assert "status ok" in refresh_status(m)
        assert features(m.p("features", "cf", "data.csv")) == expected(rows + more)
        m.stop()
        done = check(m.store)
        assert done.returncode == 0, done.stdout + done.stderr


def test_append_extends_form(tmp_path):
    """An append's version extends the previous version's form (new chunks
    for the appended rows, the old ones shared): a refresh over it equals
    the computation from all the rows; kill -9 during such a build leaves
    the previous form whole, the next mount cleans what the build left,
    `mlfs check` is clean and the next refresh is right."""
    rnd = random.Random(9)
    rows = [(rnd.randrange(3000), rnd.randrange(-1000, 1000)) for _ in range(300000)]
    src = tmp_path / "ev.csv"
    with mounted() as m:
        load_events(m, src, rows, "first load of rows")
        with open(m.p("features", "cf", "refresh"), "w") as f:
            f.write("1\n")
        assert "status ok" in refresh_status(m)
        assert features(m.p("features", "cf", "data.csv")) == expected(rows)
        for step in range(3):
            more = [(rnd.randrange(3000), rnd.randrange(-1000, 1000)) for _ in range(70000 + step)]
            rows += more
            with open(m.p("tables", "ev", "data.csv"), "a") as f:
                f.write("".join(f"{k},{x},z\n" for k, x in more))
            with open(m.p("features", "cf", "refresh"), "w") as f:
                f.write("1\n")
            assert "status ok" in refresh_status(m)
            assert features(m.p("features", "cf", "data.csv")) == expected(rows)
        # Kill during the extension of the next version's form.
        for delay in (0.02, 0.05, 0.1, 0.2, 0.4):
            more = [(rnd.randrange(3000), rnd.randrange(-1000, 1000)) for _ in range(150000)]
            rows += more
            with open(m.p("tables", "ev", "data.csv"), "a") as f:
                f.write("".join(f"{k},{x},z\n" for k, x in more))
            sh = subprocess.Popen(["sh", "-c", f"echo 1 > {m.p('features', 'cf', 'refresh')}"],
                                  stderr=subprocess.DEVNULL)
            time.sleep(delay)
            m.kill9()
            sh.wait(timeout=30)
            recover_killed(m, "")
            with open(m.p("features", "cf", "refresh"), "w") as f:
                f.write("1\n")
            assert "status ok" in refresh_status(m)
            assert features(m.p("features", "cf", "data.csv")) == expected(rows)
        m.stop()
        done = check(m.store)
        assert done.returncode == 0, done.stdout + done.stderr
