/* eio_shim.c - fault injection for the mount tests (LD_PRELOAD): while
 * the file named by MLFS_EIO_ARM exists, writes and syncs of files under
 * MLFS_EIO_DIR fail with EIO, as a failing disk would answer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether FD is a file under MLFS_EIO_DIR and the arm file exists. */
static int armed(int fd)
{
	const char *arm = getenv("MLFS_EIO_ARM"), *dir = getenv("MLFS_EIO_DIR");
	char link[64], path[PATH_MAX];
	if (!arm || !dir || access(arm, F_OK))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return !strncmp(path, dir, strlen(dir));
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))
#define FAIL_IF_ARMED(fd)		\
	do {				\
		if (armed(fd)) {	\
			errno = EIO;	\
			return -1;	\
		}			\
	} while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
	FAIL_IF_ARMED(fd);
	return NEXT(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	FAIL_IF_ARMED(fd);
	return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	FAIL_IF_ARMED(fd);
	return NEXT(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	FAIL_IF_ARMED(fd);
	return NEXT(writev)(fd, iov, cnt);
}

int fsync(int fd)
{
	FAIL_IF_ARMED(fd);
	return NEXT(fsync)(fd);
}

int fdatasync(int fd)
{
	FAIL_IF_ARMED(fd);
	return NEXT(fdatasync)(fd);
}
