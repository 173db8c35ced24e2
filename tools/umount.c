/* umount.c - `mlfs umount [-t SECONDS] [-l] MOUNTPOINT`: unmount, retrying
 * while the mount is busy for a bounded time, and when it gives up name
 * the processes that hold it (cwd, root, open files or mappings under it);
 * -l detaches it lazily.  After a plain unmount it waits for the daemon to
 * close its store, so the next mount can open it at once. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "umount.h"

#define UMOUNT_DEFAULT_WAIT 5.0	/* seconds of retries while busy */
#define UMOUNT_RETRY_NS 100000000	/* between two tries */
#define UMOUNT_DAEMON_WAIT 60.0	/* for the daemon to close its store */

static void umount_usage(FILE *f)
{
	fprintf(f, "usage: mlfs umount [-t SECONDS] [-l] MOUNTPOINT\n"
		"  -t SECONDS  retry that long while the mount is busy (default %g; 0: once)\n"
		"  -l          detach now, finish when the last user leaves (fusermount3 -z)\n",
		UMOUNT_DEFAULT_WAIT);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MNT's fields in /proc/self/mounts: whether it is a mount point, and the
 * store behind it when it is an mlfs mount ("mlfs:STORE MNT ..."). */
static bool umount_find_mount(const char *mnt, char *store, size_t n)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char src[PATH_MAX + 8], dst[PATH_MAX + 8];
	bool found = false;
	if (!f)
		return false;
	store[0] = '\0';
	while (fscanf(f, "%4100s %4100s %*[^\n]", src, dst) == 2) {
		if (strcmp(dst, mnt))
			continue;
		found = true;
		if (!strncmp(src, "mlfs:", 5))
			snprintf(store, n, "%s", src + 5);
		else
			store[0] = '\0';
	}
	fclose(f);
	return found;
}

/* The absolute path of ARG without touching the mount itself when it can
 * (a dead daemon's mount answers ENOTCONN to every lookup). */
static int umount_resolve(const char *arg, char *out)
{
	char copy[PATH_MAX], dir[PATH_MAX];
	if (realpath(arg, out))
		return 0;
	int err = errno;
	snprintf(copy, sizeof(copy), "%s", arg);
	char *base = basename(copy);
	snprintf(dir, sizeof(dir), "%s", arg);
	if (err == ENOENT || !realpath(dirname(dir), out) ||
	    strlen(out) + strlen(base) + 2 > PATH_MAX)
		return err;
	if (strcmp(out, "/"))
		strcat(out, "/");
	strcat(out, base);
	return 0;
}

/* One try: 0, EBUSY, or another errno with WHY set.  Root calls umount2;
 * others go through the setuid fusermount3, whose stderr tells busy
 * apart from the rest. */
