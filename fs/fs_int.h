/* fs_int.h - what the pieces of fs/ share: the filesystem state, nodes
 * (a resolved path and the node_ops its namespace declared), the node
 * kinds (struct kind, one file each in fs/kind/) and their per-open
 * struct file, the inode table and /log. */
#ifndef MLFS_FS_INT_H
#define MLFS_FS_INT_H

/* Pinned to the libfuse of Debian 12 (3.14); the 3.1 compat loop leaks. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "store.h"

struct store;
struct runner;
struct runner_job;

#define FS_PATH_MAX 4096
#define FS_NOPIN_MAX 64	/* writers sent away at once, remembered */
#define FS_NOPIN_NS (5 * 1000000000LL)	/* for this long: the kernel's retry comes */
#define FS_NAME_MAX 128
#define FS_ARGS 4
/* Seconds the kernel may cache a name. */
#define FS_ENTRY_TIMEOUT 1.0
/* Seconds the kernel may cache attributes the notifier keeps true
 * (fs_inode_note_attrs): long, as every change invalidates them. */
#define FS_ATTR_TIMEOUT 60.0
/* At most this many inodes' attributes and pages are cached by the kernel
 * at once; the oldest is invalidated to make room. */
#define FS_KCACHE_MAX 8192
/* The most a property or spec file may hold; past it, EFBIG. */
#define FS_PROPERTY_MAX (1u << 20)

/* The kinds of node.  What each does on open, read, write, commit and
 * release lives in one file of fs/kind/ and one row of the table in
 * ops.c; a namespace picks a kind for each node it declares. */
enum node_kind {
	NK_DIR,
	NK_PROPERTY,	/* small text value, replaced whole, validated */
	NK_VIEW,	/* generated at open, read-only */
	NK_RECORD,	/* a small view whose data time says when it changed */
	NK_ROWS,	/* streamed CSV rows: > replaces, >> appends */
	NK_SERIES,	/* read: generated at open; each written line appends */
	NK_WAITER,	/* read blocks until a state is reached */
	NK_SYMLINK,	/* a link to another node (readlink) */
	NK_BLOB,	/* bytes read and written at offsets (artifacts) */
	NK_CONTROL,	/* a write starts work; read: the last status */
	NK_EXCHANGE,	/* write a request, read its response */

	NK_COUNT
};

struct node;
struct fs;

/* Adds one directory entry; CHILD may be NULL when the caller does not
 * want to resolve it (readdir needs only names and kinds). */
typedef int (*fs_add_fn)(void *ctx, const char *name, bool is_dir);

/* What a rows node streams (a table's or a feature table's data.csv): a
 * snapshot reader and a streaming writer of one named object.  R and W
 * are the source's own handles. */
struct rows_source {
	int (*stat)(struct store *s, const char *name, uint64_t *size,
		    int64_t *mtime_ns);
	int (*reader_open)(struct store *s, const char *name, void **r,
			   struct mlfs_err *err);
	long (*reader_read)(void *r, char *dst, size_t len, uint64_t off,
			    struct mlfs_err *err);
	void (*reader_free)(void *r);
	int (*writer_open)(struct store *s, const char *name, bool replace,
			   void **w, struct mlfs_err *err);
	int (*writer_write)(void *w, const char *data, size_t len,
			    struct mlfs_err *err);
	int (*writer_commit)(void *w, bool final, struct mlfs_err *err);
	bool (*writer_failed)(void *w);
	void (*writer_free)(void *w);
};

/* Define a rows_source NAME over an engine module PREFIX whose
 * PREFIX_reader_* and PREFIX_writer_* take struct PREFIX_reader/_writer;
 * STAT is the source's own stat.  One copy of the adapter for every
 * source (tables, feature tables). */
