/* fs.h - the FUSE face of mlfs: mount a store at a directory and serve it
 * until unmounted.  The only header tools/ needs from fs/. */
#ifndef MLFS_FS_H
#define MLFS_FS_H

#include <stdbool.h>

struct store;

struct fs_options {
	const char *mountpoint;
	const char *store_dir;	/* shown as the mount's source */
	bool foreground;
	bool debug;
	int nopts;		/* extra -o options for libfuse */
	char **opts;
	int ready_fd;		/* when >= 0, "OK\n" is written here once mounted */
	unsigned train_workers;	/* threads for control jobs (0: 1) */
	bool stats;		/* count requests, shown in /.stats */
	bool serve;		/* a serving host: open/readlink never ask etcd */
};

/* Mount S (opened by the caller) and serve requests until unmount or a
 * SIGTERM/SIGINT/SIGHUP.  Returns 0 after a clean unmount, else an errno
 * with a message on stderr. */
int fs_serve(struct store *s, const struct fs_options *o);

#endif
