/* inode.c - stable inode numbers for paths of a synthetic tree, and what
 * the kernel caches of each.
 *
 * The kernel refers to files by inode number; mlfs resolves paths.  This
 * table maps both ways.  An entry lives while the kernel holds lookups on
 * it (lookup raises nlookup, forget lowers it); the root is pinned.
 * Invariant: every entry is in the number chain; every entry but a
 * superseded one (below) is in the path chain, at most one per path;
 * numbers are never reused within a mount.
 *
 * Kernel state of an inode (struct kstate), guarded by ino_lock:
 *   attrs   the kernel got attributes ATTR_STAMP with a timeout and was not
 *           told since that they changed;
 *   pages   it may hold pages of the content at PAGE_STAMP;
 *   pinned  a page reader has it open (FS_OPEN_PAGES*): getattr answers
 *           FROZEN, the attributes of the version it reads, and any other
 *           open gets ESTALE so the kernel looks the name up again - and
 *           gets a new inode: the entry leaves the path chain
 *           (superseded) when a lookup finds it pinned;
 *   writers open write handles: the kernel changes its own size then.
 * A writer sent away (ESTALE) leaves its path in fs->nopin_paths: no page
 * reader pins any inode of that path for FS_NOPIN_NS, so the writer's
 * second try cannot be sent away again - whatever inode the name has by
 * then (the kernel forgets the superseding inode it was given when it
 * revalidates, and looks the name up afresh), and whatever other writers
 * open it meanwhile (one's open does not mean another's retry came).
 * An inode with attrs or pages is on the fs->kcache list (oldest first)
 * for the notifier (notify.c), which compares it with the store after
 * every write.  Transitions: note_attrs sets attrs (and lists); open as a
 * page reader sets pages and pinned; close unpins (and asks for a check);
 * collect/uncache clear attrs and pages (the notifier tells the kernel);
 * a writer's open clears attrs. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
	const struct node_ops *owner_ops;
};

struct kstate {
	bool attrs, pages, pinned, listed, evict, is_dir;
	bool check;		/* to be checked by the next pass, even one no
				 * write started (a page reader closed) */
	bool marked;		/* its number is in fs->kmarked */
	uint64_t pass;		/* the last pass that collected it */
	uint64_t pin_seq;	/* the change sequence its snapshot was of */
	enum fs_cache cache;
	uint32_t writers;
	struct fs_stamp attr_stamp, page_stamp;
	struct stat frozen;
	struct inode *prev, *next;	/* fs->kcache */
};

