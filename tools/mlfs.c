/* mlfs.c - the mlfs command: create, mount, unmount and check stores, and
 * the standalone model commands (`mlfs forest`).
 *
 * `mlfs mount` daemonizes before it opens the store (RocksDB threads do
 * not survive fork) and reports success or the reason of failure back to
 * the parent through a pipe, so the command's exit status is truthful.
 * `mlfs STORE MOUNTPOINT -o OPTS` (how mount.fuse3 runs it for
 * `mount -t fuse.mlfs`) is the same mount; in the foreground under
 * systemd it says READY=1 once mounted. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mlfs_config.h"
#include "format.h"
#include "fs.h"
#include "forest_cli.h"
#include "blob.h"
#include "umount.h"
#include "store.h"
#include "columnar.h"
#include "table.h"
#include "trainset.h"
#include "endpoint.h"
#include "job.h"
#include "monitor.h"
#include "cluster.h"
#include "sweep.h"
#include "kv.h"
#include "objstore.h"
#include "registry.h"
#include "tracking.h"
#include "train.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mlfs init STORE\n"
		"       mlfs mount STORE MOUNTPOINT [-f] [-d] [-o OPTION[,OPTION...]]\n"
		"       mlfs mount --meta etcd://HOST:PORT[,...] --blobs s3://BUCKET@ENDPOINT\n"
		"                  [--cache DIR] [--credentials FILE] STORE-NAME MOUNTPOINT ...\n"
		"       mlfs STORE MOUNTPOINT -o OPTION[,OPTION...]   (as mount.fuse3 runs it)\n"
		"       mlfs umount [-t SECONDS] [-l] MOUNTPOINT\n"
		"       mlfs check STORE\n"
		"       mlfs check --meta etcd://... --blobs s3://... STORE-NAME\n"
		"       mlfs checkpoint --meta etcd://... --blobs s3://... [--cache DIR] STORE-NAME\n"
		"       mlfs forest train|predict|eval|info ...   (mlfs forest --help)\n"
		"       mlfs --help | --version\n"
		"\n"
		"mlfs shows an MLOps platform as files: tables, features, experiments,\n"
		"models, endpoints, monitors and jobs, kept in one store directory.\n"
		"See mlfs(1).\n");
}

static int open_store(const char *dir, bool create, struct store **s)
{
	struct mlfs_err err = { 0 };
	if (create && mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "mlfs: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	int rc = store_open(dir, create, s, &err);
	if (!rc && (rc = format_ensure(*s, create, &err))) {
		store_close(*s);
		*s = NULL;
	}
	if (rc)
		fprintf(stderr, "mlfs: %s: %s\n", dir, err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

/* The remote backend (docs/scale-out.md): where the metadata log and the
 * blobs live, the local replica's parent folder, the S3 key file; set by
 * remote_args, the handles by open_remote. */
static const char default_cache[] = "/var/cache/mlfs";
static struct {
	const char *meta, *blobs, *cache, *cred;
	const char *name;	/* the mounted STORE-NAME */
	struct kv *kv;
	struct objstore *os;
} remote = { .cache = default_cache };

/* Take --meta, --blobs, --cache and --credentials (with their values)
 * out of ARGV: the new argc, or -1 after a message. */
static int remote_args(int argc, char **argv)
{
	static const char *const names[] = { "--meta", "--blobs", "--cache", "--credentials" };
	const char **vals[] = { &remote.meta, &remote.blobs, &remote.cache, &remote.cred };
	int n = 0;
	for (int i = 0; i < argc; i++) {
		size_t j = 0;
		while (j < 4 && strcmp(argv[i], names[j]))
			j++;
		if (j == 4) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "mlfs: %s needs a value\n", names[j]);
			return -1;
		}
		*vals[j] = argv[++i];
	}
	if (!remote.meta != !remote.blobs) {
		fprintf(stderr, "mlfs: --meta and --blobs go together\n");
		return -1;
	}
	argv[n] = NULL;
	return n;
}

static void close_remote(void)
{
	objstore_close(remote.os);
	kv_close(remote.kv);
	remote.os = NULL;
	remote.kv = NULL;
}

