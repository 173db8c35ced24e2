/* forest_cli.h - `mlfs forest ...`: train, predict, eval and inspect random
 * forests from CSV files without a mount. */
#ifndef MLFS_FOREST_CLI_H
#define MLFS_FOREST_CLI_H

/* ARGV[0] is "forest".  Returns the process exit status (2 on bad input). */
int forest_cli_main(int argc, char **argv);

#endif
