/* columns.h - a table's columns (names and types) as tables and feature
 * tables both keep them: the array of [name, type] pairs in their meta
 * records, the CSV header line of data.csv, lookup by name.  The caller
 * owns the arrays (NAMES: N malloc'd strings). */
#ifndef MLFS_COLUMNS_H
#define MLFS_COLUMNS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "types.h"

/* Append the msgpack array of N [name, type] pairs to B. */
void columns_encode(struct buf *b, uint32_t n, char *const *names,
		    const enum col_type *types);
/* Decode the array COLS into *N, *NAMES, *TYPES (free with
 * columns_free).  An unknown type reads as string.  -EIO when damaged,
 * -ENOMEM; nothing to free then. */
int columns_decode(struct dval cols, uint32_t *n, char ***names,
		   enum col_type **types);
/* Copies of N NAMES into *OUT_NAMES and, when OUT_TYPES is not NULL, of
 * TYPES into *OUT_TYPES (all COL_NULL when TYPES is NULL); free with
 * columns_free.  -ENOMEM; nothing to free then. */
int columns_copy(uint32_t n, char *const *names, const enum col_type *types,
		 char ***out_names, enum col_type **out_types);
/* Free NAMES' N strings, NAMES and TYPES.  NULLs are fine. */
void columns_free(uint32_t n, char **names, enum col_type *types);
/* The index of the column named P[0..LEN), or -1. */
int columns_index(uint32_t n, char *const *names, const char *p, size_t len);
/* OUT = the CSV header line of the columns ("" when N is 0). */
void columns_header(struct buf *out, uint32_t n, char *const *names);
/* The start of a read of *LEN bytes at *OFF from a data.csv of SIZE
 * bytes that begins with HEADER: *LEN is cut to what the file holds past
 * *OFF, the part of HEADER the read covers is copied to DST and *OFF
 * moves past it.  Returns the bytes copied. */
size_t columns_read_header(const struct buf *header, uint64_t size,
			   char *dst, size_t *len, uint64_t *off);

#endif
