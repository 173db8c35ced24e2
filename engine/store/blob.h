/* blob.h - artifact trees: directories and files of any size, stored in
 * chunks, with POSIX-like operations (lookup, create, read and write at
 * offsets, truncate, rename, unlink) so a run's artifacts/ folder behaves
 * like a local directory.  Objects have numeric ids; the caller keeps the
 * id of each tree's root.  This module owns the keys b/. */
#ifndef MLFS_BLOB_H
#define MLFS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define BLOB_CHUNK (128u << 10)

struct blob_stat {
	uint64_t id;
	bool dir;
	uint64_t size;
	uint32_t mode, uid, gid;	/* mode: permission bits */
	int64_t mtime_ns, ctime_ns;
};

/* A new empty directory not linked anywhere (a tree's root). */
int blob_root_new(struct store *s, uint32_t mode, uint32_t uid, uint32_t gid,
		  uint64_t *id, struct mlfs_err *err);
/* The same put into batch B, for an owner that writes its record and its
 * tree's root in one batch (a run): nothing exists until B is written.
 * *ID is taken from the counter now (a B never written leaves a gap in
 * the numbers, nothing else).  0 or -EIO. */
int blob_root_put(struct store *s, struct store_batch *b, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint64_t *id,
		  struct mlfs_err *err);
int blob_stat(struct store *s, uint64_t id, struct blob_stat *out);
/* NAME in directory DIR.  -ENOENT. */
int blob_lookup(struct store *s, uint64_t dir, const char *name,
		struct blob_stat *out);
int blob_list(struct store *s, uint64_t dir,
	      int (*fn)(void *ctx, const char *name, bool is_dir), void *ctx);
/* Make a file (IS_DIR false) or directory NAME in DIR.  -EEXIST. */
int blob_make(struct store *s, uint64_t dir, const char *name, bool is_dir,
	      uint32_t mode, uint32_t uid, uint32_t gid, struct blob_stat *out,
	      struct mlfs_err *err);
/* A file NAME in DIR made for a handle that writes it (open O_CREAT):
 * "fresh" until a handle on it closes (blob_writer_commit FINAL, or
 * blob_settle); a fresh file left by a crash is removed by blob_recover,
 * so a copy in flight leaves nothing behind. */
int blob_create(struct store *s, uint64_t dir, const char *name, uint32_t mode,
		uint32_t uid, uint32_t gid, struct blob_stat *out,
		struct mlfs_err *err);
/* A handle that only reads file ID closed: it is no longer fresh. */
int blob_settle(struct store *s, uint64_t id, struct mlfs_err *err);

/* ---- writers (blob_stage.c): a file written through one handle ----
 * What a writer writes and truncates is staged under a new content id
 * (b/s/CID) and replaces the file's content whole at blob_writer_commit,
 * in one batch: other readers (blob_read, blob_stat) keep the old bytes
 * until then, a crash before it leaves the old file (or none, for a
 * fresh one).  The writer's own reads, and blob_truncate of ID, see the
 * staged bytes meanwhile.  A writer belongs to one thread at a time. */
struct blob_writer;
/* TRUNC: start from an empty file (O_TRUNC), applied at the final commit
 * if nothing is written before.  Never NULL (out of memory aborts). */
int blob_writer_open(struct store *s, uint64_t id, bool trunc,
		     struct blob_writer **out, struct mlfs_err *err);
long blob_writer_read(struct blob_writer *w, uint64_t off, char *dst,
		      size_t len, struct mlfs_err *err);
int blob_writer_write(struct blob_writer *w, uint64_t off, const char *data,
		      size_t len, struct mlfs_err *err);
/* Apply what was staged (at flush; FINAL at close, which also ends the
 * file's freshness).  A file removed meanwhile takes nothing: 0. */
int blob_writer_commit(struct blob_writer *w, bool final, struct mlfs_err *err);
/* The file's size as W sees it (staged, or the file's). */
uint64_t blob_writer_size(struct blob_writer *w);
/* A write failed: nothing more is applied, commits fail with its errno
 * and the file keeps its content from before the handle. */
bool blob_writer_failed(const struct blob_writer *w);
/* Drop what was staged and not committed.  NULL is a no-op. */
void blob_writer_free(struct blob_writer *w);
/* What writes that never closed left (a crash): staged contents and
 * fresh files.  Each is said to FN (may be NULL) and, when REMOVE, removed.
 * Run it only when no handle is open (at mount, or on a store no daemon
 * has open).  Returns how many, or <0. */