struct inode {
	fuse_ino_t ino;
	uint64_t nlookup;
	char *path;
	bool in_path;			/* in the path chain (not superseded) */
	struct cached_node *cache;	/* NULL until resolved once */
	struct inode *next_ino, *next_path;
	struct kstate k;
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

static void nopin_drop(struct fs *fs, size_t i)
{
	free(fs->nopin_paths[i]);
	memmove(&fs->nopin_paths[i], &fs->nopin_paths[i + 1],
		(fs->nopin_n - i - 1) * sizeof(*fs->nopin_paths));
	memmove(&fs->nopin_at[i], &fs->nopin_at[i + 1],
		(fs->nopin_n - i - 1) * sizeof(*fs->nopin_at));
	fs->nopin_n--;
}

/* Where PATH is in fs->nopin_paths, or -1; the entries past FS_NOPIN_NS
 * are dropped on the way. */
static int nopin_find(struct fs *fs, const char *path)
{
	int64_t now = clock_mono_ns();
	for (size_t i = 0; i < fs->nopin_n;) {
		if (now - fs->nopin_at[i] > FS_NOPIN_NS) {
			nopin_drop(fs, i);
			continue;
		}
		if (!strcmp(fs->nopin_paths[i], path))
			return (int)i;
		i++;
	}
	return -1;
}

/* A writer was sent away from PATH now (the oldest such path is
 * forgotten when there are FS_NOPIN_MAX: its page readers may pin). */
static void nopin_add(struct fs *fs, const char *path)
{
	int i = nopin_find(fs, path);
	if (i >= 0) {
		fs->nopin_at[i] = clock_mono_ns();
		return;
	}
	char *p = strdup(path);
	if (!p)
		return;		/* out of memory: the writer may be sent away again */
	if (fs->nopin_n == FS_NOPIN_MAX)
		nopin_drop(fs, 0);
	fs->nopin_at[fs->nopin_n] = clock_mono_ns();
	fs->nopin_paths[fs->nopin_n++] = p;
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
	while (fs->nopin_n)
		nopin_drop(fs, fs->nopin_n - 1);
	free(fs->by_ino);
	free(fs->by_path);
	free(fs->kmarked);
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
	if (!in->in_path)
		return;
	in->in_path = false;
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
	in->in_path = true;
}

/* Four times the buckets once there are twice as many inodes as buckets:
 * the kernel may hold every row of a large feature table by inode. */
static void inodes_grow(struct fs *fs)
{
	size_t nb = fs->ino_buckets * 4;
	struct inode **by_ino = calloc(nb, sizeof(*by_ino));
	struct inode **by_path = calloc(nb, sizeof(*by_path));
	if (!by_ino || !by_path) {
		free(by_ino);
		free(by_path);
		return;		/* longer chains, still right */
	}
	for (size_t b = 0; b < fs->ino_buckets; b++) {
		struct inode *in = fs->by_ino[b], *next;
		for (; in; in = next) {
			next = in->next_ino;
			in->next_ino = by_ino[in->ino % nb];
			by_ino[in->ino % nb] = in;
			if (in->in_path) {
				size_t pb = hash_str(in->path) % nb;
				in->next_path = by_path[pb];
				by_path[pb] = in;
			}
		}
	}
	free(fs->by_ino);
	free(fs->by_path);
	fs->by_ino = by_ino;
	fs->by_path = by_path;
	fs->ino_buckets = nb;
}

/* Put IN on the short list of inodes the next pass must look at even
 * when no write started it (a page reader closed, an eviction), so that
 * such passes cost what is marked, not what is cached. */
static void kcache_mark(struct fs *fs, struct inode *in)
{
	if (in->k.marked)
		return;
	if (fs->nmarked == fs->capmarked) {
		size_t cap = fs->capmarked ? 2 * fs->capmarked : 64;
		fuse_ino_t *p = realloc(fs->kmarked, cap * sizeof(*p));
		if (!p)
			mlfs_oom();
		fs->kmarked = p;
		fs->capmarked = cap;
	}
	fs->kmarked[fs->nmarked++] = in->ino;
	in->k.marked = true;
}

static void kcache_unlist(struct fs *fs, struct inode *in)
{
	struct kstate *k = &in->k;
	if (!k->listed)
		return;
	if (k->prev)
		k->prev->k.next = k->next;
	else
		fs->kcache_head = k->next;
	if (k->next)
		k->next->k.prev = k->prev;
	else
		fs->kcache_tail = k->prev;
	k->prev = k->next = NULL;
	k->listed = false;
	fs->kcache_len--;
	if (!k->is_dir)
		__atomic_sub_fetch(&fs->kcache_files, 1, __ATOMIC_SEQ_CST);
}

/* Put IN last (most recent) on the list; past FS_KCACHE_MAX the oldest
 * leaves it, marked to be invalidated by the next pass (the kernel may
 * not keep what no pass watches).  True when a pass is due. */
static bool kcache_list(struct fs *fs, struct inode *in)
{
	struct kstate *k = &in->k;
	kcache_unlist(fs, in);
	k->prev = fs->kcache_tail;
	k->next = NULL;
	if (k->prev)
		k->prev->k.next = in;
	else
		fs->kcache_head = in;
	fs->kcache_tail = in;
	k->listed = true;
	fs->kcache_len++;
	if (!k->is_dir)
		__atomic_add_fetch(&fs->kcache_files, 1, __ATOMIC_SEQ_CST);
	if (fs->kcache_len <= FS_KCACHE_MAX)
		return false;
	struct inode *o = fs->kcache_head;	/* not IN: that is last */
	o->k.evict = true;
	kcache_unlist(fs, o);
	kcache_mark(fs, o);
	return true;
}

fuse_ino_t fs_inode_ref(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_path(fs, path);
	if (in && in->k.pinned) {
		/* A page reader keeps its version: the name gets a new inode. */
		unlink_path(fs, in);
		in = NULL;
	}
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
		if (++fs->ino_count > 2 * fs->ino_buckets)
			inodes_grow(fs);
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
			kcache_unlist(fs, in);
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
			bool linked = in->in_path;
			unlink_path(fs, in);
			free(in->path);
			in->path = p;
			cache_free(in->cache);
			in->cache = NULL;
			if (linked)
				link_path(fs, in);
		}
	}
	pthread_mutex_unlock(&fs->ino_lock);
}

