/* names.h - the tree's one rule for names users create (tables, runs,
 * keys, aliases ...): 1-128 bytes of [A-Za-z0-9._-], not starting with
 * '.', and the one message that says so; the name of this process as a
 * writer of a shared store. */
#ifndef MLFS_NAMES_H
#define MLFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_MAX 128
/* What to tell a user whose name breaks the rule. */
#define NAMES_RULE "use 1-128 of [A-Za-z0-9._-], not starting with '.'"

bool names_valid(const char *name);

/* This machine's name (gethostname) made to follow the rule: any other
 * byte becomes '_' ("localhost" when it has none). */
void names_host(char *out, size_t size);
/* The one name of this process as a writer of a shared store: "HOST.PID"
 * (HOST NULL: names_host).  The cluster session (cluster.c, key h/s/NAME)
 * and the remote store's batch objects (NAME/batches/NAME-ID) and staged
 * records are named by it, so "its session is gone" says that its writes
 * are gone too (docs/store-format.md, "Owners"). */
void names_session(const char *host, char *out, size_t size);

#endif
