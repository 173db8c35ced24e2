#!/usr/bin/python3
"""drift_scipy.py - the scipy/numpy values that tests/unit/test_drift.c
compares against, on the same samples: the generator below is the test's
(xorshift64* + Box-Muller with libm), so both sides see identical doubles.
Run: /usr/bin/python3 tests/unit/reference/drift_scipy.py"""
import math

import numpy as np
from scipy import stats

M64 = (1 << 64) - 1


class Gen:
    def __init__(self, seed):
        self.s = seed

    def uniform(self):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & M64
        s ^= (s >> 27)
        self.s = s
        r = (s * 0x2545F4914F6CDD1D) & M64
        return ((r >> 11) + 0.5) * (1.0 / 9007199254740992.0)

    def normal(self, mean, sd):
        u1, u2 = self.uniform(), self.uniform()
        return mean + sd * (math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2))


def sample(seed, n, mean, sd):
    g = Gen(seed)
    return np.array([g.normal(mean, sd) for _ in range(n)])


for name, (sa, na, ma, da), (sb, nb, mb, db) in [
        ("mid", (1, 800, 0.0, 1.0), (2, 1000, 0.2, 1.1)),
        ("big", (3, 20000, 0.0, 1.0), (4, 30000, 0.02, 1.0))]:
    a, b = sample(sa, na, ma, da), sample(sb, nb, mb, db)
    r = stats.ks_2samp(a, b)
    w = stats.wasserstein_distance(a, b)
    print(f"{name}: ks D={r.statistic!r} p={r.pvalue!r} w={w!r} "
          f"w_norm={w / max(np.std(a), 0.001)!r} first={a[0]!r}")
