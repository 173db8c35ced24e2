/* inode.c - stable inode numbers for paths of a synthetic tree.
 *
 * The kernel refers to files by inode number; mlfs resolves paths.  This
 * table maps both ways.  An entry lives while the kernel holds lookups on
 * it (lookup raises nlookup, forget lowers it); the root is pinned.
 * Invariant: every entry is in both hash chains; numbers are never reused
 * within a mount. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

/* What resolving an inode's path gave, kept to skip the walk from the
 * root: everything of struct node except the path (in the inode). */
struct cached_node {
	uint64_t gen;
	struct timespec at;
	const struct node_ops *ops;
	char arg[FS_ARGS][FS_NAME_MAX + 1];
	uint64_t id, parent_id;
	char *owner_path;
};

struct inode {
	fuse_ino_t ino;
	uint64_t nlookup;
	char *path;
	struct cached_node *cache;	/* NULL until resolved once */
	struct inode *next_ino, *next_path;
};

static void cache_free(struct cached_node *c)
{
	if (c) {
		free(c->owner_path);
		free(c);
	}
}

static size_t hash_str(const char *s)
{
	size_t h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

int fs_inodes_init(struct fs *fs)
{
	pthread_mutex_init(&fs->ino_lock, NULL);
	fs->ino_buckets = 4096;
	fs->by_ino = calloc(fs->ino_buckets, sizeof(*fs->by_ino));
	fs->by_path = calloc(fs->ino_buckets, sizeof(*fs->by_path));
	if (!fs->by_ino || !fs->by_path)
		return -ENOMEM;
	fs->next_ino = FUSE_ROOT_ID;
	fuse_ino_t root = fs_inode_ref(fs, "/");
	return root == FUSE_ROOT_ID ? 0 : -ENOMEM;
}

void fs_inodes_free(struct fs *fs)
{
	for (size_t b = 0; fs->by_ino && b < fs->ino_buckets; b++) {
		struct inode *in = fs->by_ino[b];
		while (in) {
			struct inode *next = in->next_ino;
			cache_free(in->cache);
			free(in->path);
			free(in);
			in = next;
		}
	}
	free(fs->by_ino);
	free(fs->by_path);
	pthread_mutex_destroy(&fs->ino_lock);
}

static struct inode *find_path(struct fs *fs, const char *path)
{
	struct inode *in = fs->by_path[hash_str(path) % fs->ino_buckets];
	while (in && strcmp(in->path, path))
		in = in->next_path;
	return in;
}

static struct inode *find_ino(struct fs *fs, fuse_ino_t ino)
{
	struct inode *in = fs->by_ino[ino % fs->ino_buckets];
	while (in && in->ino != ino)
		in = in->next_ino;
	return in;
}

static void unlink_path(struct fs *fs, struct inode *in)
{
	struct inode **pp = &fs->by_path[hash_str(in->path) % fs->ino_buckets];
	while (*pp != in)
		pp = &(*pp)->next_path;
	*pp = in->next_path;
}

static void link_path(struct fs *fs, struct inode *in)
{
	size_t b = hash_str(in->path) % fs->ino_buckets;
	in->next_path = fs->by_path[b];
	fs->by_path[b] = in;
}

fuse_ino_t fs_inode_ref(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_path(fs, path);
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in || !(in->path = strdup(path))) {
			free(in);
			pthread_mutex_unlock(&fs->ino_lock);
			return 0;
		}
		in->ino = fs->next_ino++;
		size_t b = in->ino % fs->ino_buckets;
		in->next_ino = fs->by_ino[b];
		fs->by_ino[b] = in;
		link_path(fs, in);
		fs->ino_count++;
	}
	in->nlookup++;
	fuse_ino_t ino = in->ino;
	pthread_mutex_unlock(&fs->ino_lock);
	return ino;
}

int fs_inode_path(struct fs *fs, fuse_ino_t ino, char *out, size_t n)
{
	int rc = 0;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	if (!in)
		rc = -ESTALE;
	else if (strlen(in->path) >= n)
		rc = -ENAMETOOLONG;
	else
		strcpy(out, in->path);
	pthread_mutex_unlock(&fs->ino_lock);
	return rc;
}

void fs_inode_forget(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	if (in) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		if (in->nlookup == 0) {
			struct inode **pp = &fs->by_ino[ino % fs->ino_buckets];
			while (*pp != in)
				pp = &(*pp)->next_ino;
			*pp = in->next_ino;
			unlink_path(fs, in);
			cache_free(in->cache);
			free(in->path);
			free(in);
			fs->ino_count--;
		}
	}
	pthread_mutex_unlock(&fs->ino_lock);
}

void fs_inode_rename(struct fs *fs, const char *from, const char *to)
{
	size_t fl = strlen(from);
	pthread_mutex_lock(&fs->ino_lock);
	for (size_t b = 0; b < fs->ino_buckets; b++) {
		for (struct inode *in = fs->by_ino[b]; in; in = in->next_ino) {
			if (strncmp(in->path, from, fl) ||
			    (in->path[fl] != '\0' && in->path[fl] != '/'))
				continue;
			size_t len = strlen(to) + strlen(in->path + fl) + 1;
			char *p = malloc(len);
			if (!p)
				continue;
			snprintf(p, len, "%s%s", to, in->path + fl);
			unlink_path(fs, in);
			free(in->path);
			in->path = p;
			cache_free(in->cache);
			in->cache = NULL;
			link_path(fs, in);
		}
	}
	pthread_mutex_unlock(&fs->ino_lock);
}

bool fs_inode_cached(struct fs *fs, fuse_ino_t ino, uint64_t gen,
		     struct node *out)
{
	struct timespec now;
	bool hit = false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	struct cached_node *c = in ? in->cache : NULL;
	if (c && c->gen == gen && now.tv_sec - c->at.tv_sec < 1 &&
	    strlen(in->path) < sizeof(out->path)) {
		strcpy(out->path, in->path);
		out->ops = c->ops;
		memcpy(out->arg, c->arg, sizeof(out->arg));
		out->id = c->id;
		out->parent_id = c->parent_id;
		out->pending = false;
		snprintf(out->owner_path, sizeof(out->owner_path), "%s", c->owner_path);
		out->owner = out->owner_path[0] ? out->owner_path : NULL;
		hit = true;
	}
	pthread_mutex_unlock(&fs->ino_lock);
	return hit;
}

void fs_inode_cache(struct fs *fs, fuse_ino_t ino, uint64_t gen,
		    const struct node *n)
{
	if (n->pending)
		return;	/* exists only for its writer: never cached */
	struct cached_node *c = calloc(1, sizeof(*c));
	if (!c || !(c->owner_path = strdup(n->owner_path))) {
		free(c);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->at);
	c->gen = gen;
	c->ops = n->ops;
	memcpy(c->arg, n->arg, sizeof(c->arg));
	c->id = n->id;
	c->parent_id = n->parent_id;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	if (in && !strcmp(in->path, n->path)) {
		cache_free(in->cache);
		in->cache = c;
		c = NULL;
	}
	pthread_mutex_unlock(&fs->ino_lock);
	cache_free(c);
}

void fs_namespace_changed(struct fs *fs)
{
	__atomic_add_fetch(&fs->ns_gen, 1, __ATOMIC_SEQ_CST);
}