#define ROWS_SOURCE_DEFINE(name, prefix, stat_fn)				\
static int name##_ropen(struct store *s, const char *n, void **r,		\
			struct mlfs_err *err)					\
{ return prefix##_reader_open(s, n, (struct prefix##_reader **)r, err); }	\
static long name##_read(void *r, char *dst, size_t len, uint64_t off,	\
			struct mlfs_err *err)					\
{ return prefix##_reader_read(r, dst, len, off, err); }			\
static void name##_rfree(void *r) { prefix##_reader_free(r); }		\
static int name##_wopen(struct store *s, const char *n, bool replace,	\
			void **w, struct mlfs_err *err)				\
{ return prefix##_writer_open(s, n, replace, (struct prefix##_writer **)w, err); } \
static int name##_write(void *w, const char *d, size_t len,		\
			struct mlfs_err *err)					\
{ return prefix##_writer_write(w, d, len, err); }				\
static int name##_commit(void *w, bool final, struct mlfs_err *err)	\
{ return prefix##_writer_commit(w, final, err); }				\
static bool name##_failed(void *w) { return prefix##_writer_failed(w); }	\
static void name##_wfree(void *w) { prefix##_writer_free(w); }		\
static const struct rows_source name = {					\
	.stat = stat_fn, .reader_open = name##_ropen,				\
	.reader_read = name##_read, .reader_free = name##_rfree,		\
	.writer_open = name##_wopen, .writer_write = name##_write,		\
	.writer_commit = name##_commit, .writer_failed = name##_failed,	\
	.writer_free = name##_wfree,						\
}

/* What a control node's start() hands back when its work is a job: FN
 * runs on the session's runner (ARG owned by the job, freed with
 * FREE_ARG after DONE); DONE, when set, runs on the runner thread after
 * FN with its result, before the flush (if waiting) is answered. */
struct control_job {
	int (*fn)(void *arg, const struct runner_job *job, struct mlfs_err *err);
	void *arg;
	void (*free_arg)(void *arg);
	void (*done)(struct fs *fs, const struct node *n, void *arg, int rc,
		     const struct mlfs_err *err);
};

/* start() returned a job in *JOB rather than a finished result. */
#define FS_CONTROL_JOB 1

/* A refresh control file (a feature table's, a monitor's): its node_ops
 * DATA points at one of these, its GET is fs_refresh_get and its START
 * fs_refresh_start.  The word written (checked in write() by the node's
 * validate) is handed to RUN on the runner; when the refresh succeeds,
 * REPORT's text becomes one /log line "refreshed: ...". */
struct fs_refresh {
	int (*run)(struct store *s, const char *name, const char *word, size_t len,
		   struct mlfs_err *err);
	int (*report)(struct store *s, const char *name, struct buf *out);
};
int fs_refresh_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err);
int fs_refresh_start(struct fs *fs, const struct node *n, const char *data,
		     size_t len, struct control_job *job, struct mlfs_err *err);

/* The behaviour of one kind of file or directory, e.g. "a table's
 * data.csv" or "the /tables directory", as a namespace declares it.
 * Handlers a node does not have are NULL.  All return 0 or a negative
 * errno; ERR says why. */
struct node_ops {
	enum node_kind kind;
	mode_t perm;		/* permission bits when the user set none */
	/* The content, and so the size, depends on who reads it (access.c):
	 * the kernel may not cache its attributes (one size per inode for
	 * every reader); its kind must read with direct_io, not pages. */
	bool per_reader;
	const void *data;	/* the namespace's own datum (which field...) */

	/* An object that keeps its owner, group, mode and creation time in
	 * its own record, written in the batch that made it (a run, a
	 * model): OWNER reads them for N, the object's node or any node
	 * below it (N->arg names the object).  attrs a user set (chmod,
	 * chown) win over it; without either, the daemon owns the node. */
	int (*owner)(struct fs *fs, const struct node *n, uid_t *uid,
		     gid_t *gid, mode_t *mode, int64_t *ctime_ns);

	/* NK_DIR */
	int (*lookup)(struct fs *fs, const struct node *dir, const char *name,
		      struct node *out);
	int (*list)(struct fs *fs, const struct node *dir, fs_add_fn add,
		    void *ctx);
	/* Fixed children: lookup and list are fs_dir_lookup/fs_dir_list. */
	const struct fs_entry *children;
	/* Unlink or rmdir of a child without its own remove/rmdir succeeds
	 * and does nothing: the child goes with this directory (rm -r). */
	bool children_go_with_dir;
	/* MODE: the permission bits mkdir(2) passed (the caller's umask
	 * already applied), the new directory's from its creation. */
	int (*mkdir)(struct fs *fs, const struct node *dir, const char *name,
		     mode_t mode, struct mlfs_err *err);
	int (*rmdir)(struct fs *fs, const struct node *dir, const char *name,
		     struct mlfs_err *err);
	/* A new file NAME (open with O_CREAT).  Fills OUT; sets *PENDING when
	 * the file comes into being only once written (params, metrics). */
	int (*create)(struct fs *fs, const struct node *dir, const char *name,
		      mode_t mode, struct node *out, bool *pending,
		      struct mlfs_err *err);
	int (*symlink)(struct fs *fs, const struct node *dir, const char *name,
		       const char *target, struct mlfs_err *err);
	/* Move NAME to NEWDIR/NEWNAME (NEWDIR of the same ops).  FLAGS:
	 * RENAME_NOREPLACE and friends. */
	int (*rename)(struct fs *fs, const struct node *dir, const char *name,
		      const struct node *newdir, const char *newname,
		      unsigned int flags, struct mlfs_err *err);

	/* NK_PROPERTY, NK_VIEW, NK_SERIES, NK_CONTROL: the whole content. */
	int (*get)(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err);
	/* NK_RECORD: the content and its data time (when it last changed),
	 * read together at one snapshot: an open makes the content once and
	 * tells the kernel its size from it. */
	int (*record)(struct fs *fs, const struct node *n, struct buf *out,
		      int64_t *mtime_ns, struct mlfs_err *err);
	/* NK_PROPERTY: check (APPLY false) or check and store (APPLY true). */
	int (*set)(struct fs *fs, const struct node *n, const char *data,
		   size_t len, bool apply, struct mlfs_err *err);

	/* NK_ROWS: the rows of the object named arg[0]. */
	const struct rows_source *rows;

	/* NK_SERIES: size and append complete lines.  SIZE also serves a
	 * large NK_VIEW's getattr, which then need not make its text. */
	int (*size)(struct fs *fs, const struct node *n, uint64_t *size,
		    int64_t *mtime_ns);
	int (*append)(struct fs *fs, const struct node *n, const char *data,
		      size_t len, struct mlfs_err *err);

