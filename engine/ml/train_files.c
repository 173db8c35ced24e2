/* train_files.c - what a training leaves in its run's artifacts, under
 * TRAIN_DIR (train.h):
 *   model/model.forest      the forest (forest.h's format)
 *   model/importances.csv   feature,importance, largest first
 *   model/confusion.csv     actual class by predicted class (classifiers)
 *   model/features.yaml     what serving needs: lookups, label, classes
 *   model/signature         MLflow's signature: input and output columns
 *   model/profile           the train rows' column profile (profile.h), the
 *                           baseline of drift monitors
 *   training_set.csv        every row trained and tested on, with split
 * Writing only; the run's records are train.c's. */
#include "train_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "csv.h"
#include "features.h"
#include "profile.h"
#include "types.h"

#define DIR_MODE 0755
#define FILE_MODE 0644

/* The directory NAME in DIR, made when missing. */
static int want_dir(struct store *s, uint64_t dir, const char *name, uint32_t uid,
		    uint32_t gid, uint64_t *out, struct mlfs_err *err)
{
	struct blob_stat st;
	int rc = blob_lookup(s, dir, name, &st);
	if (rc == -ENOENT)
		rc = blob_make(s, dir, name, true, DIR_MODE, uid, gid, &st, err);
	if (!rc && !st.dir)
		rc = mlfs_fail(err, -ENOTDIR, "artifacts: '%s' is a file", name);
	if (!rc)
		*out = st.id;
	return rc;
}

/* A new empty file at PATH ("a/b/c") under ROOT, replacing one there. */
static int new_file(struct store *s, uint64_t root, uint32_t uid, uint32_t gid,
		    const char *path, uint64_t *id, struct mlfs_err *err)
{
	char part[256];
	uint64_t dir = root;
	const char *p = path;
	int rc;

	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		snprintf(part, sizeof(part), "%.*s", (int)(slash - p), p);
		if ((rc = want_dir(s, dir, part, uid, gid, &dir, err)))
			return rc;
	}
	struct blob_stat st;
	if (blob_lookup(s, dir, p, &st) == 0 &&
	    (rc = blob_remove(s, dir, p, st.dir, err)))
		return rc;
	if ((rc = blob_make(s, dir, p, false, FILE_MODE, uid, gid, &st, err)))
		return rc;
	*id = st.id;
	return 0;
}

int train_put_artifact(struct store *s, uint64_t root, uint32_t uid,
		       uint32_t gid, const char *file, const char *data,
		       size_t len, struct mlfs_err *err)
{
	uint64_t id;
	int rc = new_file(s, root, uid, gid, file, &id, err);
	return rc ? rc : blob_write(s, id, 0, data, len, err);
}

/* ---- text helpers ---- */

/* A YAML double-quoted scalar (also a JSON string). */
static void put_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '"');
}

static void put_cell(struct buf *b, const struct frame *f, size_t c, size_t row)
{
	if (frame_col_kind(f, c) == FRAME_CATEGORICAL) {
		int32_t code = frame_col_codes(f, c)[row];
		size_t len;
		if (code >= 0) {
			const char *s = frame_col_category(f, c, code, &len);
			csv_put_field(b, s, len);
		}
		return;
	}
	double x = frame_col_numbers(f, c)[row];
	char tmp[40];
	if (isnan(x))
		return;
	switch (frame_col_type(f, c)) {
	case COL_INT:
		buf_printf(b, "%lld", (long long)x);
		break;
	case COL_BOOL:
		buf_puts(b, x != 0 ? "true" : "false");
		break;
	case COL_DATE:
		fmt_date(tmp, (int32_t)x);
		buf_puts(b, tmp);
		break;
	case COL_TIMESTAMP:
		fmt_timestamp(tmp, (int64_t)llround(x * 1e6));
		buf_puts(b, tmp);
		break;
	default:
		buf_put_double(b, x);
	}
}

/* ---- the files ---- */

