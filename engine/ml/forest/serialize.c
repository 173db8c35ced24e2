/* serialize.c - the model as bytes: a versioned msgpack document.
 *
 * The only file of engine/forest that includes msgpack.h.  Trees are stored
 * as msgpack bin blobs of fixed little-endian records (8-byte nodes, float
 * leaf values, u32 bitset words) so that loading is a bounds check and a
 * copy.  The reader trusts nothing: container sizes are checked against
 * the input length before msgpack allocates, and every node index, feature,
 * offset and category order is validated, so a loaded model cannot make
 * prediction read out of bounds or loop.  Format: docs/store-format.md. */
#include "forest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"

#define FORMAT_NAME "mlfs-forest"
#define FORMAT_VERSION 1
#define NODE_BYTES 8
#define NODE_FLAGS_KNOWN (NODE_LEAF | NODE_CAT | NODE_MISS_LEFT | NODE_PURE)

/* ---- writing ---- */

static int buf_write_cb(void *data, const char *p, size_t len)
{
	return buf_append(data, p, len) ? -1 : 0;
}

static int pk_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pk_bin(msgpack_packer *pk, const void *p, size_t n)
{
	return msgpack_pack_bin(pk, n) || (n && msgpack_pack_bin_body(pk, p, n));
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void encode_node(uint8_t *p, const struct fnode *n)
{
	put_le(p, n->a, 4);
	put_le(p + 4, n->feat, 2);
	p[6] = n->bin;
	p[7] = n->flags;
}

static void decode_node(const uint8_t *p, struct fnode *n)
{
	n->a = (uint32_t)get_le(p, 4);
	n->feat = (uint16_t)get_le(p + 4, 2);
	n->bin = p[6];
	n->flags = p[7];
}

static int pack_params(msgpack_packer *pk, const struct forest_params *p)
{
	int rc = msgpack_pack_map(pk, 18);
#define KU(k, v) rc |= pk_str(pk, k) || msgpack_pack_uint64(pk, (uint64_t)(v))
#define KD(k, v) rc |= pk_str(pk, k) || msgpack_pack_double(pk, (v))
#define KB(k, v) rc |= pk_str(pk, k) || ((v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk))
	KU("task", p->task);
	KU("n_estimators", p->n_estimators);
	KU("max_depth", p->max_depth);
	KU("min_samples_split", p->min_samples_split);
	KD("min_samples_split_frac", p->min_samples_split_frac);
	KU("min_samples_leaf", p->min_samples_leaf);
	KD("min_samples_leaf_frac", p->min_samples_leaf_frac);
	KD("min_impurity_decrease", p->min_impurity_decrease);
	KU("max_features", p->max_features);
	KD("max_features_value", p->max_features_value);
	KB("bootstrap", p->bootstrap);
	KU("max_samples", p->max_samples);
	KD("max_samples_frac", p->max_samples_frac);
	KU("criterion", p->criterion);
	KB("class_weight_balanced", p->class_weight_balanced);
	KU("seed", p->seed);
	KU("max_bins", p->max_bins);
	KB("oob_score", p->oob_score);
#undef KU
#undef KD
#undef KB
	return rc;
}

static int pack_tree(msgpack_packer *pk, const struct tree *t, struct buf *tmp)
{
	int rc = msgpack_pack_array(pk, 6);
	rc |= msgpack_pack_uint64(pk, t->nnodes);
	rc |= msgpack_pack_uint64(pk, t->depth);
	size_t need = (size_t)t->nnodes * NODE_BYTES;
	if (need < (size_t)t->nleafv * 4)
		need = (size_t)t->nleafv * 4;
	if (need < (size_t)t->nvals * 8)
		need = (size_t)t->nvals * 8;
	if (need < (size_t)t->ncats * 4)
		need = (size_t)t->ncats * 4;
	buf_reset(tmp);
	if (buf_reserve(tmp, need + 1))
		return -1;
	uint8_t *p = (uint8_t *)tmp->data;
	for (uint32_t i = 0; i < t->nnodes; i++)
		encode_node(p + (size_t)i * NODE_BYTES, &t->nodes[i]);
	rc |= pk_bin(pk, p, (size_t)t->nnodes * NODE_BYTES);
	for (uint32_t i = 0; i < t->nleafv; i++) {
		uint32_t u;
		memcpy(&u, &t->leafv[i], 4);
		put_le(p + (size_t)i * 4, u, 4);
	}
	rc |= pk_bin(pk, p, (size_t)t->nleafv * 4);
	for (uint32_t i = 0; i < t->nvals; i++) {
		uint64_t u;
		memcpy(&u, &t->vals[i], 8);
		put_le(p + (size_t)i * 8, u, 8);
	}
	rc |= pk_bin(pk, p, (size_t)t->nvals * 8);
	for (uint32_t i = 0; i < t->ncats; i++)
		put_le(p + (size_t)i * 4, t->cats[i], 4);
	rc |= pk_bin(pk, p, (size_t)t->ncats * 4);
	return rc;
}

int forest_save(const struct forest *m, struct buf *out, struct mlfs_err *err)
{
	msgpack_packer pk;
	struct buf tmp = { 0 };
	size_t start = out->len;
	int rc = 0;

	msgpack_packer_init(&pk, out, buf_write_cb);
	rc |= msgpack_pack_map(&pk, 12);
	rc |= pk_str(&pk, "format") || pk_str(&pk, FORMAT_NAME);
	rc |= pk_str(&pk, "version") || msgpack_pack_uint64(&pk, FORMAT_VERSION);
	rc |= pk_str(&pk, "task") ||
	      pk_str(&pk, m->classify ? "classification" : "regression");
	rc |= pk_str(&pk, "label") || pk_str(&pk, m->label);
	rc |= pk_str(&pk, "label_type") || pk_str(&pk, col_type_name(m->label_type));
	rc |= pk_str(&pk, "classes") || msgpack_pack_array(&pk, m->k);
	for (uint32_t c = 0; c < m->k; c++)
		rc |= pk_str(&pk, m->classes[c]);
	rc |= pk_str(&pk, "features") || msgpack_pack_array(&pk, m->nfeat);
	for (uint32_t j = 0; j < m->nfeat; j++) {
		const struct feature *ft = &m->feats[j];
		bool cat = ft->kind == FRAME_CATEGORICAL;
		rc |= msgpack_pack_map(&pk, cat ? 5 : 4);
		rc |= pk_str(&pk, "name") || pk_str(&pk, ft->name);
		rc |= pk_str(&pk, "kind") || pk_str(&pk, cat ? "categorical" : "numeric");
		rc |= pk_str(&pk, "type") || pk_str(&pk, col_type_name(ft->type));
		if (!cat) {
			uint8_t le[8];
			rc |= pk_str(&pk, "bins") ||
			      msgpack_pack_bin(&pk, (size_t)ft->nbins * 8);
			for (uint32_t b = 0; b < ft->nbins; b++) {
				uint64_t u;
				memcpy(&u, &ft->ub[b], 8);
				put_le(le, u, 8);
				rc |= msgpack_pack_bin_body(&pk, le, 8);
			}
		} else {
			rc |= pk_str(&pk, "catbins") ||
			      pk_bin(&pk, ft->catbin, ft->ncats);
		}
		if (cat) {
			rc |= pk_str(&pk, "categories") ||
			      msgpack_pack_array(&pk, ft->ncats);
			for (uint32_t c = 0; c < ft->ncats; c++)
				rc |= msgpack_pack_str(&pk, ft->catlen[c]) ||
				      msgpack_pack_str_body(&pk, ft->cats[c],
							    ft->catlen[c]);
		}
	}
	rc |= pk_str(&pk, "params") || pack_params(&pk, &m->params);
	rc |= pk_str(&pk, "train_rows") || msgpack_pack_uint64(&pk, m->train_rows);
	rc |= pk_str(&pk, "importances") || msgpack_pack_array(&pk, m->nfeat);
	for (uint32_t j = 0; j < m->nfeat; j++)
		rc |= msgpack_pack_double(&pk, m->importances[j]);
	rc |= pk_str(&pk, "oob_score");
	rc |= m->has_oob ? msgpack_pack_double(&pk, m->oob_score)
			 : msgpack_pack_nil(&pk);
	rc |= pk_str(&pk, "trees") || msgpack_pack_array(&pk, m->ntrees);
	for (uint32_t t = 0; t < m->ntrees && !rc; t++)
		rc |= pack_tree(&pk, &m->trees[t], &tmp);
	buf_free(&tmp);
	if (rc) {
		out->len = start;
		return mlfs_fail(err, -ENOMEM, "out of memory writing the model");
	}
	return 0;
}

/* ---- reading ---- */

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
		    !memcmp(k->via.str.ptr, key, kl))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = o->via.u64;
	return true;
}

