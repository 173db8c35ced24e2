/* names.h - the tree's one rule for names users create (tables, runs,
 * keys, aliases ...): 1-128 bytes of [A-Za-z0-9._-], not starting with
 * '.', and the one message that says so. */
#ifndef MLFS_NAMES_H
#define MLFS_NAMES_H

#include <stdbool.h>

#define NAMES_MAX 128
/* What to tell a user whose name breaks the rule. */
#define NAMES_RULE "use 1-128 of [A-Za-z0-9._-], not starting with '.'"

bool names_valid(const char *name);

#endif
