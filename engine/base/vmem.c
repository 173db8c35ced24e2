/* vmem.c - big arrays in pages of their own (see vmem.h). */
#include "vmem.h"

#include <stdint.h>
#include <sys/mman.h>

void *vmem_grow(void *p, size_t old, size_t bytes, bool huge)
{
	void *q = old ? mremap(p, old, bytes, MREMAP_MAYMOVE) :
		  mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (q == MAP_FAILED)
		return NULL;
	if (huge)
		madvise(q, bytes, MADV_HUGEPAGE);	/* a hint: fine if refused */
	return q;
}

void vmem_populate(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = 4096, a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t b = ((uintptr_t)p + bytes) & ~(page - 1);
	if (p && b > a)
		madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)bytes;
#endif
}

void vmem_free(void *p, size_t bytes)
{
	if (p && bytes)
		munmap(p, bytes);
}
