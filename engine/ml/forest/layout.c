/* layout.c - the trees laid out again for batch prediction.
 *
 * forest_layout_build() copies every tree's nodes into one block in an
 * order made for many rows walking a tree together: the top levels
 * breadth-first, so the nodes every row visits first are packed into a few
 * kilobytes that stay in L1, then each remaining subtree depth-first (a
 * pair of children, the left subtree, the right), so a deep path moves
 * forward through memory.  Numeric splits keep missing values out of the
 * branch: the bin a row is compared with includes the missing direction
 * (layout_next()).  The block asks for huge pages, for the walks jump all
 * over a tree.
 *
 * It is not the model: the trees in struct forest stay as trained and are
 * what is saved, evaluated out of bag and tested.  The layout is built at
 * fit and load time, read-only afterwards, and reaches the same leaves. */
#include "forest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

void forest_layout_free(struct layout *l)
{
	if (!l)
		return;
	free(l->block);
	free(l);
}

/* NEWIDX[i] = position of tree T's node i in the layout; Q is scratch of
 * nnodes entries.  Children pairs stay adjacent and after their parent. */
static void order_nodes(const struct tree *t, uint32_t *newidx, uint32_t *q)
{
	uint32_t pos = 0, head = 0, tail = 0;

	newidx[0] = pos++;
	q[tail++] = 0;
	/* Breadth-first until the top is full... */
	while (head < tail && pos < LAYOUT_TOP_NODES) {
		uint32_t u = q[head++];
		if (t->nodes[u].flags & NODE_LEAF)
			continue;
		uint32_t c = node_left(t, &t->nodes[u]);
		newidx[c] = pos++;
		newidx[c + 1] = pos++;
		q[tail++] = c;
		q[tail++] = c + 1;
	}
	/* ...then the subtree under each node still waiting, depth-first.
	 * The stack reuses the queue's free end: it never holds more than
	 * the nodes not yet placed. */
	uint32_t nq = tail - head;
	memmove(q, q + head, nq * sizeof(*q));
	for (uint32_t w = 0; w < nq; w++) {
		uint32_t sp = nq;
		q[sp++] = q[w];
		while (sp > nq) {
			uint32_t u = q[--sp];
			if (t->nodes[u].flags & NODE_LEAF)
				continue;
			uint32_t c = node_left(t, &t->nodes[u]);
			newidx[c] = pos++;
			newidx[c + 1] = pos++;
			q[sp++] = c + 1;
			q[sp++] = c;
		}
	}
}

/* Copy tree T into NODES and CATS in the order NEWIDX gives. */
static void copy_tree(const struct tree *t, const uint32_t *newidx,
		      struct fnode *nodes, uint32_t *cats)
{
	memcpy(cats, t->cats, t->ncats * sizeof(*cats));
	for (uint32_t i = 0; i < t->nnodes; i++) {
		struct fnode n = t->nodes[i];
		if (n.flags & NODE_LEAF) {
			n.feat = 0;		/* read, never used */
			n.bin = MISSING_BIN;
		} else if (n.flags & NODE_CAT) {
			cats[n.a] = newidx[t->cats[n.a]];
		} else {
			/* layout_next()'s bin: + 1 when missing goes left.  A
			 * bin of 255 (no model has one, a file might) sends
			 * every value left: 255 and 254 keep that. */
			n.a = newidx[n.a];
			if (n.flags & NODE_MISS_LEFT)
				n.bin = n.bin == MISSING_BIN ? MISSING_BIN : n.bin + 1;
			else if (n.bin == MISSING_BIN)
				n.bin = MISSING_BIN - 1;
		}
		nodes[newidx[i]] = n;
	}
}

int forest_layout_build(struct forest *m)
{
	size_t nnodes = 0, ncats = 0, most = 1;
	struct layout *l = calloc(1, sizeof(*l));
	uint32_t *newidx = NULL, *q = NULL;
	int rc = -ENOMEM;

	if (!l)
		return -ENOMEM;
	for (uint32_t t = 0; t < m->ntrees; t++) {
		nnodes += m->trees[t].nnodes;
		ncats += m->trees[t].ncats;
		if (m->trees[t].nnodes > most)
			most = m->trees[t].nnodes;
	}
	l->ntrees = m->ntrees;
	size_t head = m->ntrees * sizeof(struct layout_tree);
	head = (head + 63) / 64 * 64;
	l->bytes = head + nnodes * sizeof(struct fnode) + ncats * sizeof(uint32_t);
	/* Huge pages only for a block of one or more: a small model would
	 * hold a whole 2 MB page. */
	bool huge = l->bytes >= HUGE_PAGE;
	size_t align = huge ? HUGE_PAGE : 64;
	size_t alloc = (l->bytes + align - 1) / align * align;
	newidx = malloc(most * sizeof(*newidx));
	q = malloc((most + 1) * sizeof(*q));
	if (!newidx || !q || posix_memalign(&l->block, align, alloc))
		goto out;
#ifdef MADV_HUGEPAGE
	if (huge)
		madvise(l->block, alloc, MADV_HUGEPAGE);	/* a hint: may fail */
#endif
	l->trees = l->block;
	struct fnode *nodes = (struct fnode *)((char *)l->block + head);
	uint32_t *cats = (uint32_t *)(nodes + nnodes);
	for (uint32_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		order_nodes(tr, newidx, q);
		copy_tree(tr, newidx, nodes, cats);
		l->trees[t].nodes = nodes;
		l->trees[t].cats = cats;
		nodes += tr->nnodes;
		cats += tr->ncats;
	}
	m->layout = l;
	l = NULL;
	rc = 0;
out:
	free(newidx);
	free(q);
	forest_layout_free(l);
	return rc;
}
