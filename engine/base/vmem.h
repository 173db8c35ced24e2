/* vmem.h - big arrays in pages of their own: room reserved at once in
 * address space (only the pages used are ever touched, so a generous
 * reservation costs nothing), grown by moving pages (mremap) instead of
 * copying bytes, handed back to the kernel at once when freed.  For the
 * arrays that grow to many MB while a request runs (a refresh's group
 * states, a training set's cells), where realloc's copies and the page
 * faults of touching memory twice showed in profiles. */
#ifndef MLFS_VMEM_H
#define MLFS_VMEM_H

#include <stdbool.h>
#include <stddef.h>

/* P (of OLD bytes, NULL when OLD is 0) grown to BYTES, zero-filled past
 * OLD; HUGE asks for huge pages (a hint).  NULL when refused (P stays). */
void *vmem_grow(void *p, size_t old, size_t bytes, bool huge);
/* Fault in the whole pages within [P, P + BYTES) (of such an array, or
 * of any memory malloc gave) in one call, before they are written: a page
 * fault apiece costs far more, in a virtual machine most of all.  A hint:
 * nothing when refused; the bytes stay as they are. */
void vmem_populate(void *p, size_t bytes);
void vmem_free(void *p, size_t bytes);

#endif
