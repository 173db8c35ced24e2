/* umount.h - `mlfs umount`: unmount with bounded retries while busy, and
 * say which processes hold the mount when it gives up. */
#ifndef MLFS_TOOLS_UMOUNT_H
#define MLFS_TOOLS_UMOUNT_H

/* ARGV[0] is "umount"; returns the exit status (0, 1 failure, 2 usage). */
int umount_main(int argc, char **argv);

#endif