	/* NK_WAITER: 0 and the content once the state is reached, -EAGAIN
	 * before. */
	int (*poll)(struct fs *fs, const struct node *n, struct buf *out);

	/* NK_SYMLINK */
	int (*readlink)(struct fs *fs, const struct node *n, struct buf *out);

	/* NK_BLOB */
	long (*pread)(struct fs *fs, const struct node *n, char *dst,
		      size_t len, uint64_t off, struct mlfs_err *err);
	int (*truncate)(struct fs *fs, const struct node *n, uint64_t size,
			struct mlfs_err *err);
	/* NK_BLOB through one handle (artifacts): what it writes appears
	 * whole at commit or not at all; its own reads see it before. */
	const struct blob_handle_ops *handle;

	/* NK_CONTROL: check what is written (in write(), so echo sees it);
	 * start the work at commit: 0 or an errno when done at once, or
	 * FS_CONTROL_JOB with *JOB filled.  WAIT: the flush that started a
	 * job is answered when it ends (its result is close()'s); else at
	 * once (fire and forget). */
	int (*validate)(struct fs *fs, const struct node *n, const char *data,
			size_t len, struct mlfs_err *err);
	int (*start)(struct fs *fs, const struct node *n, const char *data,
		     size_t len, struct control_job *job, struct mlfs_err *err);
	bool wait;
	bool long_job;		/* runs on the training runner (train_workers) */

	/* NK_EXCHANGE: validate (above) checks the request as written so
	 * far; EXCHANGE answers the whole request into RESPONSE.  Requests
	 * are at most MAX_REQUEST bytes (0: FS_PROPERTY_MAX). */
	int (*exchange)(struct fs *fs, const struct node *n, const char *req,
			size_t len, struct buf *response, struct mlfs_err *err);
	size_t max_request;
	/* NK_EXCHANGE of any size (batch scoring): instead of the above, a
	 * request is fed to a session as it arrives and the response is
	 * read from the session's spool file. */
	const struct exchange_stream *stream;

	/* Nodes whose owner, mode, size and times the engine keeps itself
	 * (artifacts): stat and chmod/chown/utimens go here, not to attrs. */
	int (*stat)(struct fs *fs, const struct node *n, struct stat *st);
	int (*setattr)(struct fs *fs, const struct node *n,
		       const struct stat *attr, int to_set,
		       struct mlfs_err *err);

	/* Any file kind: unlink (rm) of the file, e.g. empties a table. */
	int (*remove)(struct fs *fs, const struct node *n, struct mlfs_err *err);
};

/* An open blob file's writer (node_ops.handle): OPEN makes *W for a
 * handle opened to write (TRUNC: O_TRUNC), or with WRITE false settles a
 * file only read; then READ and WRITE at offsets, COMMIT at flush
 * (FINAL at release), FREE drops what was not committed. */
struct blob_handle_ops {
	int (*open)(struct fs *fs, const struct node *n, bool write, bool trunc,
		    void **w, struct mlfs_err *err);
	long (*read)(void *w, char *dst, size_t len, uint64_t off,
		     struct mlfs_err *err);
	int (*write)(void *w, const char *data, size_t len, uint64_t off,
		     struct mlfs_err *err);
	int (*commit)(void *w, bool final, struct mlfs_err *err);
	uint64_t (*size)(void *w);	/* the size as this handle wrote it */
	bool (*failed)(void *w);	/* a write failed: nothing is applied */
	void (*free)(void *w);
};

/* A streamed exchange's session (node_ops.stream). */
struct exchange_stream {
	int (*open)(struct fs *fs, const struct node *n, void **sess,
		    struct mlfs_err *err);
	int (*write)(void *sess, const char *data, size_t len,
		     struct mlfs_err *err);
	/* The request ended: 0 with *FD the response's spool (the
	 * session's: the kind dups it). */
	int (*finish)(void *sess, int *fd, struct mlfs_err *err);
	void (*free)(void *sess);
};

/* One fixed child of a directory; arrays end with a NULL name. */
struct fs_entry {
	const char *name;
	const struct node_ops *ops;
};

/* A path resolved to what it is.  Small enough to live on the stack. */
struct node {
	const struct node_ops *ops;
	char path[FS_PATH_MAX];		/* "/tables/orders/data.csv" */
	char arg[FS_ARGS][FS_NAME_MAX + 1];	/* names from the path */
	const char *owner;		/* attrs key whose owner files inherit */
	char owner_path[FS_PATH_MAX];
	/* The ops of the object at owner_path (its owner hook); NULL
	 * with no owner. */
	const struct node_ops *owner_ops;
	uint64_t id;			/* engine object id (artifacts) */
	uint64_t parent_id;		/* the directory holding it (artifacts) */
	bool pending;			/* created, exists once written */
};

struct fs_log_entry;
struct training;
struct inode;

/* The FUSE requests counted with -o stats (fs->counts; /.stats). */
enum fs_op {
	FS_OP_LOOKUP, FS_OP_FORGET, FS_OP_GETATTR, FS_OP_SETATTR, FS_OP_OPENDIR,
	FS_OP_READDIR, FS_OP_RELEASEDIR, FS_OP_MKDIR, FS_OP_RMDIR, FS_OP_UNLINK,
	FS_OP_OPEN, FS_OP_CREATE, FS_OP_READ, FS_OP_WRITE, FS_OP_FLUSH,
	FS_OP_FSYNC, FS_OP_RELEASE, FS_OP_STATFS, FS_OP_RENAME, FS_OP_SYMLINK,
	FS_OP_READLINK, FS_OP_NOTIFY_INODE, FS_OP_NOTIFY_ENTRY,
	FS_OP_COUNT
};

struct fs {
	struct store *store;
	struct fuse_session *se;
	const char *store_dir;
	char mountpoint[FS_PATH_MAX];	/* absolute, without a trailing / */
	int64_t start_ns;
	uid_t uid;
	gid_t gid;

