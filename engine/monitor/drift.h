/* drift.h - how far a column's current values have moved from a baseline:
 * the statistics of the drift monitors, on plain arrays.
 *
 * Numeric columns: PSI over bins cut at the baseline's quantiles, the
 * two-sample Kolmogorov-Smirnov statistic and p-value, and the
 * Wasserstein-1 distance normalised by the baseline's standard deviation
 * (Evidently's wasserstein_distance_norm).  Categorical columns: the
 * chi-square statistic and p-value of the current counts against the
 * baseline's shares, and the Jensen-Shannon distance (base 2).  Windows,
 * slices, thresholds and files are the monitor's job, not this one's. */
#ifndef MLFS_DRIFT_H
#define MLFS_DRIFT_H

#include <stddef.h>
#include <stdint.h>


/* PSI of CUR against BASE, both sorted (sort.h), with NBINS bins whose inner edges
 * are BASE's quantiles (deduplicated; values equal to an edge go right).
 * Empty bins take the share 0.0001 (Evidently's floor).  NAN when either
 * side is empty. */
double drift_psi(const double *base, size_t nbase, const double *cur,
		 size_t ncur, int nbins);

/* Two-sample KS on sorted samples: the statistic D = sup |F1 - F2| and the
 * two-sided p-value, exact (path counting, as scipy's ks_2samp does) when
 * NBASE * NCUR <= 10^6 and otherwise from the limiting Kolmogorov
 * distribution with Stephens' small-sample correction.  *P is NAN when
 * either side is empty. */
double drift_ks(const double *base, size_t nbase, const double *cur,
		size_t ncur, double *p);

/* The two-sided p-value of statistic D for samples of NBASE and NCUR
 * values, as drift_ks chooses it: a baseline kept as a profile gives D
 * from its quantile points and the p-value from the rows they stand for. */
double drift_ks_pvalue(double d, uint64_t nbase, uint64_t ncur);

/* Wasserstein-1 distance between the empirical distributions of two
 * sorted samples (scipy's wasserstein_distance), divided by
 * max(std(BASE), 0.001) when NORMALISE (Evidently).  NAN when empty. */
double drift_wasserstein(const double *base, size_t nbase, const double *cur,
			 size_t ncur, int normalise);

/* Categorical columns: K categories counted in both samples.
 * Chi-square of the current counts against the expected counts
 * NCUR x baseline share (Evidently's chisquare test), K - 1 degrees of
 * freedom; *P its p-value.  A category the baseline never had but the
 * current data has makes the statistic infinite and *P 0 (scipy's
 * chisquare does the same).  NAN for K < 2 or an empty side. */
double drift_chi2(const uint64_t *base, const uint64_t *cur, size_t k,
		  double *p);
/* Jensen-Shannon distance (the square root of the divergence, base 2,
 * scipy's jensenshannon) between the two normalised count vectors. */
double drift_js(const uint64_t *base, const uint64_t *cur, size_t k);

/* Upper regularised incomplete gamma Q(A, X) (the chi-square survival
 * function is Q(df / 2, x / 2)), and the Kolmogorov survival function
 * Q_KS(L) = 2 sum (-1)^(k-1) exp(-2 k^2 L^2).  Exposed for tests. */
double drift_gamma_q(double a, double x);
double drift_kolmogorov_q(double lambda);

#endif
