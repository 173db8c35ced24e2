/* hash.h - the one 64-bit hash of the engine, for hash tables, sketches
 * and sticky routing: fast on short keys, well mixed, seeded.  Not for
 * anything stored: its values may change between versions. */
#ifndef MLFS_HASH_H
#define MLFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash P[0..N) with SEED. */
uint64_t hash64(const void *p, size_t n, uint64_t seed);
/* Mix the bits of X (murmur3's finaliser): for keys that are numbers
 * already.  0 stays 0. */
uint64_t hash_mix64(uint64_t x);

#endif
