/* forest_cli.c - `mlfs forest train|predict|eval|info|bench`: the random
 * forest engine from the shell, without a store or a mount.
 *
 * Reads CSV files into frames, calls engine/forest, prints CSV or
 * "name value" lines on stdout.  Any bad input (missing column, bad value,
 * unknown parameter, empty file, foreign model) is a message on stderr and
 * exit status 2; out of memory is 1. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "forest_cli.h"
#include "csv.h"
#include "forest/forest.h"
#include "frame.h"
#include "eval.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mlfs forest train --data CSV --label COL [--param NAME=VALUE ...] --model OUT\n"
		"       mlfs forest predict --model M --data CSV [--proba] [--threads N]\n"
		"       mlfs forest eval --model M --data CSV --label COL [--threads N]\n"
		"       mlfs forest info --model M\n"
		"       mlfs forest bench --train CSV --test CSV --label COL [--param NAME=VALUE ...]\n"
		"                         [--predict-rows N] [--latency-calls N]\n"
		"       mlfs forest bench --model M --test CSV --label COL [--threads N] [...]\n"
		"                         (a saved model: prediction only, no fit)\n"
		"\n"
		"Parameters (scikit-learn names): n_estimators max_depth min_samples_split\n"
		"min_samples_leaf min_impurity_decrease max_features bootstrap max_samples\n"
		"criterion class_weight seed oob_score max_bins n_jobs task.\n"
		"Bad input exits with status 2.\n");
}

static int status_of(int rc)
{
	return rc == -ENOMEM ? 1 : 2;
}

static int fail(const char *what, int rc, const struct mlfs_err *err)
{
	fprintf(stderr, "mlfs forest %s: %s\n", what,
		err && err->msg[0] ? err->msg : strerror(-rc));
	return status_of(rc);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

struct opts {
	const char *data, *label, *model, *train, *test;
	bool proba;
	unsigned threads;
	size_t predict_rows, latency_calls;
	struct forest_params params;
};

enum { OPT_PREDICT_ROWS = 256, OPT_LATENCY_CALLS };

static int parse_opts(int argc, char **argv, const char *cmd, struct opts *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "model", required_argument, NULL, 'm' },
		{ "param", required_argument, NULL, 'p' },
		{ "proba", no_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 't' },
		{ "train", required_argument, NULL, 'T' },
		{ "test", required_argument, NULL, 'E' },
		{ "predict-rows", required_argument, NULL, OPT_PREDICT_ROWS },
		{ "latency-calls", required_argument, NULL, OPT_LATENCY_CALLS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct mlfs_err err = { 0 };
	int c;

	memset(o, 0, sizeof(*o));
	forest_params_default(&o->params);
	o->predict_rows = 1000000;
	o->latency_calls = 1000;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:l:m:p:t:h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'l': o->label = optarg; break;
		case 'm': o->model = optarg; break;
		case 'T': o->train = optarg; break;
		case 'E': o->test = optarg; break;
		case 'P': o->proba = true; break;
		case 'p': {
			char *eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "mlfs forest %s: --param wants NAME=VALUE, not '%s'\n",
					cmd, optarg);
				return 2;
			}
			*eq = '\0';
			int rc = forest_params_set(&o->params, optarg, eq + 1, &err);
			*eq = '=';
			if (rc)
				return fail(cmd, rc, &err);
			break;
		}
		case 't': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v > 256) {
				fprintf(stderr, "mlfs forest %s: bad --threads '%s'\n",
					cmd, optarg);
				return 2;
			}
			o->threads = (unsigned)v;
			o->params.n_jobs = (uint32_t)v;
			break;
		}
		case OPT_PREDICT_ROWS:
		case OPT_LATENCY_CALLS: {
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || end == optarg || v == 0) {
				fprintf(stderr, "mlfs forest %s: bad number '%s'\n",
					cmd, optarg);
				return 2;
			}
			if (c == OPT_PREDICT_ROWS)
				o->predict_rows = v;
			else
				o->latency_calls = v;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "mlfs forest %s: unknown or incomplete option '%s'\n",
				cmd, argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mlfs forest %s: unexpected argument '%s'\n", cmd,
			argv[optind]);
		return 2;
	}
	return 0;
}

/* 0 when every option of WHICH (their letters: d data, l label, m model,
 * T train, E test) was given, else 2 after saying which is missing. */
