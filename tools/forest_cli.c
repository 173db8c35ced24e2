/* forest_cli.c - `mlfs forest ...` (being built: see engine/forest). */
#include <stdio.h>

#include "forest_cli.h"

int forest_cli_main(int argc, char **argv)
{
	fprintf(stderr, "mlfs forest: not built yet\n");
	return 2;
}