static int write_training_set(struct store *s, uint64_t root, uint32_t uid,
			      uint32_t gid, const struct train_data *d,
			      struct mlfs_err *err)
{
	const struct frame *parts[2] = { d->all, d->all_test };
	struct buf b = { 0 };
	uint64_t id, off = 0;
	int rc = new_file(s, root, uid, gid, TRAIN_DIR "/training_set.csv", &id, err);

	for (size_t c = 0; c < frame_ncols(d->all); c++) {
		const char *name = frame_col_name(d->all, c);
		csv_put_field(&b, name, strlen(name));
		buf_putc(&b, ',');
	}
	buf_puts(&b, "split\n");
	for (int p = 0; !rc && p < 2 && parts[p]; p++) {
		const struct frame *f = parts[p];
		for (size_t i = 0; !rc && i < frame_nrows(f); i++) {
			for (size_t c = 0; c < frame_ncols(f); c++) {
				put_cell(&b, f, c, i);
				buf_putc(&b, ',');
			}
			buf_puts(&b, p == 1 || d->is_test[i] ? "test\n" : "train\n");
			if (b.len >= (1u << 20)) {
				rc = blob_write(s, id, off, b.data, b.len, err);
				off += b.len;
				buf_reset(&b);
			}
		}
	}
	if (!rc && b.len)
		rc = blob_write(s, id, off, b.data, b.len, err);
	buf_free(&b);
	return rc;
}

struct importance {
	const char *name;
	double value;
};

static int cmp_importance(const void *a, const void *b)
{
	const struct importance *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void importances_csv(const struct forest *m, struct buf *b)
{
	size_t n = forest_nfeatures(m);
	struct importance *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		mlfs_oom();
	for (size_t j = 0; j < n; j++)
		v[j] = (struct importance){ forest_feature_name(m, j), forest_importances(m)[j] };
	qsort(v, n, sizeof(*v), cmp_importance);
	buf_puts(b, "feature,importance\n");
	for (size_t j = 0; j < n; j++) {
		csv_put_field(b, v[j].name, strlen(v[j].name));
		buf_putc(b, ',');
		buf_put_double(b, v[j].value);
		buf_putc(b, '\n');
	}
	free(v);
}

static void confusion_csv(const struct forest *m, const uint64_t *conf, struct buf *b)
{
	size_t k = forest_nclasses(m);
	buf_puts(b, "actual");
	for (size_t p = 0; p < k; p++) {
		buf_putc(b, ',');
		csv_put_field(b, forest_class_name(m, p), strlen(forest_class_name(m, p)));
	}
	buf_putc(b, '\n');
	for (size_t t = 0; t < k; t++) {
		csv_put_field(b, forest_class_name(m, t), strlen(forest_class_name(m, t)));
		for (size_t p = 0; p < k; p++)
			buf_printf(b, ",%llu", (unsigned long long)conf[t * k + p]);
		buf_putc(b, '\n');
	}
}

static void yaml_list(struct buf *b, char *const *items, size_t n)
{
	buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_puts(b, ", ");
		put_quoted(b, items[i]);
	}
	buf_putc(b, ']');
}

/* One lookup: its table's columns as read (the default: every non-key
 * column), and the version of the table the training saw. */
static void yaml_lookup(struct store *s, const struct trainset_lookup *l, struct buf *b)
{
	struct features_schema *fs = NULL;
	struct features_info info = { 0 };
	char when[40];

	buf_puts(b, "  - table: ");
	put_quoted(b, l->table);
	buf_puts(b, "\n    lookup_key: ");
	yaml_list(b, (char *const *)l->lookup_keys, l->nkeys);
	buf_puts(b, "\n    columns: [");
	features_schema_get(s, l->table, &fs, NULL);
	size_t k = 0;
	for (uint32_t c = 0; fs && c < fs->ncols; c++) {
		bool want = !l->columns;
		for (size_t i = 0; l->columns && i < l->ncolumns; i++)
			want |= !strcmp(l->columns[i], fs->names[c]);
		for (uint32_t i = 0; !l->columns && i < fs->nkeys; i++)
			want &= fs->keys[i] != c;
		if (!l->columns && (int)c == fs->ts)
			want = false;
		if (!want)
			continue;
		buf_puts(b, k++ ? ", " : "");
		put_quoted(b, fs->names[c]);
	}
	features_schema_free(fs);
	buf_puts(b, "]\n");
	if (l->timestamp_lookup_key) {
		buf_puts(b, "    timestamp_lookup_key: ");
		put_quoted(b, l->timestamp_lookup_key);
		buf_putc(b, '\n');
	}
	features_stat(s, l->table, &info);
	fmt_timestamp(when, info.mtime_ns / 1000);
	buf_printf(b, "    version: %llu\n    updated: \"%s\"\n",
		   (unsigned long long)info.version, when);
}

