/* fuse_floor.c - the floor under any FUSE filesystem on this machine: a
 * low-level libfuse daemon that does no work at all (one directory of
 * files whose attributes and names the kernel may cache for an hour, a
 * read answers a fixed 160-byte line, a write is taken and forgotten),
 * run with the same multi-threaded loop as mlfs.  tools/bench/kcache
 * times the same shell and Python hot paths against it beside mlfs: what
 * mlfs costs above it is mlfs's, the rest is the kernel's round trips.
 *   fuse_floor MOUNTPOINT [-o page]   (-o page: page cache, else direct I/O)
 * Not installed; not a test. */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char line[] =
	"id,f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,f12,f13,f14,f15,f16,f17,f18,f19\n"
	"42,1.0000,2.0000,3.0000,4.0000,5.0000,6.0000,7.0000,8.0000,9.0000,10.0\n";
static int page_cache;

/* Inode 1 is the root; any name in it is a file, inode 2 + its number. */
static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_size = sizeof(line) - 1;
	}
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = 2 + strtoull(name, NULL, 10) % 1000000;
	e.entry_timeout = e.attr_timeout = 3600;
	fill(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct stat st;
	fill(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fi->direct_io = !page_cache;
	fi->keep_cache = page_cache;
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	size_t len = sizeof(line) - 1;
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, line + off, size < len - off ? size : len - off);
}

static void floor_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_write(req, size);
}

static void floor_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void floor_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	floor_getattr(req, ino, fi);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.lookup = floor_lookup, .getattr = floor_getattr,
	.setattr = floor_setattr, .open = floor_open, .read = floor_read,
	.write = floor_write, .flush = floor_ok, .release = floor_ok,
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fuse_floor MOUNTPOINT [-o page]\n");
		return 2;
	}
	page_cache = argc > 3 && !strcmp(argv[3], "page");
	char *fargv[] = { argv[0], NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, fargv);
	struct fuse_session *se = fuse_session_new(&args, &floor_ops,
						   sizeof(floor_ops), NULL);
	if (!se || fuse_session_mount(se, argv[1]))
		return 1;
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_idle_threads(loop, 16);	/* as mlfs */
	int rc = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc < 0;
}