int blob_recover(struct store *s, bool remove,
		 void (*fn)(void *ctx, const char *problem), void *ctx,
		 struct mlfs_err *err);
/* What writes of a dead owner left (the records name their writer,
 * store_writer_name; GONE says which are gone), removed while other
 * writers live: by the elected scheduler's sweep.  Records with no owner
 * (the embedded store's) stay.  *N (may be NULL) how many.  A writer
 * whose staged bytes went fails its commit (EIO). */
int blob_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		    size_t *n, struct mlfs_err *err);

/* Remove file NAME (-EISDIR for a directory) or empty directory NAME
 * (RMDIR; -ENOTEMPTY, -ENOTDIR). */
int blob_remove(struct store *s, uint64_t dir, const char *name, bool rmdir,
		struct mlfs_err *err);
/* Remove the tree under directory ID and ID itself. */
int blob_drop_tree(struct store *s, uint64_t id, struct mlfs_err *err);
/* Move NAME in FROM to NEWNAME in TO, replacing a file or empty directory
 * there unless NOREPLACE (-EEXIST).  -EINVAL to move a directory into
 * itself. */
int blob_rename(struct store *s, uint64_t from, const char *name, uint64_t to,
		const char *newname, bool noreplace, struct mlfs_err *err);
/* Bytes [OFF, OFF+LEN) of file ID; returns bytes read or <0. */
long blob_read(struct store *s, uint64_t id, uint64_t off, char *dst,
	       size_t len, struct mlfs_err *err);
/* The largest file: 16 TiB, ext4's limit with 4 KiB blocks.  A size past
 * it (truncate -s 8E, a write at such an offset) is -EFBIG: nobody
 * could read such a file back, and offsets stay far from overflow. */
#define BLOB_MAX_SIZE (1ull << 44)
/* Write at OFF (the file grows as needed; holes read as zeros).  -EFBIG
 * past BLOB_MAX_SIZE. */
int blob_write(struct store *s, uint64_t id, uint64_t off, const char *data,
	       size_t len, struct mlfs_err *err);
/* Set the size (holes read as zeros).  -EFBIG past BLOB_MAX_SIZE. */
int blob_truncate(struct store *s, uint64_t id, uint64_t size,
		  struct mlfs_err *err);
/* Set mode/uid/gid/mtime; (uint32_t)-1 or -1 leave a field alone. */
int blob_setattr(struct store *s, uint64_t id, uint32_t mode, uint32_t uid,
		 uint32_t gid, int64_t mtime_ns, struct mlfs_err *err);

/* ---- pins (b/p/, b/o/): a tree that outlives its owner ----
 * The owner of a root (a run, for its artifacts) lets go of it with
 * blob_root_release instead of blob_drop_tree; whoever uses part of the
 * tree meanwhile (a registered model version) pins it under a HOLDER name
 * (1-200 bytes, unique to that user).  The tree is dropped when its owner
 * and its last holder are gone, whatever the order.  Each call is one
 * atomic batch; thread-safe. */
/* Pin ROOT for HOLDER (again is fine).  -ENOENT when ROOT is no tree root
 * or its owner released it. */
int blob_root_pin(struct store *s, uint64_t root, const char *holder,
		  struct mlfs_err *err);
/* Remove HOLDER's pin; the last pin of a released tree drops it.
 * -ENOENT when HOLDER has no pin on ROOT. */
int blob_root_unpin(struct store *s, uint64_t root, const char *holder,
		    struct mlfs_err *err);
/* The owner lets go: the tree is dropped now when nobody pins it, else
 * when the last pin goes. */
int blob_root_release(struct store *s, uint64_t root, struct mlfs_err *err);
/* The same with the owner's own changes: the release is added to B and
 * B written, so the owner's record goes in the same batch as its hold on
 * the tree (a run and its artifacts).  B stays the caller's to free. */
int blob_root_release_write(struct store *s, uint64_t root,
			    struct store_batch *b, struct mlfs_err *err);
bool blob_root_has_pin(struct store *s, uint64_t root, const char *holder);
/* Every pin in the store (for checks), in root order; FN's non-zero
 * return stops the walk and is returned. */
int blob_pin_list(struct store *s,
		  int (*fn)(void *ctx, uint64_t root, const char *holder),
		  void *ctx);

#endif