static int need(const char *cmd, const struct opts *o, const char *which)
{
	static const struct { char c; const char *name; size_t off; } opt[] = {
		{ 'd', "data", offsetof(struct opts, data) },
		{ 'l', "label", offsetof(struct opts, label) },
		{ 'm', "model", offsetof(struct opts, model) },
		{ 'T', "train", offsetof(struct opts, train) },
		{ 'E', "test", offsetof(struct opts, test) },
	};
	for (const char *w = which; *w; w++)
		for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
			if (opt[i].c == *w &&
			    !*(const char *const *)((const char *)o + opt[i].off)) {
				fprintf(stderr, "mlfs forest %s: --%s is required\n",
					cmd, opt[i].name);
				return 2;
			}
	return 0;
}

/* Load CSV for a model: its categorical features stay text whatever they
 * hold (the label is matched to class names either way). */
static int load_for_model(const struct forest *m, const char *path,
			  struct frame **f, struct mlfs_err *err)
{
	size_t nf = forest_nfeatures(m), n = 0;
	const char **names = calloc(nf + 1, sizeof(*names));
	if (!names)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (size_t j = 0; j < nf; j++)
		if (forest_feature_kind(m, j) == FRAME_CATEGORICAL)
			names[n++] = forest_feature_name(m, j);
	struct frame_csv_opts opts = { names, n };
	int rc = frame_load_csv(path, &opts, f, err);
	free(names);
	return rc;
}

/* The end of a command: free what it holds, return STATUS. */
static int cmd_end(int status, struct buf *out, struct forest *m,
		   struct frame *f)
{
	buf_free(out);
	forest_free(m);
	frame_free(f);
	return status;
}

/* "oob_score X" when M has one. */
static void put_oob(const struct forest *m, struct buf *out)
{
	double oob;
	if (!forest_oob_score(m, &oob)) {
		buf_puts(out, "oob_score ");
		buf_put_double(out, oob);
		buf_putc(out, '\n');
	}
}

/* The model --model and the data --data read for it. */
static int load_model_data(const struct opts *o, struct forest **m,
			   struct frame **f, struct mlfs_err *err)
{
	int rc = forest_load_file(o->model, m, err);
	return rc ? rc : load_for_model(*m, o->data, f, err);
}

static int cmd_train(struct opts *o)
{
	struct mlfs_err err = { 0 };
	struct frame *f = NULL;
	struct forest *m = NULL;
	struct buf out = { 0 };
	int rc, status = 0;

	if (need("train", o, "dlm"))
		return 2;
	if ((rc = frame_load_csv(o->data, NULL, &f, &err))) {
		status = fail("train", rc, &err);
		goto out;
	}
	double t0 = now();
	if ((rc = forest_fit(f, o->label, &o->params, &m, &err))) {
		status = fail("train", rc, &err);
		goto out;
	}
	double fit_s = now() - t0;
	if ((rc = forest_save_file(m, o->model, &err))) {
		status = fail("train", rc, &err);
		goto out;
	}
	struct forest_stats st;
	forest_stats(m, &st);
	buf_printf(&out, "rows %zu\nfeatures %zu\n", frame_nrows(f),
		   forest_nfeatures(m));
	if (forest_is_classifier(m))
		buf_printf(&out, "classes %zu\n", forest_nclasses(m));
	buf_printf(&out, "trees %zu\nnodes %zu\nfit_seconds %.3f\n", st.trees,
		   st.nodes, fit_s);
	put_oob(m, &out);
	fwrite(out.data, 1, out.len, stdout);
out:
	return cmd_end(status, &out, m, f);
}

/* Append one prediction line for row I. */
static int put_prediction(const struct forest *m, const double *p, bool proba,
			  struct buf *out)
{
	int rc;
	if (!forest_is_classifier(m)) {
		rc = buf_put_double(out, p[0]);
		return rc ? rc : buf_putc(out, '\n');
	}
	size_t k = forest_nclasses(m);
	const char *name = forest_class_name(m, forest_argmax(p, k));
	rc = csv_put_field(out, name, strlen(name));
	for (size_t c = 0; proba && c < k && !rc; c++) {
		rc = buf_putc(out, ',');
		if (!rc)
			rc = buf_put_double(out, p[c]);
	}
	return rc ? rc : buf_putc(out, '\n');
}