	/* Inode table: guarded by ino_lock. */
	pthread_mutex_t ino_lock;
	struct inode **by_ino, **by_path;
	size_t ino_buckets, ino_count;
	uint64_t next_ino;
	/* Paths a writer was sent away from (ESTALE at open: a page reader
	 * had the inode pinned), oldest first, with when: no page reader
	 * pins any inode of such a path for FS_NOPIN_NS after (ino_lock). */
	char *nopin_paths[FS_NOPIN_MAX];
	int64_t nopin_at[FS_NOPIN_MAX];
	size_t nopin_n;
	/* Bumped by every change to which names exist (atomic): resolved
	 * nodes cached in the inode table are valid for one generation. */
	uint64_t ns_gen;

	/* Files created but not yet written (struct pending): log_lock. */
	struct pending *pending;

	/* Control jobs: refreshes on RUNNER, trainings and searches on
	 * TRAIN_RUNNER (-o train_workers); started at mount, stopped (running
	 * jobs cancelled) at unmount. */
	struct runner *runner;
	struct runner *train_runner;
	/* Refreshes every monitor once per granularity: mount to unmount. */
	struct monitor_scheduler *monitors;
	/* Queued and running trainings (ns/train.c): guarded by train_lock. */
	pthread_mutex_t train_lock;
	struct training *trainings;

	/* Blocked reads of waiter files (struct waiter): wait_lock. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cv;
	struct waiter *waiters;
	bool wait_stop;
	pthread_t wait_thread;

	/* Open files (struct file), for the ones the kernel never released
	 * when the session ends (a signal): guarded by files_lock. */
	pthread_mutex_t files_lock;
	struct file *files;
	struct dir_list *dirs;		/* open directories (ops.c) */
	/* Released handles kept for the next opens (ops.c, at most
	 * FS_SPARE_FILES): a handle is 9 KB, which malloc takes from the
	 * opening thread's arena, and its RELEASE, on another worker, made
	 * free() wait on that arena's lock while the next open held it. */
	struct file *spare;
	unsigned nspare;

	/* Exchange answers kept for a writer's session (kind/exchange.c):
	 * guarded by exchange_lock. */
	pthread_mutex_t exchange_lock;
	struct exchange_kept *exchange_kept;

	/* The kernel's caches (inode.c, notify.c).  CHANGE_SEQ (atomic) counts
	 * store writes; the notifier thread, woken through notify_cv, checks
	 * the inodes on the kcache list against the store and invalidates
	 * what changed, then sets DONE_SEQ to the CHANGE_SEQ it started from
	 * and broadcasts notify_done.  KICKS asks for a pass without a write
	 * over the inodes marked for it (a page reader closed, one evicted).  notify_lock guards done_seq, kicks, stop. */
	uint64_t change_seq;
	pthread_mutex_t notify_lock;
	pthread_cond_t notify_cv, notify_done;
	uint64_t done_seq, kicks, kicks_done;
	bool notify_stop, notify_started, notify_passing;
	pthread_t notify_thread;
	/* Inodes whose attributes or pages the kernel may hold, least
	 * recently noted first: ino_lock.  KCACHE_FILES (atomic) counts the
	 * files among them (a write can only change files). */
	struct inode *kcache_head, *kcache_tail;
	size_t kcache_len, kcache_files;
	fuse_ino_t *kmarked;		/* inodes the next pass must visit */
	size_t nmarked, capmarked;
	uint64_t kpass;			/* passes collected so far */

	/* -o stats: requests by kind (atomic), shown in /.stats. */
	bool stats;
	uint64_t counts[FS_OP_COUNT];
	/* -o serve: open and readlink serve the replica as the watch keeps
	 * it, without close-to-open's etcd read (fs_refresh). */
	bool serve;
	uint64_t refreshes;	/* requests' refreshes that asked etcd (/.stats) */

