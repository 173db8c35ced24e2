/* access.c - who may see what in a view that gathers many objects
 * (runs.csv, lineage, /log): the reader's uid and groups against the
 * mode, owner and group of each directory on an object's path, as the
 * kernel checks a path under default_permissions.  The kernel already
 * guards every path a caller opens; this guards what one file shows of
 * other paths.  Root sees everything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

void fs_reader_init(struct fs_reader *r)
{
	fs_caller(&r->uid, &r->gid);
	r->ngroups = -1;
	r->has_base = false;
	r->last[0] = '\0';
	r->last_ok = false;
}

struct fs_reader *fs_reader_new(void)
{
	struct fs_reader *r = malloc(sizeof(*r));
	if (!r)
		mlfs_oom();
	fs_reader_init(r);
	return r;
}

bool fs_reader_is_root(const struct fs_reader *r)
{
	return r->uid == 0;
}

static bool in_group(struct fs_reader *r, gid_t gid)
{
	if (gid == r->gid)
		return true;
	if (r->ngroups < 0) {
		int n = fs_caller_groups(r->groups, FS_READER_GROUPS);
		r->ngroups = n < 0 ? 0 : n > FS_READER_GROUPS ? FS_READER_GROUPS : n;
	}
	for (int i = 0; i < r->ngroups; i++)
		if (r->groups[i] == gid)
			return true;
	return false;
}

/* Whether the mode bits of N grant R every bit of WANT (4 read, 1 search),
 * the owner's bits for its owner, the group's for its group. */
static bool node_grants(struct fs *fs, struct fs_reader *r,
			const struct node *n, unsigned want)
{
	struct stat st;
	if (node_stat(fs, n, &st))
		return false;
	unsigned bits = st.st_uid == r->uid ? (st.st_mode >> 6) & 7 :
		in_group(r, st.st_gid) ? (st.st_mode >> 3) & 7 : st.st_mode & 7;
	return (bits & want) == want;
}

/* A node copied by value: its owner points into its own owner_path. */
static void node_copy(struct node *dst, const struct node *src)
{
	memcpy(dst, src, sizeof(*dst));
	dst->owner = dst->owner_path[0] ? dst->owner_path : NULL;
}

/* Where to walk PATH from: the remembered base when PATH is below it,
 * else the root (searchable or not).  *REST: what is left of PATH. */
static bool walk_start(struct fs *fs, struct fs_reader *r, const char *path,
		       struct node *cur, const char **rest)
{
	size_t bl = r->has_base ? strlen(r->base.path) : 0;
	if (bl > 1 && !strncmp(path, r->base.path, bl) &&
	    (path[bl] == '/' || !path[bl])) {
		node_copy(cur, &r->base);
		*rest = path + bl;
		return true;
	}
	*rest = path;
	return fs_resolve(fs, "/", cur) == 0 && node_grants(fs, r, cur, 1);
}

enum walk { WALK_DENIED, WALK_MISSING, WALK_OK };

/* Walk PATH from the root as the kernel would for R: WALK_DENIED at the
 * first directory R may not search, or when R may not read the deepest
 * one; WALK_MISSING when a name on it does not exist (what exists of it
 * being searchable); else WALK_OK. */
static enum walk reader_walk(struct fs *fs, struct fs_reader *r,
			     const char *path)
{
	struct node cur, child;
	char comp[FS_NAME_MAX + 1];
	const char *p;
	enum walk found = WALK_OK;

	if (!walk_start(fs, r, path, &cur, &p))
		return WALK_DENIED;
	for (;;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (!n)
			break;
		if (n > FS_NAME_MAX) {
			found = WALK_MISSING;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (node_lookup(fs, &cur, comp, false, &child)) {
			found = WALK_MISSING;
			break;
		}
		if (child.ops->kind != NK_DIR) {
			found = p[strspn(p, "/")] ? WALK_MISSING : WALK_OK;
			break;
		}
		child.owner = child.owner_path[0] ? child.owner_path : NULL;
		if (!node_grants(fs, r, &child, 1))
			return WALK_DENIED;
		/* CUR is searchable and so is every directory above it. */
		node_copy(&r->base, &cur);
		r->has_base = true;
		node_copy(&cur, &child);
	}
	return node_grants(fs, r, &cur, 4) ? found : WALK_DENIED;
}

int fs_caller_may_name(struct fs *fs, const char *path, struct mlfs_err *err)
{
	struct fs_reader *r = fs_reader_new();
	/* A name that does not exist is the spec's own check to report. */
	bool ok = fs_reader_is_root(r) || reader_walk(fs, r, path) != WALK_DENIED;
	free(r);
	return ok ? 0 : mlfs_fail(err, -EACCES, "%s: permission denied (its owner has not let you read it)", path);
}

bool fs_reader_may(struct fs *fs, struct fs_reader *r, const char *path)
{
	if (fs_reader_is_root(r))
		return true;
	if (path[0] != '/')
		return false;
	if (r->last[0] && !strcmp(r->last, path))
		return r->last_ok;
	bool ok = reader_walk(fs, r, path) == WALK_OK;
	if (strlen(path) < sizeof(r->last)) {
		strcpy(r->last, path);
		r->last_ok = ok;
	}
	return ok;
}