/* Connect to the metadata log and the bucket (nothing is read yet). */
static int connect_remote(struct mlfs_err *err)
{
	int rc = kv_open(NULL, remote.meta, &remote.kv, err);
	if (!rc)
		rc = objstore_open_s3(remote.blobs, remote.cred, &remote.os, err);
	if (rc)
		close_remote();
	return rc;
}

/* A number of seconds from the environment (tests shorten the session
 * TTL and the sweep's interval, docs/reference.md); 0 when unset or bad. */
static int env_seconds(const char *var)
{
	const char *v = getenv(var);
	char *end;
	long n = v ? strtol(v, &end, 10) : 0;
	return v && *v && !*end && n > 0 && n <= 3600 ? (int)n : 0;
}

/* Open the remote store NAME with its replica in DIR, to be mounted at
 * MOUNTPOINT, and join its cluster. */
static int open_remote(const char *name, const char *dir,
		       const char *mountpoint, struct store **s)
{
	struct mlfs_err err = { 0 };
	int rc = connect_remote(&err);
	if (!rc && !(rc = store_open_remote(dir, name, remote.kv, remote.os, s, &err)) &&
	    (rc = format_ensure(*s, true, &err))) {
		store_close(*s);
		*s = NULL;
	}
	if (!rc) {
		/* This host's session, and the scheduler's election among the
		 * hosts, before the schedulers start (fs_serve). */
		char prefix[128];
		snprintf(prefix, sizeof(prefix), "%s/", name);
		struct cluster_conf conf = { .prefix = prefix, .mountpoint = mountpoint,
					     .ttl_s = env_seconds("MLFS_SESSION_TTL") };
		sweep_set_interval(*s, env_seconds("MLFS_SWEEP_S"));
		if ((rc = cluster_attach(*s, remote.kv, &conf, &err))) {
			store_close(*s);
			*s = NULL;
		}
	}
	if (rc) {
		fprintf(stderr, "mlfs: %s: %s\n", name, err.msg[0] ? err.msg : strerror(-rc));
		close_remote();
	}
	return rc;
}

struct check_report {
	struct buf text;
	int problems;
};

static int report_object(void *ctx, const char *object)
{
	struct check_report *r = ctx;
	buf_printf(&r->text, "%s: an object no log entry nor the checkpoint "
		   "names (a writer or a checkpoint died before its commit; safe to "
		   "delete)\n", object);
	r->problems++;
	return 0;
}

/* mlfs check of a remote store: the batch objects no entry names. */
static int check_remote(const char *name)
{
	struct mlfs_err err = { 0 };
	struct check_report r = { { 0 }, 0 };
	int rc = connect_remote(&err);
	if (!rc)
		rc = store_remote_check(remote.kv, remote.os, name, report_object, &r, &err);
	close_remote();
	if (rc) {
		fprintf(stderr, "mlfs check: %s: %s\n", name, err.msg[0] ? err.msg : strerror(-rc));
		buf_free(&r.text);
		return 1;
	}
	if (r.text.len)
		fputs(r.text.data, stdout);
	printf("%s: %d problem%s\n", name, r.problems, r.problems == 1 ? "" : "s");
	buf_free(&r.text);
	return r.problems ? 1 : 0;
}

/* mlfs checkpoint: checkpoint the remote store NAME from a replica of
 * its own, CACHE/NAME.checkpoint (kept, so that the next one replays only
 * what came since), and compact its log. */