static int umount_try(const char *mnt, bool lazy, char *why, size_t n)
{
	if (geteuid() == 0) {
		if (!umount2(mnt, lazy ? MNT_DETACH : 0))
			return 0;
		snprintf(why, n, "%s", strerror(errno));
		return errno;
	}
	int pfd[2];
	if (pipe(pfd)) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return errno;
	}
	pid_t child = fork();
	if (child < 0) {
		snprintf(why, n, "fork: %s", strerror(errno));
		return errno;
	}
	if (child == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		char *args[] = { "fusermount3", "-u", lazy ? "-z" : NULL, NULL, NULL };
		args[lazy ? 3 : 2] = (char *)mnt;
		execvp("fusermount3", args);
		fprintf(stderr, "fusermount3: %s\n", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while (got + 1 < n && (r = read(pfd[0], why + got, n - 1 - got)) > 0)
		got += (size_t)r;
	why[got] = '\0';
	close(pfd[0]);
	int status;
	waitpid(child, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	why[strcspn(why, "\n")] = '\0';
	return strstr(why, strerror(EBUSY)) ? EBUSY : EPERM;
}

static bool umount_under(const char *path, const char *mnt)
{
	size_t len = strlen(mnt);
	return !strncmp(path, mnt, len) && (path[len] == '\0' || path[len] == '/');
}

/* The first file process DIR (/proc/PID) maps under MNT, into WHAT. */
static void umount_maps(const char *dir, const char *mnt, struct buf *what)
{
	char path[PATH_MAX], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/maps", dir);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/');
		if (!file)
			continue;
		file[strcspn(file, "\n")] = '\0';
		if (umount_under(file, mnt)) {
			buf_printf(what, ", mmap %s", file);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* What of process DIR (/proc/PID) lies under MNT, into WHAT: its cwd,
 * root, executable, the first open files and the first mapping there. */
static bool umount_holds(const char *dir, const char *mnt, struct buf *what)
{
	static const char *const links[] = { "cwd", "root", "exe" };
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, links[i]);
		if ((n = readlink(path, target, sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			if (umount_under(target, mnt))
				buf_printf(what, ", %s %s", links[i], target);
		}
	}
	snprintf(path, sizeof(path), "%s/fd", dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int fds = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/fd/%s", dir, e->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		if (umount_under(target, mnt) && fds++ < 3)
			buf_printf(what, ", fd %s %s", e->d_name, target);
	}
	if (d)
		closedir(d);
	if (fds > 3)
		buf_printf(what, " and %d more open files", fds - 3);
	umount_maps(dir, mnt, what);
	return what->len > 0;
}

/* A line per process under /proc that holds MNT, into OUT; the count. */
static int umount_list_holders(const char *mnt, struct buf *out)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (proc && (e = readdir(proc))) {
		char *end, dir[300], comm[64] = "?";
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s", e->d_name);
		struct buf what = { 0 };
		if (umount_holds(dir, mnt, &what)) {
			snprintf(dir, sizeof(dir), "/proc/%s/comm", e->d_name);
			FILE *f = fopen(dir, "r");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = '\0';
				fclose(f);
			}
			buf_printf(out, "  pid %ld (%s): %s\n", pid, comm, what.data + 2);
			found++;
		}
		buf_free(&what);
	}
	if (proc)
		closedir(proc);
	return found;
}

/* Mounts below MNT hold it too. */
static int umount_list_submounts(const char *mnt, struct buf *out)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char src[PATH_MAX + 8], dst[PATH_MAX + 8];
	int found = 0;
	while (f && fscanf(f, "%4100s %4100s %*[^\n]", src, dst) == 2) {
		if (strcmp(dst, mnt) && umount_under(dst, mnt)) {
			buf_printf(out, "  a mount at %s (%s)\n", dst, src);
			found++;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void umount_say_busy(const char *mnt, double waited)
{
	struct buf holders = { 0 };
	int n = umount_list_holders(mnt, &holders);
	n += umount_list_submounts(mnt, &holders);
	fprintf(stderr, "mlfs umount: %s: still busy after %g s (-t to wait longer, -l to detach)",
		mnt, waited);
	if (n)
		fprintf(stderr, "; in use by:\n%s", holders.data);
	else
		fprintf(stderr, "; no process in this mount namespace holds it\n");
	buf_free(&holders);
}

/* The daemon's pid, from STORE/mlfs.pid; 0 when unknown. */
static pid_t umount_daemon_pid(const char *store)
{
	char pidfile[PATH_MAX + 16];
	int p = 0;
	if (!store[0])
		return 0;
	snprintf(pidfile, sizeof(pidfile), "%s/mlfs.pid", store);
	FILE *f = fopen(pidfile, "r");
	if (f) {
		if (fscanf(f, "%d", &p) != 1)
			p = 0;
		fclose(f);
	}
	return p > 0 ? p : 0;
}

/* Wait until the daemon has closed the store: it removes its pid file
 * last (its parent may not have reaped it yet, so kill(pid, 0) alone
 * would wait for a zombie). */
static void umount_wait_daemon(const char *store, pid_t pid)
{
	double until = now_s() + UMOUNT_DAEMON_WAIT;
	bool running = pid > 0;
	while (running && now_s() < until) {
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
		running = kill(pid, 0) == 0 && umount_daemon_pid(store) == pid;
	}
	if (running)
		fprintf(stderr, "mlfs umount: unmounted, but daemon %d still runs after %g s\n",
			(int)pid, UMOUNT_DAEMON_WAIT);
}

static int umount_parse(int argc, char **argv, double *wait, bool *lazy)
{
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "t:lh")) != -1) {
		char *end;
		switch (c) {
		case 't':
			*wait = strtod(optarg, &end);
			if (end == optarg || *end || !(*wait >= 0 && *wait <= 86400)) {
				fprintf(stderr, "mlfs umount: -t wants seconds from 0 to 86400, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			*lazy = true;
			break;
		case 'h':
			umount_usage(stdout);
			return -1;
		default:
			umount_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		umount_usage(stderr);
		return 2;
	}
	return 0;
}

int umount_main(int argc, char **argv)
{
	char mnt[PATH_MAX], store[PATH_MAX], why[512];
	double wait = UMOUNT_DEFAULT_WAIT;
	bool lazy = false;
	int rc = umount_parse(argc, argv, &wait, &lazy);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = umount_resolve(argv[optind], mnt))) {
		fprintf(stderr, "mlfs umount: %s: %s\n", argv[optind], strerror(rc));
		return 1;
	}
	if (!umount_find_mount(mnt, store, sizeof(store))) {
		fprintf(stderr, "mlfs umount: %s: not mounted\n", mnt);
		return 1;
	}
	pid_t daemon = umount_daemon_pid(store);
	double start = now_s();
	while ((rc = umount_try(mnt, lazy, why, sizeof(why))) == EBUSY &&
	       now_s() - start < wait)
		nanosleep(&(struct timespec){ 0, UMOUNT_RETRY_NS }, NULL);
	if (rc == EBUSY) {
		umount_say_busy(mnt, wait);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "mlfs umount: %s: %s\n", mnt, why);
		return 1;
	}
	/* A lazy unmount ends when the last user leaves: the daemon with it. */
	if (!lazy)
		umount_wait_daemon(store, daemon);
	return 0;
}