/* PATH was removed through the mount: its inode and those below it leave
 * the path chain (superseded), so that a name made again there gets a new
 * number.  The kernel marks a removed directory dead and keeps the inode
 * while an open file below pins it; handing the new directory that number
 * again would show it empty, and every name in it missing. */
void fs_inode_removed(struct fs *fs, const char *path)
{
	size_t pl = strlen(path);
	pthread_mutex_lock(&fs->ino_lock);
	for (size_t b = 0; b < fs->ino_buckets; b++)
		for (struct inode *in = fs->by_ino[b]; in; in = in->next_ino)
			if (in->ino != FUSE_ROOT_ID && !strncmp(in->path, path, pl) &&
			    (in->path[pl] == '\0' || in->path[pl] == '/'))
				unlink_path(fs, in);
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
	/* A path resolves the same way while the namespace generation
	 * holds, but the engine may remove an object on its own: a node is
	 * trusted for a second, as the kernel trusts a name.  A record (an
	 * online row) for as long as the generation holds: its node follows
	 * from its path alone, and every stat or open of it reads the row,
	 * which fails (ENOENT) once the key or its table is gone. */
	if (c && c->gen == gen &&
	    (now.tv_sec - c->at.tv_sec < 1 || c->ops->kind == NK_RECORD) &&
	    strlen(in->path) < sizeof(out->path)) {
		strcpy(out->path, in->path);
		out->ops = c->ops;
		memcpy(out->arg, c->arg, sizeof(out->arg));
		out->id = c->id;
		out->parent_id = c->parent_id;
		out->pending = false;
		/* A copy of a node's owner_path, so it fits (an snprintf
		 * here was 600 instructions of every open of a kept node). */
		strcpy(out->owner_path, c->owner_path);
		out->owner = out->owner_path[0] ? out->owner_path : NULL;
		out->owner_ops = c->owner_ops;
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
	c->owner_ops = n->owner_ops;
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

/* ---- what the kernel caches ---- */

void fs_stamp_of(struct fs_stamp *out, const struct stat *st)
{
	memset(out, 0, sizeof(*out));
	out->size = st->st_size;
	out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	out->mode = st->st_mode;
	out->uid = st->st_uid;
	out->gid = st->st_gid;
}

bool fs_stamp_eq(const struct fs_stamp *a, const struct stat *st)
{
	struct fs_stamp b;
	fs_stamp_of(&b, st);
	return !memcmp(a, &b, sizeof(b));
}

double fs_inode_note_attrs(struct fs *fs, fuse_ino_t ino, enum fs_cache cache,
			   bool is_dir, const struct stat *st, uint64_t seq0)
{
	double timeout = 0;
	bool pass = false;
	if (cache == FS_CACHE_NONE)
		return 0;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	/* A write after the attributes were read: they may be stale already,
	 * and that write's pass may have run.  Not cached this once. */
	if (in && !in->k.pinned &&
	    __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST) == seq0) {
		struct kstate *k = &in->k;
		k->attrs = true;
		k->cache = cache;
		k->is_dir = is_dir;
		fs_stamp_of(&k->attr_stamp, st);
		pass = kcache_list(fs, in);
		timeout = FS_ATTR_TIMEOUT;
	}
	pthread_mutex_unlock(&fs->ino_lock);
	if (pass)
		fs_notify_kick(fs);
	return timeout;
}

bool fs_inode_frozen(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	bool pinned = false;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	if (in && in->k.pinned) {
		*st = in->k.frozen;
		pinned = true;
	}
	pthread_mutex_unlock(&fs->ino_lock);
	return pinned;
}

enum fs_open_how fs_inode_open(struct fs *fs, fuse_ino_t ino, bool writer,
			       bool trunc, bool pageable,
			       const struct stat *st, uint64_t seq)
{
	enum fs_open_how how = FS_OPEN_DIRECT;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	struct kstate *k = in ? &in->k : NULL;
	if (!k) {
		/* unknown: direct */
	} else if (k->pinned) {
		/* A reader reads its own snapshot beside the page reader; a
		 * writer would move the size the page reader reads up to. */
		if (writer) {
			how = FS_OPEN_STALE;
			nopin_add(fs, in->path);
		}
	} else if (writer) {
		/* The kernel sets its own size as this handle writes (and to 0
		 * at an O_TRUNC open): its attributes are no longer ours. */
		k->writers++;
		k->attrs = false;
		if (trunc)
			k->pages = false;
		if (!k->pages)
			kcache_unlist(fs, in);
	} else if (pageable && st && k->writers == 0 && nopin_find(fs, in->path) < 0 &&
		   (!k->attrs || fs_stamp_eq(&k->attr_stamp, st))) {
		/* Attributes the kernel holds as valid must be the snapshot's;
		 * invalid ones it asks for again before it reads past them. */
		how = k->pages && fs_stamp_eq(&k->page_stamp, st) ?
			FS_OPEN_PAGES_KEEP : FS_OPEN_PAGES;
		k->pages = true;
		fs_stamp_of(&k->page_stamp, st);
		k->pinned = true;
		k->pin_seq = seq;
		k->frozen = *st;
		k->frozen.st_ino = ino;
		kcache_unlist(fs, in);	/* the notifier leaves it alone */
	}
	pthread_mutex_unlock(&fs->ino_lock);
	return how;
}

void fs_inode_close(struct fs *fs, fuse_ino_t ino, enum fs_open_how how,
		    bool writer, enum fs_cache cache)
{
	bool recheck = false;
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, ino);
	if (in && writer && in->k.writers)
		in->k.writers--;
	if (in && (how == FS_OPEN_PAGES || how == FS_OPEN_PAGES_KEEP)) {
		struct kstate *k = &in->k;
		k->pinned = false;
		k->attrs = true;
		fs_stamp_of(&k->attr_stamp, &k->frozen);
		k->cache = cache;
		k->is_dir = false;
		recheck = kcache_list(fs, in);
		/* Passes left it alone while pinned: if the store changed since
		 * its snapshot, what it read may be an old version - check it
		 * (it alone: a close is not a write). */
		if (__atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST) != k->pin_seq) {
			recheck = k->check = true;
			kcache_mark(fs, in);
		}
	}
	pthread_mutex_unlock(&fs->ino_lock);
	if (recheck)
		fs_notify_kick(fs);
}

