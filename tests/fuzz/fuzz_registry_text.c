/* fuzz_registry_text.c - the texts a model registry takes from users on
 * any bytes: a description and tags (checked as registry_text_set checks
 * them, before any store), and an alias name.  Properties: each is
 * accepted or refused with a message; an accepted description is UTF-8
 * without NUL; accepted tags are "key=value" lines; a name that is valid
 * and not reserved is 1-128 bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "names.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tags(const char *text, size_t len)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t l = (nl ? (size_t)(nl - text) : len) - i;
		if (l > 1 || (l == 1 && text[i] != '\r'))
			if (!memchr(text + i, '=', l) || text[i] == '=')
				abort();	/* a line that is no key=value */
		i += l + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct mlfs_err err = { 0 };
	int rc = registry_text_set(NULL, "m", 0, "description", text, size, false, &err);
	if (rc ? !err.msg[0] : !csv_utf8_valid(text, size))
		abort();
	memset(&err, 0, sizeof(err));
	rc = registry_text_set(NULL, "m", 1, "tags", text, size, false, &err);
	if (rc && !err.msg[0])
		abort();
	if (!rc)
		check_tags(text, size);
	if (registry_text_set(NULL, "m", 0, "stage", text, size, false, NULL) != -ENOENT)
		abort();	/* only description and tags are texts */
	char *name = malloc(size + 1);
	if (!name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	size_t n = strlen(name);	/* up to a NUL in the input */
	if (names_valid(name) && !registry_alias_reserved(name) &&
	    (n == 0 || n > NAMES_MAX || memchr(name, '/', n)))
		abort();
	free(name);
	return 0;
}