	/* /log ring: guarded by log_lock. */
	pthread_mutex_t log_lock;
	struct fs_log_entry *log_lines;
	size_t log_cap, log_start, log_len;
};

/* ---- nodes and namespaces ---- */

/* Resolve PATH (absolute) into OUT.  -ENOENT, -ENOTDIR. */
int fs_resolve(struct fs *fs, const char *path, struct node *out);
/* The child NAME of directory DIR into OUT: what DIR's lookup says, else
 * a held temporary link, else (PENDING) a file being created.  -ENOENT. */
int node_lookup(struct fs *fs, const struct node *dir, const char *name,
		bool pending, struct node *out);
/* Fill OUT as the child NAME of DIR with handlers OPS. */
void node_child(struct node *out, const struct node *dir, const char *name,
		const struct node_ops *ops);
/* Empty N (no ops, empty paths) without clearing its path buffers. */
void node_clear(struct node *n);
/* OUT = SRC cut to SIZE - 1 bytes, as snprintf "%s" would, without its
 * format parsing (a lookup copies a few paths); SIZE > 0.  Returns the
 * length copied. */
size_t node_strcpy(char *out, size_t size, const char *src);
/* OUT = "DIR/NAME" (a child's path, whether or not it exists). */
void node_child_path(char *out, size_t size, const struct node *dir,
		     const char *name);
/* Fill OUT as the child NAME of DIR that is an engine object (a table, a
 * run): NAME becomes arg[ARG] and the owner of everything below. */
void node_object(struct node *out, const struct node *dir, const char *name,
		 const struct node_ops *ops, int arg);
/* Engine listings call back with a name; fs_list_name passes it on to a
 * directory listing: fs_list_name(&(struct fs_lister){ add, ctx, true }). */
struct fs_lister {
	fs_add_fn add;
	void *ctx;
	bool dirs;		/* the names are directories */
};
int fs_list_name(void *lister, const char *name);
/* A path a user wrote to name something in the tree - absolute inside
 * the mount ("/experiments/e"), absolute under the mount point, or
 * relative to the mount root - as a path relative to the root, without
 * "./" or trailing slashes, into OUT.  -EINVAL when it is outside. */
int fs_path_in_mount(struct fs *fs, const char *path, char *out,
		     size_t size);
/* Split PATH (relative, from fs_path_in_mount) at '/' into up to MAX
 * parts of at most FS_NAME_MAX bytes; returns how many, -1 if more or
 * one is too long or empty. */
int fs_path_split(const char *path, char parts[][FS_NAME_MAX + 1], int max);
/* Owner, mode and times of N. */
int node_stat(struct fs *fs, const struct node *n, struct stat *st);
/* The same for the node of F, just opened: its size and data time those
 * of what the open read when its kind says (kind.file_stat). */
int node_stat_open(struct fs *fs, struct file *f, struct stat *st);

/* Lookup and list for a directory of fixed children (ops->children). */
int fs_dir_lookup(struct fs *fs, const struct node *dir, const char *name,
		  struct node *out);
int fs_dir_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		void *ctx);

/* A directory of named engine objects (/tables, /features, /experiments):
 * each a directory of CHILD's ops whose arg[0] is its name; mkdir creates
 * one (owned by the caller), rmdir drops one.  Its node_ops' data points
 * here and its hooks are the fs_collection_* ones. */
struct fs_collection {
	bool (*exists)(struct store *s, const char *name);
	int (*list)(struct store *s, int (*fn)(void *ctx, const char *name),
		    void *ctx);
	/* The engine's own make and remove: objects keep their owner and
	 * mode in their record (child->owner).  MAKE creates NAME owned by
	 * UID, GID (mkdir's caller) with MODE, and REMOVE drops it, each in
	 * one batch that also clears the attrs at ATTRS (chmod/chown of an
	 * object of that name before). */
	int (*make)(struct store *s, const char *name, uint32_t uid,
		    uint32_t gid, uint32_t mode, const char *attrs,
		    struct mlfs_err *err);
	int (*remove)(struct store *s, const char *name, const char *attrs,
		      struct mlfs_err *err);
	const struct node_ops *child;
};
int fs_collection_lookup(struct fs *fs, const struct node *dir,
			 const char *name, struct node *out);
int fs_collection_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		       void *ctx);
int fs_collection_mkdir(struct fs *fs, const struct node *dir,
			const char *name, mode_t mode, struct mlfs_err *err);
int fs_collection_rmdir(struct fs *fs, const struct node *dir,
			const char *name, struct mlfs_err *err);

/* How an open of INO goes (ops.c open_mode decides with this). */
enum fs_open_how {
	FS_OPEN_DIRECT,		/* own snapshot, no page cache */
	FS_OPEN_PAGES,		/* page reader, drop earlier pages */
	FS_OPEN_PAGES_KEEP,	/* page reader, earlier pages are this version */
	FS_OPEN_STALE,		/* a page reader has it: look the name up again */
};

/* ---- node kinds: fs/kind/KIND.c, one row each in ops.c's table ---- */

/* An open file (fi->fh): made in open, freed in release. */
struct file {
	struct file *next, *prev;	/* fs->files: fs->files_lock */
	pthread_mutex_t lock;	/* guards state and every kind call on it */
	struct node node;
	int flags;		/* open(2) flags */
	bool direct_io;		/* the kind's open asks this handle to bypass
				 * the page cache (a blob's writer) */
	void *state;		/* the kind's per-open state, or NULL */
	fuse_ino_t ino;
	enum fs_open_how how;	/* as fs_inode_open said */
	bool unseen;		/* written since a flush last waited for the
				 * notifier (under lock) */
	/* Release and the reads of a fixed kind in progress: the last to
	 * end frees the handle (ops.c file_put). */
	_Atomic unsigned refs;
};

/* read() and commit() answered REQ themselves, or will later. */
#define FS_REPLIED 1

/* What one node kind does.  NULL handlers: open succeeds with no state,
 * read and truncate fail with EISDIR, write with EACCES, commit does
 * nothing.  All return 0 or a negative errno, ERR saying why. */