static void features_yaml(struct store *s, const struct train_spec *sp,
			  const struct forest *m, struct buf *b)
{
	buf_puts(b, "# What this model needs at serving time (written by mlfs).\nlabels: ");
	put_quoted(b, sp->labels);
	buf_puts(b, "\nlabel: ");
	put_quoted(b, sp->label);
	buf_printf(b, "\ntask: %s\n", forest_is_classifier(m) ? "classification" : "regression");
	if (forest_is_classifier(m)) {
		buf_puts(b, "classes: [");
		for (size_t c = 0; c < forest_nclasses(m); c++) {
			buf_puts(b, c ? ", " : "");
			put_quoted(b, forest_class_name(m, c));
		}
		buf_puts(b, "]\n");
	}
	buf_puts(b, "lookups:");
	buf_puts(b, sp->nlookups ? "\n" : " []\n");
	for (size_t i = 0; i < sp->nlookups; i++)
		yaml_lookup(s, &sp->lookups[i], b);
	buf_puts(b, "exclude: ");
	yaml_list(b, sp->exclude, sp->nexclude);
	buf_puts(b, "\nfeatures: [");
	for (size_t j = 0; j < forest_nfeatures(m); j++) {
		buf_puts(b, j ? ", " : "");
		put_quoted(b, forest_feature_name(m, j));
	}
	buf_puts(b, "]\n");
}

/* MLflow's column types. */
static const char *mlflow_type(enum frame_kind kind, enum col_type t)
{
	if (kind == FRAME_CATEGORICAL)
		return "string";
	switch (t) {
	case COL_INT: return "long";
	case COL_BOOL: return "boolean";
	case COL_DATE:
	case COL_TIMESTAMP: return "datetime";
	default: return "double";
	}
}

/* MLflow's signature block of an MLmodel file: JSON column specs. */
static void signature(const struct train_data *d, const struct forest *m, struct buf *b)
{
	buf_puts(b, "inputs: '[");
	for (size_t j = 0; j < forest_nfeatures(m); j++) {
		buf_puts(b, j ? ", " : "");
		buf_puts(b, "{\"name\": ");
		put_quoted(b, forest_feature_name(m, j));
		buf_printf(b, ", \"type\": \"%s\"}",
			   mlflow_type(forest_feature_kind(m, j), forest_feature_type(m, j)));
	}
	int lc = frame_col_index(d->train, forest_label(m));
	buf_puts(b, "]'\noutputs: '[{\"name\": ");
	put_quoted(b, forest_label(m));
	buf_printf(b, ", \"type\": \"%s\"}]'\n",
		   lc < 0 ? "double" : mlflow_type(frame_col_kind(d->train, (size_t)lc),
						    frame_col_type(d->train, (size_t)lc)));
}

/* One value of frame F's column C, row I, into column COL of B. */
static void profile_cell(struct profile_builder *b, size_t col,
			 const struct frame *f, size_t c, size_t i)
{
	size_t len;
	const char *s;
	if (frame_col_kind(f, c) == FRAME_NUMERIC) {
		profile_builder_number(b, col, frame_col_numbers(f, c)[i]);
		return;
	}
	s = frame_col_category(f, c, frame_col_codes(f, c)[i], &len);
	profile_builder_text(b, col, s, s ? len : 0);
}

static enum profile_kind profile_kind_of(const struct frame *f, size_t c)
{
	return frame_col_kind(f, c) == FRAME_NUMERIC ? PROFILE_NUMERIC : PROFILE_CATEGORICAL;
}

