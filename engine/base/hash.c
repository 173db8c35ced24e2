/* hash.c - hash64 (see hash.h): eight bytes a step through a multiply and
 * rotate, the tail read whole, then the murmur3 finaliser (hash_mix64) so
 * that keys differing in one bit land far apart. */
#include "hash.h"

#include <string.h>

uint64_t hash64(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull), w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h ^= w * 0xbf58476d1ce4e5b9ull;
		h = ((h << 31) | (h >> 33)) * 0x94d049bb133111ebull;
	}
	w = 0;
	memcpy(&w, p, n);
	h ^= w * 0xbf58476d1ce4e5b9ull;
	return hash_mix64(h);
}

uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}