/* How the kernel may cache a kind's attributes (notify.c). */
enum fs_cache {
	FS_CACHE_NONE,		/* never: every stat asks (exchange, blob) */
	FS_CACHE_VOLATILE,	/* until any store write (generated texts) */
	FS_CACHE_STAMPED,	/* until size, times, owner or mode change */
};

struct kind {
	const char *name;
	bool direct_io;		/* bypass the page cache (own snapshot) */
	/* Read-only opens may use the page cache when no other handle is
	 * open (rows): see ops.c open_mode. */
	bool pageable;
	enum fs_cache cache;
	bool stream;		/* nonseekable: reads keep their own position */
	/* A handle's content is made at its open and never changes after
	 * (records): a read holds a reference instead of the handle's lock,
	 * so the RELEASE the kernel sends once it has the reply never sleeps
	 * on that lock while the reading worker finishes its writev. */
	bool fixed;
	/* Type bits and size of N into ST; *DATA_MTIME when the content
	 * keeps its own change time (0 if not). */
	int (*stat)(struct fs *fs, const struct node *n, struct stat *st,
		    int64_t *data_mtime);
	int (*open)(struct fs *fs, struct file *f, struct mlfs_err *err);
	/* Like STAT, for a handle whose open made its whole content: the
	 * size and data time of that content (a page reader's open then
	 * makes it once, not once more for its size).  May be NULL. */
	int (*file_stat)(struct fs *fs, struct file *f, struct stat *st,
			 int64_t *data_mtime);
	/* Reply to REQ (FS_REPLIED), possibly later, or return an errno. */
	int (*read)(struct fs *fs, struct file *f, fuse_req_t req,
		    size_t size, off_t off, struct mlfs_err *err);
	int (*write)(struct fs *fs, struct file *f, const char *data,
		     size_t size, off_t off, struct mlfs_err *err);
	/* True when an earlier write failed and already said why. */
	bool (*failed)(struct file *f);
	/* Apply what was written since the last commit: at flush/fsync (REQ
	 * set; FS_REPLIED when the kind answers it) or at release (FINAL,
	 * REQ NULL, nobody to answer). */
	int (*commit)(struct fs *fs, struct file *f, bool final,
		      fuse_req_t req, struct mlfs_err *err);
	void (*release)(struct fs *fs, struct file *f);
	/* Empty the file (truncate to 0, O_TRUNC of rows). */
	int (*truncate)(struct fs *fs, const struct node *n,
			struct mlfs_err *err);
};

extern const struct kind kind_dir, kind_property, kind_view, kind_record,
	kind_rows,
	kind_series, kind_waiter, kind_symlink, kind_blob, kind_control,
	kind_exchange;
/* Whether record N exists (0, or its errno): made once, and its size and
 * data time kept for the stat that follows on this thread (the entry a
 * lookup answers) while the store is unchanged. */
int fs_record_probe(struct fs *fs, const struct node *n);
/* Forget every kept exchange answer (unmount). */
void fs_exchange_free_all(struct fs *fs);
/* The kind of N (the table in ops.c). */
const struct kind *fs_kind(const struct node *n);
/* Reply to REQ with SIZE bytes of B at OFF (less at the end). */
void fs_reply_slice(fuse_req_t req, const struct buf *b, size_t size,
		    off_t off);
/* A read of SIZE bytes: the buffer, then the reply of its first N bytes
 * (N < 0: an errno, returned) that frees it; FS_REPLIED. */
char *fs_read_buf(size_t size);
int fs_reply_read(fuse_req_t req, char *out, long n);
/* Per-open content shared by the kinds that read a whole text. */
struct text_state {
	struct buf content;	/* the bytes of this handle */
	struct buf partial;	/* series: a line not ended yet */
	bool written;		/* changed since the last commit */
	bool trunc_pending;	/* opened with O_TRUNC, not applied */
	bool rejected;		/* a write failed: nothing more is applied */
	bool ready;		/* waiter: content holds the final state */
	int64_t data_mtime;	/* record: the content's data time */
};
int text_state_open(struct file *f);
void text_state_release(struct fs *fs, struct file *f);
int text_state_read(struct fs *fs, struct file *f, fuse_req_t req,
		    size_t size, off_t off, struct mlfs_err *err);
/* Open a value (property, control): its content unless opened to be
 * replaced (O_TRUNC) or pending. */
int text_state_open_value(struct fs *fs, struct file *f,
			  struct mlfs_err *err);
/* Write DATA at OFF (at the end with O_APPEND) into the content if CHECK
 * (may be NULL) accepts the result; -EFBIG past FS_PROPERTY_MAX.  A
 * rejected write changes nothing. */
typedef int (*text_check_fn)(struct fs *fs, const struct node *n,
			     const char *data, size_t len,
			     struct mlfs_err *err);
int text_state_write(struct fs *fs, struct file *f, const char *data,
		     size_t size, off_t off, text_check_fn check,
		     struct mlfs_err *err);
/* Whether a commit has something to apply (written, or at FINAL opened
 * with O_TRUNC); then marks it applied. */
bool text_state_take(struct file *f, bool final);
/* Size of N's generated content, 0 while pending. */
int text_stat_size(struct fs *fs, const struct node *n, struct stat *st,
		   int64_t *data_mtime);

