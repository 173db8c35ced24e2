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

static int sweep_object(void *ctx, const char *object)
{
	struct sweep_ctx *sc = ctx;
	size_t nl = strlen(sc->name);
	if (strncmp(object, sc->name, nl) || strncmp(object + nl, "/batches/", 9))
		return 0;	/* a checkpoint's chunk: not a writer's */
	const char *w = object + sc->skip, *dash = strrchr(w, '-');
	char writer[OBJSTORE_NAME_MAX];
	if (!dash || dash == w || (size_t)(dash - w) >= sizeof(writer))
		return 0;	/* not a name entry_make writes: left alone */
	memcpy(writer, w, (size_t)(dash - w));
	writer[dash - w] = '\0';
	if (!sc->gone(sc->ctx, writer))
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

int store_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *writer), void *ctx,
		     size_t *deleted, struct mlfs_err *err)
{
	struct store_remote *r = store_remote_of(s);
	struct kv *kv;
	struct objstore *os;
	const char *name, *host;
	if (deleted)
		*deleted = 0;
	if (!r)
		return 0;
	store_remote_parts(r, &kv, &os, &name, &host);
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