static int cmd_predict(struct opts *o)
{
	struct mlfs_err err = { 0 };
	struct forest *m = NULL;
	struct frame *f = NULL;
	struct buf out = { 0 };
	double *p = NULL;
	int rc, status = 0;

	if (need("predict", o, "md"))
		return 2;
	if ((rc = load_model_data(o, &m, &f, &err))) {
		status = fail("predict", rc, &err);
		goto out;
	}
	size_t n = frame_nrows(f), k = forest_nout(m);
	p = malloc((n * k + 1) * sizeof(*p));
	if (!p) {
		status = fail("predict", -ENOMEM, NULL);
		goto out;
	}
	if ((rc = forest_predict(m, f, o->threads, p, &err))) {
		status = fail("predict", rc, &err);
		goto out;
	}
	buf_puts(&out, "prediction");
	if (o->proba && forest_is_classifier(m)) {
		for (size_t c = 0; c < k; c++) {
			char name[1100];
			int len = snprintf(name, sizeof(name), "proba_%s",
					   forest_class_name(m, c));
			buf_putc(&out, ',');
			csv_put_field(&out, name, (size_t)len < sizeof(name) ? (size_t)len
				      : sizeof(name) - 1);
		}
	}
	buf_putc(&out, '\n');
	for (size_t i = 0; i < n; i++) {
		if ((rc = put_prediction(m, p + i * k, o->proba, &out))) {
			status = fail("predict", rc, NULL);
			goto out;
		}
		if (out.len > (1u << 20)) {
			fwrite(out.data, 1, out.len, stdout);
			buf_reset(&out);
		}
	}
	fwrite(out.data, 1, out.len, stdout);
	if (fflush(stdout)) {
		status = fail("predict", -errno, NULL);
		goto out;
	}
out:
	free(p);
	return cmd_end(status, &out, m, f);
}

/* Predict F with M and compute the metrics against column LABEL. */
static int evaluate(const struct forest *m, const struct frame *f,
		    const char *label, unsigned threads,
		    struct eval_report *rep, struct mlfs_err *err)
{
	size_t n = frame_nrows(f), k = forest_nout(m);
	double *p = malloc((n * k + 1) * sizeof(*p));
	double *y = malloc((n + 1) * sizeof(*y));
	int32_t *cls = malloc((n + 1) * sizeof(*cls));
	int rc;

	if (!p || !y || !cls) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = forest_encode_labels(m, f, label, cls, y, err)) ||
	    (rc = forest_predict(m, f, threads, p, err)))
		goto out;
	if (forest_is_classifier(m))
		rc = eval_classification(cls, p, n, k, rep, err);
	else
		rc = eval_regression(y, p, n, rep, err);
out:
	free(p);
	free(y);
	free(cls);
	return rc;
}

static int cmd_eval(struct opts *o)
{
	struct mlfs_err err = { 0 };
	struct forest *m = NULL;
	struct frame *f = NULL;
	struct eval_report rep;
	struct buf out = { 0 };
	int rc, status = 0;

	if (need("eval", o, "mdl"))
		return 2;
	if ((rc = load_model_data(o, &m, &f, &err)) ||
	    (rc = evaluate(m, f, o->label, o->threads, &rep, &err))) {
		status = fail("eval", rc, &err);
		goto out;
	}
	buf_printf(&out, "rows %zu\n", frame_nrows(f));
	eval_report_format(&rep, &out);
	fwrite(out.data, 1, out.len, stdout);
out:
	return cmd_end(status, &out, m, f);
}

struct imp_ix {
	double v;
	size_t j;
};

static int cmp_imp(const void *a, const void *b)
{
	const struct imp_ix *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? 1 : -1;
	return (x->j > y->j) - (x->j < y->j);
}