/* Add IN to the pass's ITEMS; an evicted or volatile one leaves the list. */
static void collect_one(struct fs *fs, struct inode *in, struct fs_kitem **items,
			size_t *n, size_t *cap)
{
	struct kstate *k = &in->k;
	k->check = false;
	k->pass = fs->kpass;
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		struct fs_kitem *p = realloc(*items, *cap * sizeof(*p));
		if (!p)
			mlfs_oom();
		*items = p;
	}
	struct fs_kitem *it = &(*items)[(*n)++];
	it->ino = in->ino;
	it->path = strdup(in->path);
	if (!it->path)
		mlfs_oom();
	it->cache = k->cache;
	it->is_dir = k->is_dir;
	it->evict = k->evict;
	it->attrs = k->attrs;
	it->pages = k->pages;
	it->attr_stamp = k->attr_stamp;
	it->page_stamp = k->page_stamp;
	if (k->evict || k->cache == FS_CACHE_VOLATILE) {
		k->attrs = k->pages = k->evict = false;
		kcache_unlist(fs, in);
	}
}

size_t fs_inode_collect(struct fs *fs, bool dirs, bool all,
			struct fs_kitem **out)
{
	size_t n = 0, cap = 0;
	struct fs_kitem *items = NULL;
	pthread_mutex_lock(&fs->ino_lock);
	fs->kpass++;
	/* The marked first: a pass no write started visits only them. */
	for (size_t i = 0; i < fs->nmarked; i++) {
		struct inode *in = find_ino(fs, fs->kmarked[i]);
		if (!in || !in->k.marked)
			continue;
		in->k.marked = false;
		if (in->k.check || in->k.evict)
			collect_one(fs, in, &items, &n, &cap);
	}
	fs->nmarked = 0;
	struct inode *next;
	for (struct inode *in = all ? fs->kcache_head : NULL; in; in = next) {
		next = in->k.next;
		if (in->k.pass == fs->kpass)
			continue;
		if (in->k.is_dir && !dirs && !in->k.evict)
			continue;
		collect_one(fs, in, &items, &n, &cap);
	}
	pthread_mutex_unlock(&fs->ino_lock);
	*out = items;
	return n;
}

void fs_inode_uncache(struct fs *fs, const struct fs_kitem *item)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_ino(fs, item->ino);
	if (in && !in->k.pinned) {
		in->k.attrs = in->k.pages = false;
		kcache_unlist(fs, in);
	}
	pthread_mutex_unlock(&fs->ino_lock);
}

fuse_ino_t fs_inode_find(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct inode *in = find_path(fs, path);
	fuse_ino_t ino = in ? in->ino : 0;
	pthread_mutex_unlock(&fs->ino_lock);
	return ino;
}
