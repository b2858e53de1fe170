/* Subcommands of the iopo binary and the small helpers they share for flags. */
#ifndef IOPO_CLI_H
#define IOPO_CLI_H

#include <stdbool.h>

#include "iopo/context.h"
#include "iopo/generate.h"

int cmd_devices(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_data(int argc, char **argv);

/* If argv[*i] is `name` (taking the next argument as its value) or `name=value`, stores the value, advances *i past
 * it and returns true. A missing value prints an error and exits with status 2. */
bool cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value);
bool cli_is_help(const char *arg);
/* Parses a non-negative integer flag value or exits with status 2 naming the flag. */
long cli_parse_long(const char *flag, const char *value, long min, long max);
/* Parses a finite number flag value in [min, max] or exits with status 2 naming the flag. */
double cli_parse_double(const char *flag, const char *value, double min, double max);
/* false after printing "iopo CMD: --tokenizer PATH: reason" when PATH does not exist. */
bool cli_tokenizer_exists(const char *cmd, const char *path);
/* The generation flags `generate` and `eval` share (--max-tokens, --temperature, --top-k, --top-p, --seed,
 * --batch-size, --no-cache): if argv[*i] is one, stores it in *o, advances *i and returns true. */
bool cli_gen_option(int argc, char **argv, int *i, iopo_gen_options *o);
/* Their --help lines. */
extern const char cli_gen_options_help[];
/* Creates the context for --device (NULL = IOPO_DEVICE or the default) or exits with status 1 and the reason. */
iopo_ctx *cli_open_device(const char *device, bool profile);

#endif