extern const struct node_ops ns_experiments_dir;
extern const struct node_ops ns_root_dir;
extern const struct node_ops ns_tables_dir;
extern const struct node_ops ns_features_dir;
extern const struct node_ops ns_models_dir;
extern const struct node_ops ns_endpoints_dir;
extern const struct node_ops ns_monitors_dir;
extern const struct node_ops ns_jobs_dir;
/* A run's training files (ns/train.c). */
extern const struct node_ops ns_train_yaml_ops, ns_tune_yaml_ops,
	ns_progress_ops, ns_error_ops;
/* Ask the training of EXP/RUN (every training when EXP is NULL) to stop:
 * it ends KILLED unless its run was already ended. */
void fs_trainings_cancel(struct fs *fs, const char *exp, const char *run);
/* Whether a training job of EXP/RUN is queued or running: until it has
 * ended (its registration included), the run's wait does not answer. */
bool fs_training_active(struct fs *fs, const char *exp, const char *run);
/* Whether the caller may read every table the train or tune spec TEXT
 * names (fs_caller_may_name); 0 for a text that is neither (its own
 * check says what is wrong). */
int fs_train_text_may_read(struct fs *fs, const char *text, size_t len,
			   struct mlfs_err *err);
/* A run's artifacts/ directory: a blob tree whose root id is OUT->id. */
extern const struct node_ops ns_artifacts_dir;
/* The same tree read-only (a trained model's files): ID its directory. */
extern const struct node_ops ns_frozen_dir;

/* The caller of the current request (uid, gid), and its pid. */
void fs_caller(uid_t *uid, gid_t *gid);
pid_t fs_caller_pid(void);
/* The caller's supplementary groups into LIST (at most SIZE): how many it
 * has (may be more than SIZE), or a negative errno (-ENOSYS outside a
 * request). */
int fs_caller_groups(gid_t *list, int size);

/* ---- who may see what (access.c) ---- */

/* The reader of a view that gathers many objects (runs.csv, /log), with
 * what it learnt while checking paths.  On the stack; fs_reader_init
 * before use, nothing to free. */
#define FS_READER_GROUPS 64
struct fs_reader {
	uid_t uid;
	gid_t gid;
	int ngroups;			/* -1: not read yet */
	gid_t groups[FS_READER_GROUPS];
	/* The deepest directory known searchable from the root (every
	 * directory above it too), to walk the next path from. */
	struct node base;
	bool has_base;
	/* The last path asked about and the answer (views ask in runs). */
	char last[FS_PATH_MAX];
	bool last_ok;
};
/* The caller of the current request as a reader: initialise R, or
 * allocate one (free with free(); never NULL) - it is large for a stack. */
void fs_reader_init(struct fs_reader *r);
struct fs_reader *fs_reader_new(void);
/* Root (uid 0) sees everything. */
bool fs_reader_is_root(const struct fs_reader *r);
/* Whether R may read what PATH (absolute) is about, as the kernel would
 * let R reach it: PATH exists, R has search (x) permission on every
 * directory of it and read (r) on the deepest one too.  A path that does
 * not exist (an object deleted since, a name refused) is only root's. */
bool fs_reader_may(struct fs *fs, struct fs_reader *r, const char *path);
/* A request or spec names PATH (a run to register, a table to train
 * on): 0 when the caller may read it or it does not exist (the spec's own
 * check says so), else -EACCES with a message saying so.  Whatever the platform copies from PATH then reaches nobody who
 * could not read it. */
int fs_caller_may_name(struct fs *fs, const char *path, struct mlfs_err *err);

/* Pending creates: a file opened with O_CREAT whose kind exists only once
 * written shows up (empty) until its last open handle closes. */
void fs_pending_add(struct fs *fs, const char *path);
void fs_pending_del(struct fs *fs, const char *path);
bool fs_pending_has(struct fs *fs, const char *path);

/* Symlinks under a temporary name (ln -sfn), held until renamed. */
extern const struct node_ops templink_ops;
/* Unlink of a rows node: empties it. */
int fs_rows_clear(struct fs *fs, const struct node *n, struct mlfs_err *err);
/* NAME is coreutils' temporary name for ln -sfn ("Cu" + 6 of [A-Za-z0-9]):
 * a symlink hook answers EPERM for it to have the link held. */
bool fs_templink_name(const char *name);
int fs_templink_add(const char *path, const char *target);
bool fs_templink_get(const char *path, struct buf *target);
bool fs_templink_del(const char *path);
void fs_templink_free_all(void);

/* Waiters: start/stop the thread that re-checks blocked reads every 50 ms;
 * fs_waiters_kick() re-checks now (after a state change). */
int fs_waiters_start(struct fs *fs);
void fs_waiters_stop(struct fs *fs);
void fs_waiters_kick(struct fs *fs);
/* Park REQ (a read of N's content, SIZE bytes at OFF) until N is ready. */
void fs_waiter_park(struct fs *fs, fuse_req_t req, const struct node *n,
		    size_t size, off_t off);

/* ---- inodes ---- */