static int cmd_info(struct opts *o)
{
	struct mlfs_err err = { 0 };
	struct forest *m = NULL;
	struct buf out = { 0 }, bytes = { 0 };
	struct imp_ix *v = NULL;
	int rc, status = 0;

	if (need("info", o, "m"))
		return 2;
	if ((rc = forest_load_file(o->model, &m, &err)) ||
	    (rc = forest_save(m, &bytes, &err))) {
		status = fail("info", rc, &err);
		goto out;
	}
	struct forest_stats st;
	forest_stats(m, &st);
	buf_printf(&out, "task %s\nlabel %s\n",
		   forest_is_classifier(m) ? "classification" : "regression",
		   forest_label(m));
	if (forest_is_classifier(m)) {
		buf_printf(&out, "classes %zu\n", forest_nclasses(m));
		for (size_t c = 0; c < forest_nclasses(m); c++)
			buf_printf(&out, "class %zu %s\n", c, forest_class_name(m, c));
	}
	buf_printf(&out, "trees %zu\nnodes %zu\nleaves %zu\nmax_depth %zu\n"
		   "train_rows %llu\nfeatures %zu\nmodel_bytes %zu\nmemory_bytes %zu\n",
		   st.trees, st.nodes, st.leaves, st.max_depth,
		   (unsigned long long)st.train_rows, forest_nfeatures(m),
		   bytes.len, st.mem_bytes);
	put_oob(m, &out);
	forest_params_format(forest_params(m), &out);
	size_t nf = forest_nfeatures(m);
	const double *imp = forest_importances(m);
	v = malloc((nf + 1) * sizeof(*v));
	if (!v) {
		status = fail("info", -ENOMEM, NULL);
		goto out;
	}
	for (size_t j = 0; j < nf; j++)
		v[j] = (struct imp_ix){ imp[j], j };
	qsort(v, nf, sizeof(*v), cmp_imp);
	for (size_t i = 0; i < nf; i++) {
		size_t j = v[i].j;
		buf_printf(&out, "importance %s %s %s ", forest_feature_name(m, j),
			   forest_feature_kind(m, j) == FRAME_CATEGORICAL
			   ? "categorical" : "numeric",
			   col_type_name(forest_feature_type(m, j)));
		buf_put_double(&out, v[i].v);
		buf_putc(&out, '\n');
	}
	fwrite(out.data, 1, out.len, stdout);
out:
	free(v);
	buf_free(&out);
	buf_free(&bytes);
	forest_free(m);
	return status;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A frame with F's columns and N rows: rows FIRST, FIRST + 1, ... of F,
 * wrapping around. */
static int frame_rows(const struct frame *f, size_t first, size_t n,
		      struct frame **out, struct mlfs_err *err)
{
	struct frame *r = frame_new();
	size_t nf = frame_nrows(f);
	int rc = 0;
	if (!r)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (size_t c = 0; c < frame_ncols(f) && rc >= 0; c++)
		rc = frame_add_column(r, frame_col_name(f, c), frame_col_kind(f, c),
				      frame_col_type(f, c), err);
	if (rc >= 0)
		rc = frame_reserve(r, n);
	for (size_t k = 0; k < n && rc >= 0; k++) {
		size_t i = (first + k) % nf;
		for (size_t c = 0; c < frame_ncols(f) && rc >= 0; c++) {
			if (frame_col_kind(f, c) == FRAME_NUMERIC) {
				rc = frame_append_number(r, c, frame_col_numbers(f, c)[i], err);
			} else {
				size_t len = 0;
				int32_t code = frame_col_codes(f, c)[i];
				const char *s = code < 0 ? NULL
					: frame_col_category(f, c, code, &len);
				rc = frame_append_text(r, c, s, len, err);
			}
		}
	}
	if (rc < 0) {
		frame_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int cmd_bench(struct opts *o)
{
	struct mlfs_err err = { 0 };
	struct frame *train = NULL, *test = NULL, *big = NULL, **rows = NULL;
	struct forest *m = NULL;
	struct buf bytes = { 0 };
	struct eval_report rep;
	double *p = NULL, *lat = NULL;
	size_t nrows_lat = 0;
	int rc, status = 0;

	if (need("bench", o, o->model ? "El" : "TEl"))
		return 2;
	/* With --model the saved model is loaded instead of fitted: the
	 * load is reported as load_seconds and fit_seconds is 0. */
	double t0 = now();
	if (o->model)
		rc = forest_load_file(o->model, &m, &err);
	else
		rc = frame_load_csv(o->train, NULL, &train, &err);
	if (rc) {
		status = fail("bench", rc, &err);
		goto out;
	}
	double load_s = now() - t0;
	t0 = now();
	if (!o->model && (rc = forest_fit(train, o->label, &o->params, &m, &err))) {
		status = fail("bench", rc, &err);
		goto out;
	}
	double fit_s = o->model ? 0 : now() - t0;
	long rss = peak_rss_kb();
	frame_free(train);
	train = NULL;
	if ((rc = forest_save(m, &bytes, &err)) ||
	    (rc = load_for_model(m, o->test, &test, &err)) ||
	    (rc = evaluate(m, test, o->label, o->threads, &rep, &err))) {
		status = fail("bench", rc, &err);
		goto out;
	}
	/* Batch throughput: the test rows repeated to predict_rows rows, in
	 * one call, as the peers get them. */
	size_t n = frame_nrows(test), k = forest_nout(m), done = o->predict_rows;
	if (!n) {
		status = fail("bench", -EINVAL, NULL);
		goto out;
	}
	if ((rc = frame_rows(test, 0, done, &big, &err))) {
		status = fail("bench", rc, &err);
		goto out;
	}
	p = malloc((done * k + 1) * sizeof(*p));
	if (!p) {
		status = fail("bench", -ENOMEM, NULL);
		goto out;
	}
	t0 = now();
	if ((rc = forest_predict(m, big, o->threads, p, &err))) {
		status = fail("bench", rc, &err);
		goto out;
	}
	double pred_s = now() - t0;
	frame_free(big);
	big = NULL;
	/* Single-row latency: one-row frames made beforehand, one thread. */
	nrows_lat = o->latency_calls;
	rows = calloc(nrows_lat, sizeof(*rows));
	lat = malloc(nrows_lat * sizeof(*lat));
	if (!rows || !lat) {
		status = fail("bench", -ENOMEM, NULL);
		goto out;
	}
	for (size_t i = 0; i < nrows_lat; i++)
		if ((rc = frame_rows(test, i % n, 1, &rows[i], &err))) {
			status = fail("bench", rc, &err);
			goto out;
		}
	for (size_t i = 0; i < nrows_lat; i++) {
		double one[1024];
		double *q = k <= 1024 ? one : p;
		double s = now();
		rc = forest_predict(m, rows[i], 1, q, &err);
		lat[i] = now() - s;
		if (rc) {
			status = fail("bench", rc, &err);
			goto out;
		}
	}
	qsort(lat, nrows_lat, sizeof(*lat), cmp_dbl);
	struct forest_stats st;
	forest_stats(m, &st);
	printf("load_seconds %.3f\nfit_seconds %.3f\npeak_rss_mb %.1f\n"
	       "predict_rows %zu\npredict_seconds %.3f\npredict_rows_per_s %.0f\n"
	       "latency_us_median %.2f\nmodel_bytes %zu\nmemory_bytes %zu\n"
	       "nodes %zu\nmax_depth %zu\n",
	       load_s, fit_s, rss / 1024.0, done, pred_s, done / pred_s,
	       lat[nrows_lat / 2] * 1e6, bytes.len, st.mem_bytes, st.nodes,
	       st.max_depth);
	if (forest_is_classifier(m))
		printf("accuracy %.6f\nroc_auc %.6f\nlog_loss %.6f\n", rep.accuracy,
		       rep.roc_auc, rep.log_loss);
	else
		printf("rmse %.6f\nr2 %.6f\n", rep.rmse, rep.r2);
out:
	if (rows)
		for (size_t i = 0; i < nrows_lat; i++)
			frame_free(rows[i]);
	free(rows);
	free(lat);
	free(p);
	buf_free(&bytes);
	frame_free(train);
	frame_free(test);
	frame_free(big);
	forest_free(m);
	return status;
}

int forest_cli_main(int argc, char **argv)
{
	struct opts o;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if ((rc = parse_opts(argc - 1, argv + 1, cmd, &o)))
		return rc;
	if (!strcmp(cmd, "train"))
		return cmd_train(&o);
	if (!strcmp(cmd, "predict"))
		return cmd_predict(&o);
	if (!strcmp(cmd, "eval"))
		return cmd_eval(&o);
	if (!strcmp(cmd, "info"))
		return cmd_info(&o);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(&o);
	fprintf(stderr, "mlfs forest: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
