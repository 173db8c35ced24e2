/* lineage.c - which model versions read which feature table: the index
 * behind /features/T/lineage.  A version's features.yaml (written by the
 * training, kept with the version) names the tables its lookups read;
 * registering a version adds r/l/TABLE\0 MID N -> model name, deleting it
 * removes them, in the same batch as the version's record.  Reads only
 * the YAML text it is given, never another module's keys. */
#include "registry_int.h"

#include <errno.h>
#include <string.h>

#include "spec.h"

/* r/l/TABLE\0, then MID and N when HAS_ID. */
static void key_lineage(struct buf *k, const char *table, bool has_id,
			uint64_t mid, uint64_t n)
{
	buf_reset(k);
	buf_puts(k, "r/l/");
	buf_puts(k, table);
	buf_putc(k, '\0');
	if (has_id) {
		key_put_u64(k, mid);
		key_put_u64(k, n);
	}
}

/* Call FN for each feature table FEATURES_YAML's lookups name.  Text
 * that does not parse names none (a version registered from a run that
 * was not trained by mlfs has no lookups). */
static void each_table(const char *yaml, size_t len,
		       void (*fn)(void *ctx, const char *table), void *ctx)
{
	struct spec_doc *doc;
	if (!len || spec_parse_yaml(yaml, len, &doc, NULL))
		return;
	const struct spec_node *root = spec_doc_root(doc);
	const struct spec_node *seq = root && root->kind == SPEC_MAP ?
		spec_map_get(root, "lookups") : NULL;
	for (size_t i = 0; seq && seq->kind == SPEC_SEQ && i < seq->n; i++) {
		const struct spec_node *t = seq->kids[i]->kind == SPEC_MAP ?
			spec_map_get(seq->kids[i], "table") : NULL;
		if (t && t->kind == SPEC_SCALAR && names_valid(t->str))
			fn(ctx, t->str);
	}
	spec_doc_free(doc);
}

struct lineage_change {
	struct store_batch *b;
	const char *model;	/* NULL: delete */
	uint64_t mid, n;
};

static void change_table(void *ctx, const char *table)
{
	struct lineage_change *c = ctx;
	struct buf k = { 0 };
	key_lineage(&k, table, true, c->mid, c->n);
	if (c->model)
		store_batch_put(c->b, k.data, k.len, c->model, strlen(c->model));
	else
		store_batch_delete(c->b, k.data, k.len);
	buf_free(&k);
}

void reg_lineage_put(struct store_batch *b, const char *model, uint64_t mid,
		     uint64_t n, const char *features_yaml, size_t len)
{
	struct lineage_change c = { b, model, mid, n };
	each_table(features_yaml, len, change_table, &c);
}

void reg_lineage_delete(struct store_batch *b, uint64_t mid, uint64_t n,
			const char *features_yaml, size_t len)
{
	struct lineage_change c = { b, NULL, mid, n };
	each_table(features_yaml, len, change_table, &c);
}

int registry_lineage(struct store *s, const char *table,
		     int (*fn)(void *ctx, const char *model, uint64_t version),
		     void *ctx)
{
	struct buf lo = { 0 }, hi = { 0 };
	char model[NAMES_MAX + 1];
	int rc = 0;
	if (!names_valid(table))
		return 0;
	key_lineage(&lo, table, false, 0, 0);
	buf_append(&hi, lo.data, lo.len - 1);
	buf_putc(&hi, '\1');
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		if (kl != lo.len + 16 || vl > NAMES_MAX)
			continue;
		memcpy(model, v, vl);
		model[vl] = '\0';
		rc = fn(ctx, model, key_get_u64(k + lo.len + 8));
	}
	return store_iter_end(it, rc, &lo, &hi);
}
