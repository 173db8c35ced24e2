#!/usr/bin/python3
"""drift_scipy.py - tools/bench/drift's data and its scipy + numpy peer.

  drift_scipy.py gen FILE N COLS
      writes COLS columns of N baseline and N current float64 values
      (native byte order, column after column, each column's baseline then
      its current values) that drift_bench.c reads too.  Columns cycle
      through four shapes (normal, lognormal, uniform, normal rounded to 2
      decimals: ties); from column COLS/2 on the current values are shifted
      by 0.1 of the shape's standard deviation.
  drift_scipy.py run FILE N COLS ROUNDS
      per column: scipy.stats.ks_2samp (its default method: asymptotic at
      these sizes), scipy.stats.wasserstein_distance / max(np.std(base),
      0.001) (Evidently's wasserstein_distance_norm) and PSI with numpy over
      10 bins at the baseline's deciles, as Evidently computes it.  Times
      the loop over all columns ROUNDS times, one thread (scipy and numpy
      sort on one).  Prints "round R seconds S cpu S ks S wasserstein S
      psi S" per round (seconds: wall clock; cpu and the metrics: the
      process's CPU time) and "col C psi V ks V p V p_stephens V wasserstein V" per
      column; p_stephens (not timed) is drift.c's asymptotic formula
      evaluated with scipy.special.kolmogorov, to check drift.c against
      the same formula where ks_2samp's own p-value differs by method.
Debian's /usr/bin/python3 with python3-scipy and python3-numpy."""
import sys
import time

import numpy as np
from scipy import special, stats

NBINS = 10


def gen(path, n, cols):
    rng = np.random.default_rng(12)
    with open(path, "wb") as f:
        for c in range(cols):
            shape = c % 4
            loc, scale = float(c), 1.0 + 0.25 * c
            shift = 0.1 * scale if c >= cols // 2 else 0.0
            if shape == 0:
                draw = lambda: rng.normal(loc, scale, n)
            elif shape == 1:
                draw = lambda: loc + np.exp(rng.normal(0, 0.5, n)) * scale
                shift *= np.sqrt((np.exp(0.25) - 1) * np.exp(0.25))
            elif shape == 2:
                draw = lambda: rng.uniform(loc, loc + scale * np.sqrt(12), n)
            else:
                draw = lambda: np.round(rng.normal(loc, scale, n), 2)
            base = draw()
            cur = draw() + shift
            base.astype(np.float64).tofile(f)
            cur.astype(np.float64).tofile(f)


def psi(base, cur):
    n = len(base)
    # np.quantile would interpolate between order statistics; drift.c
    # cuts at base[floor(k * n / NBINS)] of the sorted baseline, so this
    # takes those order statistics, found by np.partition as np.quantile
    # finds its own.  Deduplicated; a value equal to an edge goes right
    # (np.histogram's bins are [a, b)).
    idx = [k * n // NBINS for k in range(1, NBINS)]
    edges = np.unique(np.partition(base, idx)[idx])
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    b = np.histogram(base, bins)[0] / len(base)
    c = np.histogram(cur, bins)[0] / len(cur)
    b[b == 0] = 0.0001
    c[c == 0] = 0.0001
    return float(np.sum((b - c) * np.log(b / c)))


def stephens_p(d, nbase, ncur):
    en = nbase * ncur / (nbase + ncur)
    s = np.sqrt(en)
    return float(special.kolmogorov((s + 0.12 + 0.11 / s) * d))


def run(path, n, cols, rounds):
    data = np.fromfile(path, dtype=np.float64).reshape(cols, 2, n)
    for r in range(1, rounds + 1):
        t_ks = t_w = t_psi = 0.0
        out = []
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for c in range(cols):
            base, cur = data[c, 0], data[c, 1]
            t1 = time.process_time()
            ks = stats.ks_2samp(base, cur)
            t2 = time.process_time()
            w = stats.wasserstein_distance(base, cur) / max(np.std(base), 0.001)
            t3 = time.process_time()
            p = psi(base, cur)
            t4 = time.process_time()
            t_ks += t2 - t1
            t_w += t3 - t2
            t_psi += t4 - t3
            out.append((p, float(ks.statistic), float(ks.pvalue), w))
        total = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        print(f"round {r} seconds {total:.4f} cpu {cpu:.4f} ks {t_ks:.4f} "
              f"wasserstein {t_w:.4f} psi {t_psi:.4f}", flush=True)
    for c, (p, d, pv, w) in enumerate(out):
        print(f"col {c} psi {p!r} ks {d!r} p {pv!r} "
              f"p_stephens {stephens_p(d, n, n)!r} wasserstein {w!r}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
