/* trainset_bench.c - tools/bench/trainset's profile: the training-set join
 * alone, in the engine, for callgrind and CPU seconds.  The first call
 * loads DATA/features.csv and labels.csv (tools/bench/train_data.py) into
 * a new store at DIR; each run builds the training set and prints its
 * CPU seconds and a hash of the frame (equal hashes: equal frames).
 *   trainset_bench DATA DIR [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "features.h"
#include "table.h"
#include "trainset.h"
#include "frame.h"
#include "hash.h"

static char *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
	fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
	char *b = malloc(*n + 1); fread(b, 1, *n, f); b[*n] = 0; fclose(f); return b;
}
static double cpu(void){struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec/1e9;}
#define CK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %d %s\n", #x, rc_, err.msg); exit(1);} } while (0)
int main(int argc, char **argv)
{
	struct mlfs_err err = {0};
	struct store *s;
	const char *data = argv[1], *dir = argv[2];
	int runs = argc > 3 ? atoi(argv[3]) : 1;
	struct stat st;
	bool fresh = stat(dir, &st) != 0;
	if (fresh) mkdir(dir, 0755);
	CK(store_open(dir, fresh, &s, NULL));
	if (fresh) {
		char p[512]; size_t n; char *t;
		snprintf(p, sizeof p, "%s/features.csv", data); t = slurp(p, &n);
		struct features_writer *w;
		CK(features_create(s, "customer_features", &err));
		CK(features_writer_open(s, "customer_features", true, &w, &err));
		CK(features_writer_write(w, t, n, &err)); CK(features_writer_commit(w, true, &err)); features_writer_free(w); free(t);
		snprintf(p, sizeof p, "%s/labels.csv", data); t = slurp(p, &n);
		struct table_writer *tw;
		CK(table_create(s, "customer_labels", &err));
		CK(table_writer_open(s, "customer_labels", true, &tw, &err));
		CK(table_writer_write(tw, t, n, &err)); CK(table_writer_commit(tw, true, &err)); table_writer_free(tw); free(t);
	}
	const char *const key[] = { "customer_id" };
	struct trainset_lookup lk[] = { { "customer_features", key, 1, NULL, 0, NULL } };
	for (int i = 0; i < runs; i++) {
		struct frame *fr;
		double c0 = cpu();
		CK(trainset_build(s, "customer_labels", "churn", lk, 1, NULL, 0, &fr, &err));
		double c1 = cpu();
		uint64_t h = 0;
		for (size_t c = 0; c < frame_ncols(fr); c++) {
			h = hash64(frame_col_name(fr, c), strlen(frame_col_name(fr, c)), h);
			if (frame_col_kind(fr, c) == FRAME_NUMERIC)
				h = hash64(frame_col_numbers(fr, c), frame_nrows(fr) * 8, h);
			else {
				h = hash64(frame_col_codes(fr, c), frame_nrows(fr) * 4, h);
				for (size_t k = 0; k < frame_col_ncats(fr, c); k++) { size_t l; const char *x = frame_col_category(fr, c, (int32_t)k, &l); h = hash64(x, l, h); }
			}
		}
		printf("run %d: cpu %.3f s rows %zu cols %zu hash %016llx\n", i, c1 - c0, frame_nrows(fr), frame_ncols(fr), (unsigned long long)h);
		frame_free(fr);
	}
	store_close(s);
	return 0;
}