static bool get_u32(const msgpack_object *o, uint32_t *out)
{
	uint64_t v;
	if (!get_u64(o, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool get_dbl(const msgpack_object *o, double *out)
{
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
		*out = o->via.f64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*out = (double)o->via.u64;
	else
		return false;
	return true;
}

static bool get_bool(const msgpack_object *o, bool *out)
{
	if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*out = o->via.boolean;
	return true;
}

static bool is_str(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       !memcmp(o->via.str.ptr, s, n);
}

/* A NUL-free copy of a msgpack string (names must be C strings). */
static char *dup_str(const msgpack_object *o, size_t max)
{
	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size))
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static bool parse_col_type(const msgpack_object *o, enum col_type *t)
{
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return false;
	if (o->via.str.size == 4 && !memcmp(o->via.str.ptr, "null", 4)) {
		*t = COL_NULL;
		return true;
	}
	return col_type_parse(o->via.str.ptr, o->via.str.size, t) == 0;
}

#define BAD(...) do { rc = mlfs_fail(err, -EINVAL, __VA_ARGS__); goto out; } while (0)

static int load_params(const msgpack_object *o, struct forest_params *p,
		       struct mlfs_err *err)
{
	uint32_t u;
	int rc = 0;
	forest_params_default(p);
	if (!o || o->type != MSGPACK_OBJECT_MAP)
		BAD("model: params missing");
	if (!get_u32(map_get(o, "task"), &u) || u > FOREST_TASK_REGRESS)
		BAD("model: bad params.task");
	p->task = (enum forest_task)u;
	if (!get_u32(map_get(o, "n_estimators"), &p->n_estimators) ||
	    !get_u32(map_get(o, "max_depth"), &p->max_depth) ||
	    !get_u32(map_get(o, "min_samples_split"), &p->min_samples_split) ||
	    !get_dbl(map_get(o, "min_samples_split_frac"), &p->min_samples_split_frac) ||
	    !get_u32(map_get(o, "min_samples_leaf"), &p->min_samples_leaf) ||
	    !get_dbl(map_get(o, "min_samples_leaf_frac"), &p->min_samples_leaf_frac) ||
	    !get_dbl(map_get(o, "min_impurity_decrease"), &p->min_impurity_decrease) ||
	    !get_dbl(map_get(o, "max_features_value"), &p->max_features_value) ||
	    !get_bool(map_get(o, "bootstrap"), &p->bootstrap) ||
	    !get_u32(map_get(o, "max_samples"), &p->max_samples) ||
	    !get_dbl(map_get(o, "max_samples_frac"), &p->max_samples_frac) ||
	    !get_bool(map_get(o, "class_weight_balanced"), &p->class_weight_balanced) ||
	    !get_u64(map_get(o, "seed"), &p->seed) ||
	    !get_u32(map_get(o, "max_bins"), &p->max_bins) ||
	    !get_bool(map_get(o, "oob_score"), &p->oob_score))
		BAD("model: bad or missing parameter");
	if (!get_u32(map_get(o, "max_features"), &u) || u > FOREST_MF_COUNT)
		BAD("model: bad params.max_features");
	p->max_features = (enum forest_max_features)u;
	if (!get_u32(map_get(o, "criterion"), &u) || u > FOREST_CRIT_SQUARED_ERROR)
		BAD("model: bad params.criterion");
	p->criterion = (enum forest_criterion)u;
out:
	return rc;
}

static int load_feature(const msgpack_object *o, struct feature *ft,
			uint32_t j, struct mlfs_err *err)
{
	int rc = 0;
	if (!o || o->type != MSGPACK_OBJECT_MAP)
		BAD("model: feature %u is not a map", j);
	if (!(ft->name = dup_str(map_get(o, "name"), 1024)) || !ft->name[0])
		BAD("model: feature %u has a bad name", j);
	const msgpack_object *kind = map_get(o, "kind");
	if (is_str(kind, "numeric"))
		ft->kind = FRAME_NUMERIC;
	else if (is_str(kind, "categorical"))
		ft->kind = FRAME_CATEGORICAL;
	else
		BAD("model: feature '%s' has a bad kind", ft->name);
	if (!parse_col_type(map_get(o, "type"), &ft->type))
		BAD("model: feature '%s' has a bad type", ft->name);
	if (ft->kind == FRAME_NUMERIC) {
		/* Bin bounds: 1..255, strictly increasing, the last +inf. */
		const msgpack_object *bins = map_get(o, "bins");
		if (!bins || bins->type != MSGPACK_OBJECT_BIN ||
		    bins->via.bin.size % 8 || bins->via.bin.size == 0 ||
		    bins->via.bin.size / 8 > MAX_BINS)
			BAD("model: feature '%s' has bad bins", ft->name);
		ft->nbins = (uint16_t)(bins->via.bin.size / 8);
		ft->ub = malloc(ft->nbins * sizeof(double));
		if (!ft->ub) {
			rc = mlfs_fail(err, -ENOMEM, "out of memory");
			goto out;
		}
		const uint8_t *p = (const uint8_t *)bins->via.bin.ptr;
		for (uint32_t b = 0; b < ft->nbins; b++) {
			uint64_t u = get_le(p + (size_t)b * 8, 8);
			memcpy(&ft->ub[b], &u, 8);
			if (isnan(ft->ub[b]) || (b > 0 && !(ft->ub[b] > ft->ub[b - 1])))
				BAD("model: feature '%s' has bad bins", ft->name);
		}
		if (ft->ub[ft->nbins - 1] != HUGE_VAL)
			BAD("model: feature '%s' has bad bins", ft->name);
		return 0;
	}
	const msgpack_object *cats = map_get(o, "categories");
	if (!cats || cats->type != MSGPACK_OBJECT_ARRAY)
		BAD("model: feature '%s' has no categories", ft->name);
	uint32_t nc = cats->via.array.size;
	ft->cats = calloc((size_t)nc + 1, sizeof(*ft->cats));
	ft->catlen = calloc((size_t)nc + 1, sizeof(*ft->catlen));
	if (!ft->cats || !ft->catlen) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t c = 0; c < nc; c++) {
		const msgpack_object *s = &cats->via.array.ptr[c];
		if (s->type != MSGPACK_OBJECT_STR)
			BAD("model: feature '%s': category %u is not text", ft->name, c);
		ft->cats[c] = malloc((size_t)s->via.str.size + 1);
		if (!ft->cats[c]) {
			rc = mlfs_fail(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(ft->cats[c], s->via.str.ptr, s->via.str.size);
		ft->cats[c][s->via.str.size] = '\0';
		ft->catlen[c] = s->via.str.size;
		ft->ncats = c + 1;
		if (c > 0) {
			/* Strictly ascending by bytes (lookups binary-search). */
			uint32_t a = ft->catlen[c - 1], b = ft->catlen[c];
			int cmp = memcmp(ft->cats[c - 1], ft->cats[c], a < b ? a : b);
			if (cmp > 0 || (cmp == 0 && a >= b))
				BAD("model: feature '%s': categories out of order",
				    ft->name);
		}
	}
	const msgpack_object *cb = map_get(o, "catbins");
	if (!cb || cb->type != MSGPACK_OBJECT_BIN || cb->via.bin.size != nc)
		BAD("model: feature '%s' has bad catbins", ft->name);
	ft->catbin = malloc((size_t)nc + 1);
	if (!ft->catbin) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (nc)
		memcpy(ft->catbin, cb->via.bin.ptr, nc);
	for (uint32_t c = 0; c < nc; c++)
		if (ft->catbin[c] >= MAX_BINS)
			BAD("model: feature '%s' has bad catbins", ft->name);
out:
	return rc;
}

/* Check tree T of model M: indices in range, children after parents. */
static int check_tree(const struct forest *m, struct tree *t, uint32_t ti,
		      struct mlfs_err *err)
{
	uint32_t *depth = calloc(t->nnodes, sizeof(*depth));
	uint32_t maxd = 0;
	int rc = 0;
	if (!depth)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct fnode *n = &t->nodes[i];
		/* Parents come first, so a node nothing pointed at by now is
		 * unreachable: a tree, not a graph (the layout relies on it). */
		if (i && !depth[i])
			BAD("model: tree %u node %u: no parent", ti, i);
		if (n->flags & ~NODE_FLAGS_KNOWN)
			BAD("model: tree %u node %u: unknown flags", ti, i);
		if (depth[i] > maxd)
			maxd = depth[i];
		if (n->flags & NODE_LEAF) {
			if (n->flags & (NODE_CAT | NODE_MISS_LEFT))
				BAD("model: tree %u node %u: bad leaf flags", ti, i);
			if (!m->classify) {
				if (n->a >= t->nvals)
					BAD("model: tree %u node %u: leaf value out of range", ti, i);
			} else if (m->k > 2) {
				if (n->flags & NODE_PURE) {
					if (n->a >= m->k)
						BAD("model: tree %u node %u: class out of range", ti, i);
				} else if (n->a > t->nleafv || t->nleafv - n->a < m->k) {
					BAD("model: tree %u node %u: leaf values out of range", ti, i);
				}
			}
			if ((n->flags & NODE_PURE) && !(m->classify && m->k > 2))
				BAD("model: tree %u node %u: bad leaf flags", ti, i);
			continue;
		}
		if (n->flags & NODE_PURE)
			BAD("model: tree %u node %u: bad split flags", ti, i);
		if (n->feat >= m->nfeat)
			BAD("model: tree %u node %u: feature out of range", ti, i);
		bool cat = m->feats[n->feat].kind == FRAME_CATEGORICAL;
		if (cat != ((n->flags & NODE_CAT) != 0))
			BAD("model: tree %u node %u: split does not fit the feature", ti, i);
		uint32_t child = n->a;
		if (cat) {
			if (n->a > t->ncats || t->ncats - n->a < CAT_REC_WORDS)
				BAD("model: tree %u node %u: category set out of range", ti, i);
			child = t->cats[n->a];
		}
		if (child <= i || child >= t->nnodes - 1)
			BAD("model: tree %u node %u: child out of range", ti, i);
		if (depth[child] || depth[child + 1])
			BAD("model: tree %u node %u: a child with two parents", ti, i);
		depth[child] = depth[child + 1] = depth[i] + 1;
	}
	t->depth = maxd;
out:
	free(depth);
	return rc;
}

static int load_tree(const struct forest *m, const msgpack_object *o,
		     struct tree *t, uint32_t ti, struct mlfs_err *err)
{
	uint32_t nnodes, depth;
	int rc = 0;
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6)
		BAD("model: tree %u is not a 6-array", ti);
	const msgpack_object *a = o->via.array.ptr;
	for (int i = 2; i < 6; i++)
		if (a[i].type != MSGPACK_OBJECT_BIN)
			BAD("model: tree %u has a bad shape", ti);
	if (!get_u32(&a[0], &nnodes) || !get_u32(&a[1], &depth) || nnodes == 0 ||
	    a[2].via.bin.size / NODE_BYTES != nnodes ||
	    a[2].via.bin.size % NODE_BYTES || a[3].via.bin.size % 4 ||
	    a[4].via.bin.size % 8 || a[5].via.bin.size % 4)
		BAD("model: tree %u has a bad shape", ti);
	t->nnodes = nnodes;
	t->nleafv = a[3].via.bin.size / 4;
	t->nvals = a[4].via.bin.size / 8;
	t->ncats = a[5].via.bin.size / 4;
	t->nodes = malloc((size_t)nnodes * sizeof(*t->nodes));
	t->leafv = malloc((size_t)t->nleafv * sizeof(float) + 1);
	t->vals = malloc((size_t)t->nvals * sizeof(double) + 1);
	t->cats = malloc((size_t)t->ncats * sizeof(uint32_t) + 1);
	if (!t->nodes || !t->leafv || !t->vals || !t->cats) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	const uint8_t *p = (const uint8_t *)a[2].via.bin.ptr;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	_Static_assert(sizeof(struct fnode) == NODE_BYTES, "node layout");
	memcpy(t->nodes, p, (size_t)nnodes * NODE_BYTES);
	(void)decode_node;
#else
	for (uint32_t i = 0; i < nnodes; i++)
		decode_node(p + (size_t)i * NODE_BYTES, &t->nodes[i]);
#endif
	p = (const uint8_t *)a[3].via.bin.ptr;
	for (uint32_t i = 0; i < t->nleafv; i++) {
		uint32_t u = (uint32_t)get_le(p + (size_t)i * 4, 4);
		memcpy(&t->leafv[i], &u, 4);
	}
	p = (const uint8_t *)a[4].via.bin.ptr;
	for (uint32_t i = 0; i < t->nvals; i++) {
		uint64_t u = get_le(p + (size_t)i * 8, 8);
		memcpy(&t->vals[i], &u, 8);
	}
	p = (const uint8_t *)a[5].via.bin.ptr;
	for (uint32_t i = 0; i < t->ncats; i++)
		t->cats[i] = (uint32_t)get_le(p + (size_t)i * 4, 4);
	rc = check_tree(m, t, ti, err);
out:
	return rc;
}

int forest_load(const void *data, size_t len, struct forest **out,
		struct mlfs_err *err)
{
	msgpack_unpacked up;
	struct forest *m = NULL;
	size_t off = 0;
	uint64_t version;
	int rc = 0;

	*out = NULL;
	msgpack_unpacked_init(&up);
	if (len == 0)
		BAD("model: empty input");
	if (!codec_check_sizes(data, len))
		BAD("model: not a model file (bad or truncated msgpack)");
	if (msgpack_unpack_next(&up, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
		BAD("model: not a model file (bad or truncated msgpack)");
	const msgpack_object *root = &up.data;
	if (!is_str(map_get(root, "format"), FORMAT_NAME))
		BAD("model: not an mlfs forest model");
	if (!get_u64(map_get(root, "version"), &version))
		BAD("model: no format version");
	if (version > FORMAT_VERSION) {
		rc = mlfs_fail(err, -ENOTSUP,
			       "model: format version %llu is newer than this mlfs (%d)",
			       (unsigned long long)version, FORMAT_VERSION);
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	const msgpack_object *task = map_get(root, "task");
	if (is_str(task, "classification"))
		m->classify = true;
	else if (!is_str(task, "regression"))
		BAD("model: bad task");
	if (!(m->label = dup_str(map_get(root, "label"), 1024)))
		BAD("model: bad label");
	if (!parse_col_type(map_get(root, "label_type"), &m->label_type))
		BAD("model: bad label_type");
	const msgpack_object *classes = map_get(root, "classes");
	if (!classes || classes->type != MSGPACK_OBJECT_ARRAY)
		BAD("model: no classes");
	if (m->classify ? classes->via.array.size < 2 || classes->via.array.size > 65535
			: classes->via.array.size != 0)
		BAD("model: bad number of classes");
	m->classes = calloc((size_t)classes->via.array.size + 1, sizeof(char *));
	if (!m->classes) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t c = 0; c < classes->via.array.size; c++) {
		m->k = c;
		if (!(m->classes[c] = dup_str(&classes->via.array.ptr[c], 1 << 16)))
			BAD("model: class %u is not text", c);
	}
	m->k = classes->via.array.size;
	const msgpack_object *feats = map_get(root, "features");
	if (!feats || feats->type != MSGPACK_OBJECT_ARRAY ||
	    feats->via.array.size == 0 || feats->via.array.size > 65535)
		BAD("model: bad features");
	m->feats = calloc(feats->via.array.size, sizeof(*m->feats));
	if (!m->feats) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t j = 0; j < feats->via.array.size; j++) {
		m->nfeat = j + 1;
		if ((rc = load_feature(&feats->via.array.ptr[j], &m->feats[j], j, err)))
			goto out;
	}
	if ((rc = load_params(map_get(root, "params"), &m->params, err)))
		goto out;
	if (!get_u64(map_get(root, "train_rows"), &m->train_rows))
		BAD("model: bad train_rows");
	const msgpack_object *imp = map_get(root, "importances");
	if (!imp || imp->type != MSGPACK_OBJECT_ARRAY ||
	    imp->via.array.size != m->nfeat)
		BAD("model: bad importances");
	m->importances = calloc(m->nfeat, sizeof(double));
	if (!m->importances) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t j = 0; j < m->nfeat; j++)
		if (!get_dbl(&imp->via.array.ptr[j], &m->importances[j]))
			BAD("model: bad importances");
	const msgpack_object *oob = map_get(root, "oob_score");
	if (oob && oob->type != MSGPACK_OBJECT_NIL) {
		if (!get_dbl(oob, &m->oob_score))
			BAD("model: bad oob_score");
		m->has_oob = true;
	}
	const msgpack_object *trees = map_get(root, "trees");
	if (!trees || trees->type != MSGPACK_OBJECT_ARRAY ||
	    trees->via.array.size == 0)
		BAD("model: no trees");
	m->trees = calloc(trees->via.array.size, sizeof(*m->trees));
	if (!m->trees) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	m->ntrees = trees->via.array.size;
	for (uint32_t t = 0; t < m->ntrees; t++)
		if ((rc = load_tree(m, &trees->via.array.ptr[t], &m->trees[t], t, err)))
			goto out;
	if ((rc = forest_layout_build(m))) {
		rc = mlfs_fail(err, rc, "out of memory");
		goto out;
	}
	*out = m;
	m = NULL;
out:
	forest_free(m);
	msgpack_unpacked_destroy(&up);
	return rc;
}

int forest_save_file(const struct forest *m, const char *path,
		     struct mlfs_err *err)
{
	struct buf b = { 0 };
	char *tmp = NULL;
	int fd = -1, rc;

	if ((rc = forest_save(m, &b, err)))
		return rc;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t done = 0; done < b.len;) {
		ssize_t n = write(fd, b.data + done, b.len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	buf_free(&b);
	return rc;
}

int forest_load_file(const char *path, struct forest **out,
		     struct mlfs_err *err)
{
	struct stat st;
	char *data = NULL;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = mlfs_fail(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if ((rc = forest_load(data, got, out, err)) && err) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%.200s: %.300s", path, err->msg);
		memcpy(err->msg, msg, sizeof(msg));
	}
out:
	free(data);
	close(fd);
	return rc;
}