int fs_inodes_init(struct fs *fs);
void fs_inodes_free(struct fs *fs);
/* The inode for PATH, its lookup count raised by one. */
fuse_ino_t fs_inode_ref(struct fs *fs, const char *path);
/* Copy the path of INO into OUT; -ESTALE when unknown. */
int fs_inode_path(struct fs *fs, fuse_ino_t ino, char *out, size_t n);
void fs_inode_forget(struct fs *fs, fuse_ino_t ino, uint64_t n);
/* The node resolved for INO in namespace generation GEN, if cached and at
 * most a second old.  Copies it into OUT and returns true. */
bool fs_inode_cached(struct fs *fs, fuse_ino_t ino, uint64_t gen,
		     struct node *out);
void fs_inode_cache(struct fs *fs, fuse_ino_t ino, uint64_t gen,
		    const struct node *n);
/* Names were added or removed: forget every cached node. */
void fs_namespace_changed(struct fs *fs);
/* Give paths under FROM the prefix TO (after a rename). */
void fs_inode_rename(struct fs *fs, const char *from, const char *to);
void fs_inode_removed(struct fs *fs, const char *path);

/* What the kernel was told of an inode, to compare with the store. */
struct fs_stamp {
	int64_t size, mtime_ns, ctime_ns;
	uint32_t mode, uid, gid;
};
void fs_stamp_of(struct fs_stamp *out, const struct stat *st);
bool fs_stamp_eq(const struct fs_stamp *a, const struct stat *st);
/* The kernel got INO's attributes ST (its kind caching them as CACHE),
 * computed when fs->change_seq was SEQ0: list it and return the timeout
 * to give, 0 when they must not be cached (a write came meanwhile). */
double fs_inode_note_attrs(struct fs *fs, fuse_ino_t ino, enum fs_cache cache,
			   bool is_dir, const struct stat *st, uint64_t seq0);
/* When a page reader has INO open: the attributes it reads into ST. */
bool fs_inode_frozen(struct fs *fs, fuse_ino_t ino, struct stat *st);
/* Open INO: a writer, a plain reader, or a reader that could use pages
 * (PAGEABLE, with ST the snapshot's attributes, NULL when unsure). */
enum fs_open_how fs_inode_open(struct fs *fs, fuse_ino_t ino, bool writer,
			       bool trunc, bool pageable,
			       const struct stat *st, uint64_t seq);
/* The handle opened as HOW (a writer when WRITER) closed; a page reader's
 * inode is listed again as CACHE. */
void fs_inode_close(struct fs *fs, fuse_ino_t ino, enum fs_open_how how,
		    bool writer, enum fs_cache cache);
/* One listed inode as the notifier sees it. */
struct fs_kitem {
	fuse_ino_t ino;
	char *path;		/* malloc'd */
	enum fs_cache cache;
	bool is_dir, evict, attrs, pages;
	struct fs_stamp attr_stamp, page_stamp;
};
/* Take the listed inodes to check: files, and directories too when DIRS;
 * all of them when ALL (after a write), else only those marked to check
 * or to evict.  Volatile and evicted ones leave the list (the kernel is
 * told). */
size_t fs_inode_collect(struct fs *fs, bool dirs, bool all,
			struct fs_kitem **out);
/* ITEM was found changed: forget that the kernel holds it. */
void fs_inode_uncache(struct fs *fs, const struct fs_kitem *item);
/* The inode of PATH if the kernel knows one (0 if not). */
fuse_ino_t fs_inode_find(struct fs *fs, const char *path);

/* The notifier (notify.c): start it, stop it; the store's change hook;
 * wait (in flush, never in a handler that holds a kernel lock) until the
 * kernel has been told of every write so far; ask for a pass. */
int fs_notify_start(struct fs *fs);
void fs_notify_stop(struct fs *fs);
void fs_notify_store_changed(void *fs);
void fs_notify_wait(struct fs *fs);
void fs_notify_kick(struct fs *fs);
/* Count one request of kind OP (-o stats), and mark the start of its
 * store operation (what a remote store checks other hosts' changes
 * against; nothing on the embedded one). */
static inline void fs_count(struct fs *fs, enum fs_op op)
{
	store_txn_begin(fs->store);
	if (fs->stats)
		__atomic_add_fetch(&fs->counts[op], 1, __ATOMIC_RELAXED);
}
void fs_stats_text(struct fs *fs, struct buf *out);

/* ---- /log ---- */

#define FS_LOG_LINES 1000

void fs_log(struct fs *fs, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log why a request failed ("PATH: message", else strerror), except a
 * plain not-found.  Returns RC. */
int fs_log_failure(struct fs *fs, const char *path, int rc,
		   const struct mlfs_err *err);
/* A "key value" lines report (a refresh's) as one line "WHAT: ...";
 * REPORT is flattened in place. */
void fs_log_report(struct fs *fs, const char *path, const char *what,
		   struct buf *report);
/* /log as the caller may see it: the lines the caller caused, and those
 * about a path the caller may read (fs_reader_may); root sees all. */
void fs_log_text(struct fs *fs, struct buf *out);
void fs_log_free(struct fs *fs);

/* ---- the FUSE operations ---- */

extern const struct fuse_lowlevel_ops fs_ops;
/* After the loop: release the files and directories still open (their
 * release never came), as release would. */
void fs_files_free_all(struct fs *fs);

#endif
