/* cluster.h - the hosts that mount one platform (issue 19, items 1 and 6):
 * each mount's session (a lease kept alive by a thread, and a record
 * attached to it), the election of one host per role (the "scheduler":
 * the host that runs scheduled jobs and monitor refreshes), fenced
 * commits that a deposed leader cannot make, and claims that let a job
 * occurrence start once across hosts.  All of it over kv.h, so the same
 * code runs on the embedded store (one host, which always leads) and on
 * etcd.  docs/scale-out.md says what happens when a host dies;
 * docs/store-format.md ("Cluster") has the keys. */
#ifndef MLFS_CLUSTER_H
#define MLFS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "kv.h"

struct store;

#define CLUSTER_TTL_S 10	/* a session's lease, by default */
#define CLUSTER_ROLES 8		/* roles one store's cluster tracks */
#define CLUSTER_NAME_MAX 128	/* session and role names */

/* The scheduler role: schedule.c in engine/jobs and engine/monitor run
 * scheduled work only on its leader. */
#define CLUSTER_SCHEDULER "scheduler"

struct cluster_conf {
	const char *prefix;	/* of every key in KV, e.g. "STORE/" (NULL: "") */
	const char *host;	/* this host's name (NULL: gethostname) */
	const char *mountpoint;	/* shown in the session's record (NULL: "") */
	int ttl_s;		/* the session lease's TTL (0: CLUSTER_TTL_S) */
};

/* Join the cluster of store S through KV: grant this mount's session
 * lease, register the session "HOST.PID" (names_session; S's writes are
 * named by it from then on: store_set_writer_name), start its keepalive thread
 * (every TTL/3) and its watch of the election keys.
 *
 * The contract for the mount (tools/mlfs.c):
 * - the remote mount calls it once, right after opening S and before the
 *   schedulers start (fs_session), with its etcd kv and the prefix of the
 *   store's keys in etcd;
 * - KV NULL: the embedded kv over S itself (kv_open(S, NULL)); then any
 *   session or election key found is a dead process's (one process owns
 *   an embedded store) and is removed first, so this host leads at once.
 *   A store nobody attached is attached so on its first cluster_leads or
 *   cluster_claim: the single-host case needs no call.
 * - KV must stay open until cluster_detach(S) or store_close(S), which
 *   ends the session (the lease is revoked, so another host takes over
 *   the roles at once instead of after the TTL).
 * -EBUSY when S is attached already (the embedded default included);
 * -EEXIST when a live session has this name; the kv's errors. */
int cluster_attach(struct store *s, struct kv *kv,
		   const struct cluster_conf *conf, struct mlfs_err *err);
/* End S's session now (resign every role, revoke the lease); S then
 * stays detached: cluster_leads is false.  No-op when not attached. */
void cluster_detach(struct store *s);

/* Whether this mount leads ROLE now, and then its fencing token in
 * *FENCE (may be NULL): the mod revision of the role's election key.
 * The first call for a ROLE starts campaigning for it (one kv commit);
 * later calls read the state the election watch keeps (no network).
 * False while the session's lease may have expired (no keepalive for
 * 3/4 of the TTL), even before the watch says so. */
bool cluster_leads(struct store *s, const char *role, kv_rev *fence);
/* Stop campaigning for ROLE, for the rest of the session, and give it up
 * if held (another host's campaign then takes it at once); cluster_leads
 * is false for it from then on. */
void cluster_resign(struct store *s, const char *role);

/* kv_commit plus one compare: ROLE's election key still has mod revision
 * FENCE, i.e. the caller still leads with the token it was given.
 * -ECANCELED (nothing applied) when any compare fails; the message says
 * whether the fence did; -ENOTCONN when S has no session. */
int cluster_fenced_commit(struct store *s, const char *role, kv_rev fence,
			  const struct kv_cmp *cmps, size_t ncmp,
			  const struct kv_op *ops, size_t nops,
			  kv_rev *committed, struct mlfs_err *err);

/* Claim occurrence SEQ of the work named WHAT (e.g. "job/7/schedule" and
 * the scheduled time in seconds) for ROLE's leader holding FENCE: a fenced
 * commit that records SEQ as WHAT's last claimed occurrence, only if no
 * occurrence >= SEQ was claimed (so a new leader skips what the old one
 * claimed).  0: claimed, run it; -EALREADY: claimed before (by anyone),
 * do not run it; -ECANCELED: FENCE is no longer the leader's. */
int cluster_claim(struct store *s, const char *role, kv_rev fence,
		  const char *what, uint64_t seq, struct mlfs_err *err);

/* The live sessions as CSV into OUT (reset first), in name order:
 * "session,host,pid,start,mountpoint,leads" and a line per session (start
 * ISO 8601 UTC; leads the roles it holds, space separated).  What
 * /sessions shows. */
int cluster_sessions_csv(struct store *s, struct buf *out,
			 struct mlfs_err *err);

/* How many live sessions other than this mount's there are (0 when not
 * attached), or a negative errno (the kv's).  A session of this host whose
 * process is gone (killed -9, its lease not yet expired) does not count. */
int cluster_others(struct store *s, struct mlfs_err *err);

/* FN(CTX, NAME) for each live session's name ("HOST.PID", this mount's
 * included), stopping on FN's non-zero; sessions of this host whose
 * process is gone are not live.  0 (and no call) when not attached. */
int cluster_live(struct store *s, int (*fn)(void *ctx, const char *name), void *ctx,
		 struct mlfs_err *err);
/* The TTL of S's session lease, in seconds (CLUSTER_TTL_S when not
 * attached): a host cut off from the kv may still write for about that
 * long after its session's key is gone. */
int cluster_ttl(struct store *s);

/* Test hook: PAUSE stops the keepalive thread's keepalives (and makes the
 * session act as a host that hung: its lease expires); false resumes
 * (a session whose lease expired meanwhile joins again: new lease,
 * record and campaigns). */
void cluster_test_pause(struct store *s, bool pause);

#endif
