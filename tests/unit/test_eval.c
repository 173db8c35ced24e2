/* test_eval.c - every metric against values worked out by hand on small
 * cases (cross-checked with scikit-learn 1.2.1, as noted). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval.h"

#define EPS 1e-12
#define assert_close(a, b) assert_true(fabs((a) - (b)) < EPS)

/* Binary: TP=2 (rows 2,3), FP=1 (row 1), FN=1 (row 4), TN=2 (rows 0,5). */
static const int32_t by[] = { 0, 0, 1, 1, 1, 0 };
static const int32_t bp[] = { 0, 1, 1, 1, 0, 0 };

static void test_binary_counts(void **state)
{
	double acc, p, r, f1;
	uint64_t cm[4];
	assert_int_equal(eval_accuracy(by, bp, 6, &acc, NULL), 0);
	assert_close(acc, 4.0 / 6.0);
	assert_int_equal(eval_confusion(by, bp, 6, 2, cm, NULL), 0);
	assert_int_equal(cm[0], 2);	/* true 0, predicted 0 */
	assert_int_equal(cm[1], 1);
	assert_int_equal(cm[2], 1);
	assert_int_equal(cm[3], 2);
	assert_int_equal(eval_prf(by, bp, 6, 2, 1, &p, &r, &f1, NULL), 0);
	assert_close(p, 2.0 / 3.0);	/* 2 / (2 + 1) */
	assert_close(r, 2.0 / 3.0);	/* 2 / (2 + 1) */
	assert_close(f1, 2.0 / 3.0);
	assert_int_equal(eval_accuracy(by, bp, 0, &acc, NULL), -EINVAL);
	const int32_t bad[] = { 0, 2 };
	assert_int_equal(eval_confusion(bad, bad, 2, 2, cm, NULL), -EINVAL);
}

static void test_no_predicted_positives(void **state)
{
	const int32_t y[] = { 1, 0 }, p[] = { 0, 0 };
	double pr, r, f1;
	assert_int_equal(eval_prf(y, p, 2, 2, 1, &pr, &r, &f1, NULL), 0);
	assert_close(pr, 0.0);	/* scikit-learn's zero_division default */
	assert_close(r, 0.0);
	assert_close(f1, 0.0);
}

/* Multiclass: confusion rows (true) [1 1 0], [0 1 1], [1 0 2].
 * Per class p/r/f1: 1/2,1/2,1/2; 1/2,1/2,1/2; 2/3,2/3,2/3.
 * Macro = 5/9, weighted by support (2,2,3) = 4/7 (scikit-learn agrees). */
static void test_multiclass_averages(void **state)
{
	const int32_t y[] = { 0, 1, 2, 2, 1, 0, 2 };
	const int32_t p[] = { 0, 2, 2, 2, 1, 1, 0 };
	double pr, r, f1, acc;
	assert_int_equal(eval_accuracy(y, p, 7, &acc, NULL), 0);
	assert_close(acc, 4.0 / 7.0);
	assert_int_equal(eval_prf_avg(y, p, 7, 3, EVAL_MACRO, &pr, &r, &f1, NULL), 0);
	assert_close(pr, 5.0 / 9.0);
	assert_close(r, 5.0 / 9.0);
	assert_close(f1, 5.0 / 9.0);
	assert_int_equal(eval_prf_avg(y, p, 7, 3, EVAL_WEIGHTED, &pr, &r, &f1, NULL), 0);
	assert_close(pr, 4.0 / 7.0);
	assert_close(r, 4.0 / 7.0);
	assert_close(f1, 4.0 / 7.0);
}

static void test_roc_auc(void **state)
{
	/* scikit-learn's doc example: 0.75. */
	const int32_t y[] = { 0, 0, 1, 1 };
	const double s[] = { 0.1, 0.4, 0.35, 0.8 };
	double auc;
	assert_int_equal(eval_roc_auc(y, s, 4, 1, &auc, NULL), 0);
	assert_close(auc, 0.75);
	/* Ties count half: pairs (0.5,0.5)=1/2, three wins: 3.5/4. */
	const int32_t y2[] = { 0, 1, 0, 1 };
	const double s2[] = { 0.5, 0.5, 0.2, 0.9 };
	assert_int_equal(eval_roc_auc(y2, s2, 4, 1, &auc, NULL), 0);
	assert_close(auc, 0.875);
	const int32_t one[] = { 1, 1 };
	assert_int_equal(eval_roc_auc(one, s, 2, 1, &auc, NULL), -EDOM);
}

