#!/usr/bin/python3
"""The registry through an mlfs mount, for tools/bench/registry.

Usage: registry_mlfs.py MNT RUN VERSIONS MOVES

RUN is a trained run's path relative to the mount (experiments/E/runs/R).
Registers it VERSIONS times into models/bench through one read-write handle
of `register` each (what a script does: no process start-up counted), moves
the alias Production MOVES times the way `ln -sfn` does it (symlink to a
temporary name, rename over), then times `ls -l versions` and `cat
history.csv`.  Prints "name value" lines like registry_mlflow.py.
"""
import os
import subprocess
import sys
import time


def register(mnt, run):
    fd = os.open(os.path.join(mnt, "models", "bench", "register"), os.O_RDWR)
    try:
        os.write(fd, (run + "\n").encode())
        return int(os.read(fd, 64))
    finally:
        os.close(fd)


def best_of(n, fn):
    best = None
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t = time.perf_counter() - t0
        best = t if best is None or t < best else best
    return best


def main():
    mnt, run, versions, moves = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    model = os.path.join(mnt, "models", "bench")
    os.mkdir(model)
    t0 = time.perf_counter()
    first = register(mnt, run)
    print(f"register_first_ms {(time.perf_counter() - t0) * 1000:.3f}", flush=True)
    t0 = time.perf_counter()
    for _ in range(versions - 1):
        register(mnt, run)
    print(f"register_ms {(time.perf_counter() - t0) / max(versions - 1, 1) * 1000:.3f}", flush=True)
    assert first == 1

    prod = os.path.join(model, "Production")
    os.symlink("versions/1", prod)
    t0 = time.perf_counter()
    for i in range(moves):
        tmp = os.path.join(model, "CuTmp%03d" % (i % 1000))
        os.symlink("versions/%d" % (1 + i % 2), tmp)
        os.rename(tmp, prod)
    print(f"alias_move_us {(time.perf_counter() - t0) / moves * 1e6:.1f}", flush=True)

    # The shell's way, with ln's start-up: 1,000 moves in one bash loop.
    n = min(moves, 1000)
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", "for i in $(seq %d); do ln -sfn versions/$((i %% 2 + 1)) "
                    "Production; done" % n], cwd=model, check=True)
    print(f"ln_sfn_us {(time.perf_counter() - t0) / n * 1e6:.1f}", flush=True)
    # The same loop on a local directory: ln's own start-up and work.
    local = os.path.join(os.path.dirname(mnt), "local")
    os.makedirs(os.path.join(local, "versions", "1"))
    os.makedirs(os.path.join(local, "versions", "2"))
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", "for i in $(seq %d); do ln -sfn versions/$((i %% 2 + 1)) "
                    "Production; done" % n], cwd=local, check=True)
    print(f"ln_sfn_local_us {(time.perf_counter() - t0) / n * 1e6:.1f}", flush=True)
    # A process that only opens and reads: cat's start-up, for the views.
    with open(os.devnull, "w") as null:
        start = best_of(5, lambda: subprocess.run(["cat", "/dev/null"], stdout=null, check=True))
    print(f"cat_startup_ms {start * 1000:.3f}")
    with open(os.devnull, "w") as null:
        ls = best_of(5, lambda: subprocess.run(["ls", "-l", os.path.join(model, "versions")],
                                                stdout=null, check=True))
        cat = best_of(5, lambda: subprocess.run(["cat", os.path.join(model, "history.csv")],
                                                 stdout=null, check=True))
    print(f"list_versions_ms {ls * 1000:.3f}")
    print(f"history_ms {cat * 1000:.3f}")
    with open(os.path.join(model, "history.csv")) as f:
        print(f"history_lines {sum(1 for _ in f) - 1}")


main()
