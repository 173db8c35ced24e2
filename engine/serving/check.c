/* check.c - endpoint_check for `mlfs check`: endpoints' texts parse, the
 * registry holds what each traffic names, and no hold of an endpoint is
 * left over.  Reads only. */
#include "serving_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define HOLDER_PREFIX "endpoint/"

/* One hold of an endpoint, as the registry lists it. */
struct hold {
	char model[129], alias[129], endpoint[129];
	uint64_t version;
	bool by_alias;
};

struct checker {
	struct store *s;
	struct mlfs_problems report;
	struct hold *holds;
	size_t nholds;
};


static int collect_hold(void *ctx, const char *model, uint64_t version,
			const char *alias, const char *holder)
{
	struct checker *c = ctx;
	size_t pl = strlen(HOLDER_PREFIX);
	if (strncmp(holder, HOLDER_PREFIX, pl))
		return 0;
	c->holds = realloc(c->holds, (c->nholds + 1) * sizeof(*c->holds));
	if (!c->holds)
		mlfs_oom();
	struct hold *h = &c->holds[c->nholds++];
	snprintf(h->model, sizeof(h->model), "%s", model);
	snprintf(h->alias, sizeof(h->alias), "%s", alias ? alias : "");
	snprintf(h->endpoint, sizeof(h->endpoint), "%s", holder + pl);
	h->version = version;
	h->by_alias = alias != NULL;
	return 0;
}

/* Whether hold H stands for route R of endpoint NAME. */
static bool hold_is(const struct hold *h, const char *name,
		    const struct traffic_route *r)
{
	char n[24];
	snprintf(n, sizeof(n), "%" PRIu64, h->version);
	return !strcmp(h->endpoint, name) && !strcmp(h->model, r->model) &&
	       !strcmp(r->ref, h->by_alias ? h->alias : n);
}

/* The traffic of endpoint NAME; false (with a problem when it does not
 * parse) when there is none. */
static bool endpoint_traffic(struct checker *c, const char *name,
			     struct traffic *t)
{
	struct endpoint_info e;
	struct buf b = { 0 };
	struct mlfs_err err = { 0 };
	bool ok = !ep_record(c->s, name, &e) && !ep_text(c->s, e.id, 't', &b);
	if (ok && traffic_parse(b.data ? b.data : "", b.len, t, &err)) {
		mlfs_problem(&c->report, "endpoint %s: its traffic does not parse: %s", name, err.msg);
		ok = false;
	}
	buf_free(&b);
	return ok;
}

static int check_endpoint(void *ctx, const char *name)
{
	struct checker *c = ctx;
	struct endpoint_info e;
	struct endpoint_config cfg;
	struct traffic t;
	struct buf b = { 0 };
	struct mlfs_err err = { 0 };
	if (!ep_record(c->s, name, &e) && !ep_text(c->s, e.id, 'c', &b) &&
	    endpoint_config_parse(b.data ? b.data : "", b.len, &cfg, &err))
		mlfs_problem(&c->report, "endpoint %s: its config.yaml does not parse: %s", name, err.msg);
	buf_free(&b);
	if (!endpoint_traffic(c, name, &t))
		return 0;
	for (size_t i = 0; i < t.nroutes; i++) {
		bool held = false;
		for (size_t k = 0; k < c->nholds; k++)
			held |= hold_is(&c->holds[k], name, &t.routes[i]);
		if (!held)
			mlfs_problem(&c->report, "endpoint %s serves %s@%s without holding it in the registry",
				name, t.routes[i].model, t.routes[i].ref);
	}
	return 0;
}

int endpoint_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		   void *ctx)
{
	struct checker c = { .s = s, .report = { fn, ctx, 0 } };
	int rc = registry_hold_list(s, collect_hold, &c);
	if (!rc)
		rc = endpoint_list(s, check_endpoint, &c);
	for (size_t k = 0; !rc && k < c.nholds; k++) {
		const struct hold *h = &c.holds[k];
		struct traffic t;
		bool named = false;
		if (endpoint_traffic(&c, h->endpoint, &t))
			for (size_t i = 0; i < t.nroutes; i++)
				named |= hold_is(h, h->endpoint, &t.routes[i]);
		if (!named && h->by_alias)
			mlfs_problem(&c.report, "endpoint/%s holds %s@%s but does not serve it (a crash between a traffic change and its holds; it only keeps the alias from removal)",
				h->endpoint, h->model, h->alias);
		else if (!named)
			mlfs_problem(&c.report, "endpoint/%s holds %s@%" PRIu64 " but does not serve it (a crash between a traffic change and its holds; it only keeps the version from deletion)",
				h->endpoint, h->model, h->version);
	}
	free(c.holds);
	return rc < 0 ? rc : c.report.count;
}
