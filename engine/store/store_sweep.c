/* store_sweep.c - deletes the stray batch objects of dead writers on the
 * remote backend: an object NAME/batches/WRITER-ID that no log entry
 * names (its writer died between the object's PUT and the entry's
 * commit) and whose WRITER (the store's writer name, names.h's
 * names_session) the caller says is gone.  Built on store_remote_check's
 * list of unreferenced objects; the caller (the elected scheduler) says
 * which writers are gone and owns the grace period (store.h). */
#include "store.h"
#include "store_int.h"
#include "objstore.h"

#include <errno.h>
#include <string.h>

struct sweep_ctx {
	struct objstore *os;
	const char *name;	/* NAME */
	size_t skip;		/* strlen("NAME/batches/") */
	bool (*gone)(void *ctx, const char *writer);
	void *ctx;
	size_t deleted;
	int rc;
	struct mlfs_err *err;
};

/* The WRITER of batch object NAME/batches/WRITER-ID into OUT; false for
 * any other name (a checkpoint's chunk, a name entry_make never writes). */
static bool writer_of(const struct sweep_ctx *sc, const char *object, char *out, size_t size)
{
	size_t nl = strlen(sc->name);
	if (strncmp(object, sc->name, nl) || strncmp(object + nl, "/batches/", 9))
		return false;
	const char *w = object + sc->skip, *dash = strrchr(w, '-');
	if (!dash || dash == w || (size_t)(dash - w) >= size)
		return false;
	memcpy(out, w, (size_t)(dash - w));
	out[dash - w] = '\0';
	return true;
}

static int sweep_object(void *ctx, const char *object)
{
	struct sweep_ctx *sc = ctx;
	char writer[OBJSTORE_NAME_MAX];
	if (!writer_of(sc, object, writer, sizeof(writer)) || !sc->gone(sc->ctx, writer))
		return 0;
	int rc = objstore_delete(sc->os, object, sc->err);
	if (rc && rc != -ENOENT)
		return sc->rc = rc;
	sc->deleted++;
	return 0;
}

int store_remote_sweep(struct kv *kv, struct objstore *os, const char *name,
		       bool (*gone)(void *ctx, const char *writer), void *ctx,
		       size_t *deleted, struct mlfs_err *err)
{
	struct sweep_ctx sc = { .os = os, .name = name, .skip = strlen(name) + strlen("/batches/"),
				.gone = gone, .ctx = ctx, .err = err };
	int rc = store_remote_check(kv, os, name, sweep_object, &sc, err);
	if (deleted)
		*deleted = sc.deleted;
	return rc ? rc : sc.rc;
}

/* objstore_list_fn: whether any batch object's writer is gone (in
 * SC->rc, 1), so that the log is read only then. */
static int probe_object(void *ctx, const char *object, uint64_t size)
{
	struct sweep_ctx *sc = ctx;
	char writer[OBJSTORE_NAME_MAX];
	(void)size;
	if (writer_of(sc, object, writer, sizeof(writer)) && sc->gone(sc->ctx, writer))
		return sc->rc = 1;	/* stops the listing */
	return 0;
}

int store_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *writer), void *ctx,
		     size_t *deleted, struct mlfs_err *err)
{
	struct store_remote *r = store_remote_of(s);
	struct kv *kv;
	struct objstore *os;
	const char *name, *host;
	struct buf prefix = { 0 };
	if (deleted)
		*deleted = 0;
	if (!r)
		return 0;
	store_remote_parts(r, &kv, &os, &name, &host);
	/* One listing first: the whole log is read only when some object's
	 * writer is gone (its committed objects too, until a compaction). */
	struct sweep_ctx sc = { .name = name, .skip = strlen(name) + strlen("/batches/"),
				.gone = gone, .ctx = ctx };
	buf_printf(&prefix, "%s/batches/", name);
	int rc = objstore_list_all(os, prefix.data, NULL, probe_object, &sc, err);
	buf_free(&prefix);
	if (rc < 0 || !sc.rc)
		return rc < 0 ? rc : 0;
	return store_remote_sweep(kv, os, name, gone, ctx, deleted, err);
}

static bool not_self(void *ctx, const char *writer)
{
	return strcmp(writer, ctx) != 0;
}

int store_sweep_alone(struct store *s, size_t *deleted, struct mlfs_err *err)
{
	return store_sweep_dead(s, not_self, (void *)store_writer_name(s), deleted, err);
}