/* The profile of the train rows (d->train holds the features and the
 * label: forest_fit takes the label from it) into *OUT: the features in
 * model order, the label, and "prediction", the label as serving prints a
 * prediction, so that the inference log compares with it: a classifier's
 * class name, categorical (forest_class_name, what served_label prints:
 * "0", "true", "yes"); a regressor's number.  A feature or a label
 * called "prediction" leaves no room for it: then there is none. */
static int train_profile(const struct train_data *d, const struct forest *m,
			 struct profile **out, struct mlfs_err *err)
{
	const struct frame *f = d->train;
	size_t n = frame_nrows(f), nf = forest_nfeatures(m), k = 0;
	int lc = frame_col_index(f, forest_label(m)), rc = 0;
	bool classify = forest_is_classifier(m);
	int32_t *cls = NULL;
	size_t *src = NULL;
	struct profile_builder *b = NULL;

	if (lc < 0)
		return mlfs_fail(err, -EINVAL, "profile: no label column '%s'", forest_label(m));
	if (classify) {
		if (!(cls = malloc((n + 1) * sizeof(*cls))))
			mlfs_oom();
		if ((rc = forest_encode_labels(m, f, forest_label(m), cls, NULL, err)))
			goto out;
	}
	if (!(src = malloc((nf + 1) * sizeof(*src))))
		mlfs_oom();
	b = profile_builder_new();
	for (size_t j = 0; j <= nf; j++) {
		int c = j < nf ? frame_col_index(f, forest_feature_name(m, j)) : lc;
		if (c >= 0 && profile_builder_column(b, frame_col_name(f, (size_t)c),
						     profile_kind_of(f, (size_t)c)) >= 0)
			src[k++] = (size_t)c;
	}
	int pred = profile_builder_column(b, "prediction",
					  classify ? PROFILE_CATEGORICAL : PROFILE_NUMERIC);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < k; c++)
			profile_cell(b, c, f, src[c], i);
		if (pred >= 0 && classify) {
			const char *name = forest_class_name(m, (size_t)cls[i]);
			profile_builder_text(b, (size_t)pred, name, strlen(name));
		} else if (pred >= 0) {
			profile_builder_number(b, (size_t)pred, frame_col_numbers(f, (size_t)lc)[i]);
		}
		profile_builder_row(b);
	}
	*out = profile_builder_finish(b);
out:
	free(src);
	free(cls);
	return rc;
}

static int write_profile(struct store *s, uint64_t root, uint32_t uid,
			 uint32_t gid, const struct train_data *d,
			 const struct forest *m, struct mlfs_err *err)
{
	struct profile *p = NULL;
	struct buf b = { 0 };
	int rc = train_profile(d, m, &p, err);
	if (!rc) {
		profile_encode(p, &b);
		rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/profile",
					b.data, b.len, err);
	}
	profile_free(p);
	buf_free(&b);
	return rc;
}

int train_write_files(struct store *s, uint64_t root, uint32_t uid,
		      uint32_t gid, const struct train_spec *sp,
		      const struct train_data *d, const struct forest *m,
		      const uint64_t *confusion, struct mlfs_err *err)
{
	struct buf b = { 0 };
	int rc = forest_save(m, &b, err);
	if (!rc)
		rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/model.forest", b.data, b.len, err);
	buf_reset(&b);
	importances_csv(m, &b);
	if (!rc)
		rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/importances.csv", b.data, b.len, err);
	if (confusion) {
		buf_reset(&b);
		confusion_csv(m, confusion, &b);
		if (!rc)
			rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/confusion.csv", b.data, b.len, err);
	}
	buf_reset(&b);
	features_yaml(s, sp, m, &b);
	if (!rc)
		rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/features.yaml", b.data, b.len, err);
	buf_reset(&b);
	signature(d, m, &b);
	if (!rc)
		rc = train_put_artifact(s, root, uid, gid, TRAIN_DIR "/model/signature", b.data, b.len, err);
	buf_free(&b);
	if (!rc)
		rc = write_profile(s, root, uid, gid, d, m, err);
	if (!rc)
		rc = write_training_set(s, root, uid, gid, d, err);
	return rc;
}
