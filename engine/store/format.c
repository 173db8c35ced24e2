/* format.c - the V record: {version, created_ns}. */
#include "format.h"

#include <errno.h>
#include <time.h>

#include "codec.h"

int format_ensure(struct store *s, bool create, struct mlfs_err *err)
{
	struct buf v = { 0 };
	int rc = store_get(s, NULL, "V", 1, &v, err);

	if (rc == -ENOENT) {
		buf_free(&v);
		if (!create)
			return mlfs_fail(err, -ENOENT, "not an mlfs store: no format version record");
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		codec_enc_map(&v, 2);
		codec_enc_cstr(&v, "version");
		codec_enc_u64(&v, MLFS_FORMAT_VERSION);
		codec_enc_cstr(&v, "created_ns");
		codec_enc_i64(&v, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
		struct store_batch *b = store_batch_new();
		store_batch_put(b, "V", 1, v.data, v.len);
		rc = store_write(s, b, true, err);
		store_batch_free(b);
		buf_free(&v);
		return rc;
	}
	if (rc) {
		buf_free(&v);
		return rc;
	}
	struct dec *d = codec_dec_new(v.data, v.len);
	uint64_t version = d ? codec_dget_u64(codec_dec_root(d), "version", 0) : 0;
	codec_dec_free(d);
	buf_free(&v);
	if (version != MLFS_FORMAT_VERSION)
		return mlfs_fail(err, -EPROTO, "store format version %llu, this mlfs reads version %d",
				 (unsigned long long)version, MLFS_FORMAT_VERSION);
	return 0;
}
