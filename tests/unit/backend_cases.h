/* backend_cases.h - runs the cmocka tests of a scale-out unit program that
 * apply to the backend it runs against (the embedded store, or etcd / S3
 * when tools/scaleout sets MLFS_ETCD / MLFS_S3).  A test written for the
 * other backend is left out of the run, never run as a skip that the unit
 * suite would count as passed; the line printed first says how many ran
 * and where the rest run.  Include after cmocka.h. */
#ifndef MLFS_BACKEND_CASES_H
#define MLFS_BACKEND_CASES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

enum backend_only { ON_BOTH, ON_EMBEDDED, ON_REMOTE };

struct backend_case {
	struct CMUnitTest test;
	enum backend_only only;
};

#define BOTH(t) { t, ON_BOTH }
#define EMBEDDED_ONLY(t) { t, ON_EMBEDDED }
#define REMOTE_ONLY(t) { t, ON_REMOTE }

/* Runs those of the N CASES that apply when REMOTE is (or is not) the
 * backend under test; the group's name is NAME. */
static inline int backend_cases_run(const char *name, const struct backend_case *cases,
				    size_t n, bool remote)
{
	struct CMUnitTest *run = calloc(n ? n : 1, sizeof(*run));
	size_t k = 0;
	if (!run)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (cases[i].only == ON_BOTH || (cases[i].only == ON_REMOTE) == remote)
			run[k++] = cases[i].test;
	fprintf(stderr, "%s: %zu of %zu tests apply to the %s backend; the other %zu run %s\n",
		name, k, n, remote ? "remote" : "embedded", n - k,
		remote ? "in the plain unit suite" : "in the scale-out tier (tools/scaleout)");
	int rc = _cmocka_run_group_tests(name, run, k, NULL, NULL);
	free(run);
	return rc;
}

#define BACKEND_CASES_RUN(name, cases, remote) \
	backend_cases_run(name, cases, sizeof(cases) / sizeof((cases)[0]), remote)

#endif