/* One-vs-rest: class 0 wins 7 of 8 pairs, class 1 7.5 of 8 (one tie),
 * class 2 all 8: mean (0.875 + 0.9375 + 1) / 3 = 0.9375 (scikit-learn
 * 0.9375).  Log loss by scikit-learn: 0.7182533239811889. */
static const int32_t my[] = { 0, 1, 2, 2, 1, 0 };
static const double mp[] = {
	.6, .3, .1,  .2, .5, .3,  .1, .2, .7,
	.3, .3, .4,  .5, .4, .1,  .4, .4, .2,
};

static void test_multiclass_auc_and_log_loss(void **state)
{
	double auc, ll;
	assert_int_equal(eval_roc_auc_ovr(my, mp, 6, 3, &auc, NULL), 0);
	assert_close(auc, 0.9375);
	assert_int_equal(eval_log_loss(my, mp, 6, 3, &ll, NULL), 0);
	assert_true(fabs(ll - 0.7182533239811889) < 1e-12);
	/* Binary by hand: -(ln 0.8 + ln 0.7) / 2. */
	const int32_t y[] = { 0, 1 };
	const double p[] = { 0.8, 0.2, 0.3, 0.7 };
	assert_int_equal(eval_log_loss(y, p, 2, 2, &ll, NULL), 0);
	assert_close(ll, -(log(0.8) + log(0.7)) / 2);
	/* A zero probability for the truth is clipped to 1e-15. */
	const int32_t y1[] = { 1 };
	const double p1[] = { 1.0, 0.0 };
	assert_int_equal(eval_log_loss(y1, p1, 1, 2, &ll, NULL), 0);
	assert_true(fabs(ll - -log(1e-15)) < 1e-6);
}

static void test_regression(void **state)
{
	const double y[] = { 1, 2, 3 }, p[] = { 1, 2, 5 };
	double v;
	assert_int_equal(eval_rmse(y, p, 3, &v, NULL), 0);
	assert_close(v, sqrt(4.0 / 3.0));
	assert_int_equal(eval_mae(y, p, 3, &v, NULL), 0);
	assert_close(v, 2.0 / 3.0);
	assert_int_equal(eval_r2(y, p, 3, &v, NULL), 0);
	assert_close(v, 1.0 - 4.0 / 2.0);	/* SSres 4, SStot 2 */
	const double c[] = { 2, 2 };
	assert_int_equal(eval_r2(c, c, 2, &v, NULL), 0);
	assert_close(v, 1.0);
}

static void test_report(void **state)
{
	struct eval_report r;
	struct buf out = { 0 };
	/* Binary probabilities whose argmax gives bp. */
	double proba[12];
	for (int i = 0; i < 6; i++) {
		proba[2 * i + 1] = bp[i] ? 0.6 + 0.01 * i : 0.4 - 0.01 * i;
		proba[2 * i] = 1 - proba[2 * i + 1];
	}
	assert_int_equal(eval_classification(by, proba, 6, 2, &r, NULL), 0);
	assert_close(r.accuracy, 4.0 / 6.0);
	assert_close(r.f1, 2.0 / 3.0);
	assert_int_equal(eval_report_format(&r, &out), 0);
	assert_non_null(strstr(out.data, "accuracy 0.6666666666666666\n"));
	assert_non_null(strstr(out.data, "\nroc_auc "));
	assert_null(strstr(out.data, "f1_macro"));
	buf_reset(&out);
	assert_int_equal(eval_classification(my, mp, 6, 3, &r, NULL), 0);
	assert_close(r.roc_auc, 0.9375);
	assert_int_equal(eval_report_format(&r, &out), 0);
	assert_non_null(strstr(out.data, "f1_weighted "));
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binary_counts),
		cmocka_unit_test(test_no_predicted_positives),
		cmocka_unit_test(test_multiclass_averages),
		cmocka_unit_test(test_roc_auc),
		cmocka_unit_test(test_multiclass_auc_and_log_loss),
		cmocka_unit_test(test_regression),
		cmocka_unit_test(test_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
