/* root.c - the top of the tree: /README, /log, /sessions and the
 * namespaces. */
#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "fs_int.h"

static const char readme_text[] =
	"mlfs - an MLOps platform as files\n"
	"\n"
	"/log               recent messages, newest last: TIME PATH: message\n"
	"/sessions          the mounts of this platform (CSV), and the roles each leads\n"
	"/tables/NAME/      raw data tables (mkdir to create, rmdir to drop)\n"
	"    data.csv       the rows as CSV: > replaces, >> appends\n"
	"    schema         'column type' lines (int float string bool date timestamp)\n"
	"    stats.csv      per column: count nulls distinct min max mean std\n"
	"/experiments/NAME/ experiment runs: mkdir runs/RUN, then write\n"
	"    runs/RUN/      params/KEY metrics/KEY tags/KEY artifacts/ status wait parent\n"
	"    runs.csv       one line a run: params and latest metrics side by side\n"
	"    runs/RUN/train.yaml, tune.yaml   write a spec to train or tune here\n"
	"/features/NAME/    feature tables (mkdir to create, rmdir to drop)\n"
	"    keys           primary key columns, one a line; timestamp_key: versions\n"
	"    data.csv       latest row per key: > replaces, >> upserts by key\n"
	"    pipeline.yaml  how to compute it from /tables; refresh: write 1 to run\n"
	"    rows/KEY       online lookup of one key (rows/KEY@DATE: as of a date)\n"
	"/models/NAME/      the model registry (mkdir to create)\n"
	"    register       echo experiments/E/runs/R > register; cat register\n"
	"    versions/N/    model/ metrics.csv features.yaml stage aliases run ...\n"
	"    Production     an alias: ln -sfn versions/N Production (any name)\n"
	"    history.csv    every alias change: time,alias,from,to,uid,by\n"
	"    versions/N/score  batch scoring: cp rows.csv score; cat score\n"
	"/endpoints/NAME/   serving (mkdir to create)\n"
	"    traffic        'MODEL@REF PERCENT' lines summing to 100; 'MODEL@REF shadow'\n"
	"    predict        write a request (CSV or MLflow JSON), read the predictions\n"
	"    log.csv stats.csv state config.yaml   inference log, per-version stats\n"
	"/monitors/NAME/    drift monitors (mkdir to create)\n"
	"    monitor.yaml   source, baseline, granularity, slice_by, thresholds\n"
	"    refresh        write 1 to recompute now (also once per granularity)\n"
	"    drift.csv profile.csv performance.csv alerts   per window and slice\n"
	"/jobs/NAME/        task graphs: refresh, train, validate, promote, score\n"
	"    job.yaml       tasks, schedule (cron), trigger (a monitor's alerts)\n"
	"    run            write to start a run; runs/ID/status wait log tasks.csv\n"
	"    next history.csv   the next scheduled start, every run\n"
	"\n"
	"Errors: a rejected write fails with an errno and says why in /log.\n"
	"Reference: docs/reference.md and mlfs(1).\n";

static int readme_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	buf_reset(out);
	return buf_append(out, readme_text, sizeof(readme_text) - 1);
}

static int log_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	fs_log_text(fs, out);
	return 0;
}

/* Every live mount of the platform (one on the embedded store; every
 * host's on etcd), and the roles each one leads (cluster.h). */
static int sessions_get(struct fs *fs, const struct node *n, struct buf *out,
			struct mlfs_err *err)
{
	return cluster_sessions_csv(fs->store, out, err);
}

static const struct node_ops readme_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = readme_get,
};

static const struct node_ops log_ops = {
	.kind = NK_VIEW, .perm = 0444, .per_reader = true, .get = log_get,
};

/* per_reader: other hosts change it without a store write here, so the
 * kernel must not keep its size. */
static const struct node_ops sessions_ops = {
	.kind = NK_VIEW, .perm = 0444, .per_reader = true, .get = sessions_get,
};

static const struct fs_entry entries[] = {
	{ "README", &readme_ops },
	{ "endpoints", &ns_endpoints_dir },
	{ "experiments", &ns_experiments_dir },
	{ "features", &ns_features_dir },
	{ "jobs", &ns_jobs_dir },
	{ "log", &log_ops },
	{ "models", &ns_models_dir },
	{ "monitors", &ns_monitors_dir },
	{ "sessions", &sessions_ops },
	{ "tables", &ns_tables_dir },
	{ NULL, NULL },
};

/* /.stats, with -o stats only: the requests served so far by kind. */
static int stats_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	fs_stats_text(fs, out);
	return 0;
}

static const struct node_ops stats_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = stats_get,
};

static int root_lookup(struct fs *fs, const struct node *dir, const char *name,
		       struct node *out)
{
	if (fs->stats && !strcmp(name, ".stats")) {
		node_child(out, dir, name, &stats_ops);
		return 0;
	}
	return fs_dir_lookup(fs, dir, name, out);
}

static int root_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		     void *ctx)
{
	int rc = fs->stats ? add(ctx, ".stats", false) : 0;
	return rc ? rc : fs_dir_list(fs, dir, add, ctx);
}

const struct node_ops ns_root_dir = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = root_lookup, .list = root_list, .children = entries,
};
