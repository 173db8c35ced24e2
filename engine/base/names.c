/* names.c - the name rule of names.h, and the name of this process as
 * a writer of a shared store. */
#include "names.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool names_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAMES_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void names_host(char *out, size_t size)
{
	char h[NAMES_MAX + 1] = "";
	if (gethostname(h, sizeof(h) - 1) || !h[0])
		strcpy(h, "localhost");
	size_t j = 0;
	for (size_t i = 0; h[i] && j + 1 < size; i++) {
		char c = h[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		out[j] = ok && (j || c != '.') ? c : '_';
		j++;
	}
	out[j] = '\0';
}

void names_session(const char *host, char *out, size_t size)
{
	char h[NAMES_MAX + 1];
	if (!host)
		names_host(h, sizeof(h));
	snprintf(out, size, "%s.%ld", host ? host : h, (long)getpid());
}
