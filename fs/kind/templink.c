/* templink.c - symlinks under a temporary name.
 *
 * `ln -sfn TARGET link` over an existing link makes the new link under a
 * temporary name (coreutils' gen_tempname: "Cu" + 6 of [A-Za-z0-9], in
 * the link's directory) and renames it over `link`.  Directories whose
 * links mean something (a run's parent, a model's aliases) accept only
 * their own names; a link under such a temporary name (the hook answers
 * EPERM for it) is held here, in memory, until it is renamed onto a real
 * name (and then applied by the directory's symlink hook) or removed.
 * Held links are not listed by readdir and are forgotten after
 * TEMPLINK_SECONDS.  Any other name a directory does not take is an
 * error of its hook, never held. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

#define TEMPLINK_SECONDS 60

struct templink {
	struct templink *next;
	char *path, *target;
	time_t made;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct templink *links;	/* guarded by lock */

static void expire(time_t now)
{
	for (struct templink **pp = &links; *pp;) {
		struct templink *t = *pp;
		if (now - t->made > TEMPLINK_SECONDS) {
			*pp = t->next;
			free(t->path);
			free(t->target);
			free(t);
			continue;
		}
		pp = &t->next;
	}
}

bool fs_templink_name(const char *name)
{
	if (strlen(name) != 8 || strncmp(name, "Cu", 2))
		return false;
	for (int i = 2; i < 8; i++)
		if (!isalnum((unsigned char)name[i]))
			return false;
	return true;
}

int fs_templink_add(const char *path, const char *target)
{
	struct templink *t = calloc(1, sizeof(*t));
	if (!t || !(t->path = strdup(path)) || !(t->target = strdup(target))) {
		if (t)
			free(t->path);
		free(t);
		return -ENOMEM;
	}
	t->made = time(NULL);
	pthread_mutex_lock(&lock);
	expire(t->made);
	t->next = links;
	links = t;
	pthread_mutex_unlock(&lock);
	return 0;
}

bool fs_templink_get(const char *path, struct buf *target)
{
	bool found = false;
	pthread_mutex_lock(&lock);
	expire(time(NULL));
	for (struct templink *t = links; t; t = t->next) {
		if (!strcmp(t->path, path)) {
			if (target) {
				buf_reset(target);
				buf_puts(target, t->target);
			}
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

bool fs_templink_del(const char *path)
{
	bool found = false;
	pthread_mutex_lock(&lock);
	for (struct templink **pp = &links; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->path, path)) {
			struct templink *t = *pp;
			*pp = t->next;
			free(t->path);
			free(t->target);
			free(t);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void fs_templink_free_all(void)
{
	pthread_mutex_lock(&lock);
	while (links) {
		struct templink *t = links;
		links = t->next;
		free(t->path);
		free(t->target);
		free(t);
	}
	pthread_mutex_unlock(&lock);
}

static int templink_readlink(struct fs *fs, const struct node *n,
			     struct buf *out)
{
	return fs_templink_get(n->path, out) ? 0 : -ENOENT;
}

static int templink_remove(struct fs *fs, const struct node *n,
			   struct mlfs_err *err)
{
	return fs_templink_del(n->path) ? 0 : -ENOENT;
}

const struct node_ops templink_ops = {
	.kind = NK_SYMLINK, .perm = 0777,
	.readlink = templink_readlink, .remove = templink_remove,
};