static int cmd_checkpoint(int argc, char **argv)
{
	struct mlfs_err err = { 0 };
	struct store *s = NULL;
	char dir[PATH_MAX];
	uint64_t seq = 0;
	if (argc != 2 || !remote.meta) {
		usage(stderr);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/%s.checkpoint", remote.cache, argv[1]);
	int rc = mkdir(remote.cache, 0700) && errno != EEXIST ? -errno : 0;
	if (!rc && mkdir(dir, 0700) && errno != EEXIST)
		rc = -errno;
	if (!rc)
		rc = connect_remote(&err);
	if (!rc && !(rc = store_open_remote(dir, argv[1], remote.kv, remote.os, &s, &err))) {
		rc = store_checkpoint(s, &seq, &err);
		store_close(s);
	}
	if (remote.kv)
		close_remote();
	if (rc) {
		fprintf(stderr, "mlfs checkpoint: %s: %s\n", argv[1],
			err.msg[0] ? err.msg : strerror(-rc));
		return 1;
	}
	printf("%s: checkpoint at entry %llu\n", argv[1], (unsigned long long)seq);
	return 0;
}

/* Open DIR for reading only (a disk too full to replay the log). */
static int open_store_readonly(const char *dir, struct store **s)
{
	struct mlfs_err err = { 0 };
	int rc = store_open_readonly(dir, s, &err);
	if (!rc && (rc = format_ensure(*s, false, &err))) {
		store_close(*s);
		*s = NULL;
	}
	if (rc)
		fprintf(stderr, "mlfs: %s: %s\n", dir, err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

static int cmd_init(int argc, char **argv)
{
	struct store *s;
	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	if (open_store(argv[1], true, &s))
		return 1;
	store_close(s);
	return 0;
}

static void report_line(void *ctx, const char *problem)
{
	buf_printf(ctx, "%s\n", problem);
}

/* The checks of an open store S into REPORT: the number of problems, or
 * a negative errno with ERR set.  ALONE: no daemon has it open (leftovers
 * of writes cut short are then removed, not told from writes in flight). */
static int check_store(struct store *s, bool alone, struct buf *report,
		       struct mlfs_err *err)
{
	int problems = table_check(s, report, err);
	if (problems >= 0) {
		int more = columnar_check(s, alone, report, err);
		problems = more < 0 ? more : problems + more;
	}
	if (problems >= 0) {
		int more = trainset_form_check(s, alone, report, err);
		problems = more < 0 ? more : problems + more;
	}
	if (problems >= 0) {
		int more = tracking_check(s, report, err);
		problems = more < 0 ? more : problems + more;
	}
	static const struct {
		int (*fn)(struct store *, void (*)(void *, const char *), void *);
		const char *what;
	} records[] = {
		{ registry_check, "the registry" }, { endpoint_check, "the endpoints" },
		{ monitor_check, "the monitors" }, { job_check, "the jobs" },
	};
	for (size_t i = 0; problems >= 0 && i < sizeof(records) / sizeof(records[0]); i++) {
		int more = records[i].fn(s, report_line, report);
		if (more < 0)
			mlfs_fail(err, more, "%s could not be read: %s", records[i].what,
				  strerror(-more));
		problems = more < 0 ? more : problems + more;
	}
	if (problems >= 0 && alone) {
		int more = blob_recover(s, true, report_line, report, err);
		problems = more < 0 ? more : problems + more;
	}
	return problems;
}

/* mlfs check --meta --blobs --cache DIR NAME: the replica in DIR checked
 * as the embedded store is (alone when no session of NAME is alive), then
 * the batch objects no log entry names. */
static int check_replica(const char *name, struct buf *report, struct mlfs_err *err)
{
	struct store *s;
	struct check_report strays = { { 0 }, 0 };
	int rc = connect_remote(err);
	if (!rc && !(rc = store_open_remote(remote.cache, name, remote.kv, remote.os, &s, err))) {
		char prefix[128];
		snprintf(prefix, sizeof(prefix), "%s/", name);
		struct cluster_conf conf = { .prefix = prefix, .mountpoint = "(mlfs check)" };
		rc = format_ensure(s, false, err);
		bool alone = !rc && !cluster_attach(s, remote.kv, &conf, NULL) &&
			     cluster_others(s, NULL) == 0;
		if (!rc)
			rc = check_store(s, alone, report, err);
		store_close(s);
	}
	if (rc >= 0) {
		int more = store_remote_check(remote.kv, remote.os, name, report_object, &strays, err);
		buf_puts(report, strays.text.data ? strays.text.data : "");
		rc = more < 0 ? more : rc + strays.problems;
	}
	buf_free(&strays.text);
	close_remote();
	return rc;
}

static int cmd_check(int argc, char **argv)
{
	struct mlfs_err err = { 0 };
	struct store *s;
	struct buf report = { 0 };

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	if (remote.meta && remote.cache == default_cache)	/* no --cache */
		return check_remote(argv[1]);
	int problems;
	if (remote.meta) {
		problems = check_replica(argv[1], &report, &err);
	} else {
		/* Leftovers of writes cut short can only be removed, and told
		 * from writes in flight, when no daemon has the store open. */
		bool alone = store_open(argv[1], false, &s, &err) == 0;
		problems = alone ? 0 : store_open_readonly(argv[1], &s, &err);
		if (!problems) {
			if (!(problems = format_ensure(s, false, &err)))
				problems = check_store(s, alone, &report, &err);
			store_close(s);
		}
	}
	if (problems < 0) {
		fprintf(stderr, "mlfs check: %s: %s\n", argv[1],
			err.msg[0] ? err.msg : strerror(-problems));
		buf_free(&report);
		return 1;
	}
	if (report.len)
		fputs(report.data, stdout);
	printf("%s: format %d, %d problem%s\n", argv[1], MLFS_FORMAT_VERSION,
	       problems, problems == 1 ? "" : "s");
	buf_free(&report);
	return problems ? 1 : 0;
}

static int serve(const char *store_dir, struct fs_options *o)
{
	struct mlfs_err err = { 0 };
	struct store *s;
	char pidfile[PATH_MAX + 16];

	/* Keep big buffers (memtable arenas, request buffers) in the heap and
	 * reuse them, instead of fresh zeroed pages from mmap each time. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	bool readonly = false;
	int rc = remote.meta ? open_remote(remote.name, store_dir, o->mountpoint, &s)
			     : open_store(store_dir, true, &s);
	if (rc == -ENOSPC && !(rc = open_store_readonly(store_dir, &s))) {
		/* No room to replay the write-ahead log: serve what is there. */
		readonly = true;
		if (o->nopts < 64)
			o->opts[o->nopts++] = (char *)"ro";
		const char *why = "no space left to replay the write-ahead log";
		fprintf(stderr, "mlfs: %s: %s: mounted read-only (writes fail with "
			"EROFS); free %d MiB there and mount again to write\n",
			store_dir, why, STORE_WAL_MB + STORE_RESERVE_MB);
		store_notify(s, "mounted read-only: %s in %s; free %d MiB there and "
			     "mount again to write", why, store_dir,
			     STORE_WAL_MB + STORE_RESERVE_MB);
	}
	if (rc)
		return 1;
	/* On the remote backend another host's writes may be in flight: its
	 * staged rows are not leftovers.  Recover only when no other session
	 * is alive (a dead local mount's does not count, cluster.h), as
	 * jobs_start does for interrupted runs. */
	bool recover = !readonly && (!remote.meta || cluster_others(s, NULL) == 0);
	if (recover && table_recover(s, &err))
		fprintf(stderr, "mlfs: recovering staged writes: %s\n", err.msg);
	if (recover && columnar_recover(s, &err))
		fprintf(stderr, "mlfs: removing columnar forms cut short: %s\n", err.msg);
	if (recover && trainset_form_recover(s, &err))
		fprintf(stderr, "mlfs: removing feature table forms cut short: %s\n", err.msg);
	if (recover && blob_recover(s, true, NULL, NULL, &err) < 0)
		fprintf(stderr, "mlfs: recovering artifact writes: %s\n", err.msg);
	if (recover && store_sweep_alone(s, NULL, &err))
		fprintf(stderr, "mlfs: removing dead writers' batch objects: %s\n", err.msg);
	/* Trainings a killed daemon left RUNNING end FAILED "interrupted";
	 * while others live, the leader's sweep ends a dead host's. */
	if (recover && train_recover(s, &err) < 0)
		fprintf(stderr, "mlfs: %s\n", err.msg);
	sweep_set_trainings(s, train_sweep_dead);
	sweep_set_forms(s, trainset_form_sweep_dead);
	snprintf(pidfile, sizeof(pidfile), "%s/mlfs.pid", store_dir);
	FILE *pf = fopen(pidfile, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}
	rc = fs_serve(s, o);
	if (rc)
		fprintf(stderr, "mlfs: cannot serve %s at %s: %s\n", store_dir,
			o->mountpoint, strerror(rc));
	/* Every handle is closed: staged bytes that a failed write could not
	 * drop (a full disk) go now rather than at the next mount. */
	if (!readonly && !remote.meta)
		blob_recover(s, true, NULL, NULL, NULL);
	store_close(s);
	close_remote();
	unlink(pidfile);
	return rc ? 1 : 0;
}

/* Options that mount(8), fstab or mount.fuse3 may pass and that mean
 * nothing to a FUSE mount (libfuse refuses them): the fstab words
 * mount.fuse3 drops itself, x-* and comment=, and the atime variants
 * libfuse does not know (mlfs keeps no access times). */
static bool option_ignored(const char *opt)
{
	static const char *const words[] = {
		"defaults", "auto", "noauto", "user", "nouser", "users", "_netdev",
		"nofail", "relatime", "norelatime", "strictatime", "nostrictatime",
		"lazytime", "nolazytime", "diratime", "nodiratime",
	};
	if (!strncmp(opt, "x-", 2) || !strncmp(opt, "comment=", 8))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (!strcmp(opt, words[i]))
			return true;
	return false;
}

/* The remote options of a -o list (meta=, blobs=, cache=, credentials=:
 * the --meta ... of mlfs mount, for mount(8), fstab and the unit, which
 * pass only -o): whether OPT is one, then its value kept. */
static bool take_remote_option(const char *opt)
{
	static const char *const names[] = { "meta=", "blobs=", "cache=", "credentials=" };
	const char **vals[] = { &remote.meta, &remote.blobs, &remote.cache, &remote.cred };
	for (size_t j = 0; j < 4; j++)
		if (!strncmp(opt, names[j], strlen(names[j]))) {
			*vals[j] = strdup(opt + strlen(names[j]));
			if (!*vals[j])
				mlfs_oom();
			return true;
		}
	return false;
}

/* Take mlfs's own options (train_workers=N, stats, serve, the
 * remote ones) and
 * the ignored ones out of the comma-separated -o list ARG, in place; what
 * is left goes to libfuse.  -1 on a bad value (said on stderr). */
static int take_own_options(char *arg, struct fs_options *o)
{
	char *out = arg, *save = NULL;
	for (char *opt = strtok_r(arg, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strcmp(opt, "stats")) {
			o->stats = true;
			continue;
		}
		if (!strcmp(opt, "serve")) {
			o->serve = true;
			continue;
		}
		if (option_ignored(opt) || take_remote_option(opt))
			continue;
		if (strncmp(opt, "train_workers=", 14)) {
			if (out != arg)
				*out++ = ',';
			memmove(out, opt, strlen(opt) + 1);
			out += strlen(out);
			continue;
		}
		char *end;
		long n = strtol(opt + 14, &end, 10);
		if (end == opt + 14 || *end || n < 1 || n > 64) {
			fprintf(stderr, "mlfs: train_workers must be 1 to 64, not '%s'\n", opt + 14);
			return -1;
		}
		o->train_workers = (unsigned)n;
	}
	*out = '\0';
	return 0;
}

/* Add the -o list ARG: mlfs's options to O, the rest to OPTS. */
static int add_options(char *arg, struct fs_options *o, char **opts)
{
	if (take_own_options(arg, o))
		return -1;
	if (*arg && o->nopts < 64)
		opts[o->nopts++] = arg;
	return 0;
}

/* systemd's Type=notify: send STATE to $NOTIFY_SOCKET (a path, or an
 * abstract name after '@'). */
static void notify_systemd(const char *socket_name, const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(socket_name);
	if ((socket_name[0] != '/' && socket_name[0] != '@') || len >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mlfs: NOTIFY_SOCKET '%s' is not a socket path\n", socket_name);
		return;
	}
	memcpy(sa.sun_path, socket_name, len);
	if (socket_name[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		fprintf(stderr, "mlfs: telling systemd %s: %s\n", state, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static char notify_socket[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

/* Wait for fs_serve's "OK" on the ready pipe FD, then say READY=1. */
static void *notify_when_ready(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char msg[3];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(msg) && (n = read(fd, msg + got, sizeof(msg) - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got == 3 && !memcmp(msg, "OK\n", 3))
		notify_systemd(notify_socket, "READY=1");
	return NULL;
}

/* In the foreground under systemd (NOTIFY_SOCKET set), a thread tells
 * systemd once the mount is up: the foreground daemon must not fork
 * (RocksDB threads), and until it fails the mount the thread waits. */
static void notify_start(struct fs_options *o)
{
	const char *name = getenv("NOTIFY_SOCKET");
	int pfd[2];
	pthread_t t;
	if (!name)
		return;
	snprintf(notify_socket, sizeof(notify_socket), "%s", name);
	if (pipe2(pfd, O_CLOEXEC)) {
		perror("mlfs: pipe");
		return;
	}
	if (pthread_create(&t, NULL, notify_when_ready, (void *)(intptr_t)pfd[0])) {
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	pthread_detach(t);
	o->ready_fd = pfd[1];
}

static int cmd_mount(int argc, char **argv)
{
	struct fs_options o = { .ready_fd = -1 };
	char *opts[64];
	char store_dir[PATH_MAX], mnt[PATH_MAX];
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+fdo:h")) != -1) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'd':
			o.debug = true;
			o.foreground = true;
			break;
		case 'o':
			if (add_options(optarg, &o, opts))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* Options may also follow the operands. */
	char *operands[2];
	int nop = 0;
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-f")) {
			o.foreground = true;
		} else if (!strcmp(argv[i], "-d")) {
			o.debug = o.foreground = true;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			if (add_options(argv[++i], &o, opts))
				return 2;
		} else if (nop < 2) {
			operands[nop++] = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (nop != 2) {
		usage(stderr);
		return 2;
	}
	if (!remote.meta != !remote.blobs) {
		fprintf(stderr, "mlfs: meta= and blobs= go together\n");
		return 2;
	}
	o.opts = opts;
	char replica[PATH_MAX];
	const char *dir = operands[0];
	if (remote.meta) {
		/* The replica of STORE-NAME lives in CACHE/STORE-NAME. */
		remote.name = operands[0];
		snprintf(replica, sizeof(replica), "%s/%s", remote.cache, operands[0]);
		dir = replica;
		if (mkdir(remote.cache, 0700) && errno != EEXIST) {
			fprintf(stderr, "mlfs: %s: %s\n", remote.cache, strerror(errno));
			return 1;
		}
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "mlfs: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (!realpath(dir, store_dir) || !realpath(operands[1], mnt)) {
		fprintf(stderr, "mlfs: %s: %s\n", operands[1], strerror(errno));
		return 1;
	}
	o.store_dir = store_dir;
	o.mountpoint = mnt;
	if (o.foreground) {
		notify_start(&o);
		return serve(store_dir, &o);
	}

	int pfd[2];
	if (pipe(pfd)) {
		perror("mlfs: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("mlfs: fork");
		return 1;
	}
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		/* Errors before the mount go to the parent through stderr. */
		dup2(pfd[1], 2);
		o.ready_fd = pfd[1];
		_exit(serve(store_dir, &o));
	}
	close(pfd[1]);
	char msg[4096];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(msg) - 1 &&
	       (n = read(pfd[0], msg + got, sizeof(msg) - 1 - got)) > 0)
		got += (size_t)n;
	msg[got] = '\0';
	close(pfd[0]);
	if (got >= 3 && !strcmp(msg + got - 3, "OK\n")) {
		/* Mounted; what the daemon said before (read-only) is news. */
		msg[got - 3] = '\0';
		fputs(msg, stderr);
		return 0;
	}
	int status;
	waitpid(pid, &status, 0);
	fputs(got ? msg : "mlfs: the daemon exited before mounting\n", stderr);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if ((argc = remote_args(argc, argv)) < 2) {
		if (argc >= 0)
			usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("mlfs %s (store format %d)\n", MLFS_VERSION, MLFS_FORMAT_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(cmd, "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(cmd, "umount") || !strcmp(cmd, "unmount"))
		return umount_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "checkpoint"))
		return cmd_checkpoint(argc - 1, argv + 1);
	if (!strcmp(cmd, "forest"))
		return forest_cli_main(argc - 1, argv + 1);
	/* mount(8) -t fuse.mlfs runs mount.fuse3, which runs exactly
	 * "mlfs STORE MOUNTPOINT -o OPTIONS" (never without options): a
	 * mount.  Only that form, so a mistyped command mounts nothing. */
	if (argc == 5 && cmd[0] != '-' && !strcmp(argv[3], "-o"))
		return cmd_mount(argc, argv);
	fprintf(stderr, "mlfs: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
