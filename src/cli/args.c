#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

bool cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "iopo: %s needs a value\n", name);
        exit(2);
    }
    *value = argv[++*i];
    return true;
}

bool cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

long cli_parse_long(const char *flag, const char *value, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || *end || end == value || v < min || v > max) {
        fprintf(stderr, "iopo: %s '%s': expected an integer in [%ld, %ld]\n", flag, value, min, max);
        exit(2);
    }
    return v;
}

double cli_parse_double(const char *flag, const char *value, double min, double max) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || *end || end == value || !(v >= min && v <= max)) {
        fprintf(stderr, "iopo: %s '%s': expected a number in [%g, %g]\n", flag, value, min, max);
        exit(2);
    }
    return v;
}

bool cli_gen_option(int argc, char **argv, int *i, iopo_gen_options *o) {
    const char *v;
    if (cli_flag_value(argc, argv, i, "--max-tokens", &v)) {
        o->max_tokens = (int)cli_parse_long("--max-tokens", v, 1, 1 << 20);
    } else if (cli_flag_value(argc, argv, i, "--top-k", &v)) {
        o->top_k = (int)cli_parse_long("--top-k", v, 0, 1 << 24);
    } else if (cli_flag_value(argc, argv, i, "--top-p", &v)) {
        o->top_p = cli_parse_double("--top-p", v, 1e-9, 1);
    } else if (cli_flag_value(argc, argv, i, "--batch-size", &v)) {
        o->batch = (int)cli_parse_long("--batch-size", v, 1, 4096);
    } else if (cli_flag_value(argc, argv, i, "--seed", &v)) {
        o->seed = (uint64_t)cli_parse_long("--seed", v, 0, 0x7fffffffL);
    } else if (cli_flag_value(argc, argv, i, "--temperature", &v)) {
        o->temperature = cli_parse_double("--temperature", v, 0, 100);
    } else if (!strcmp(argv[*i], "--no-cache")) {
        o->cache = false;
    } else {
        return false;
    }
    return true;
}

const char cli_gen_options_help[] =
    "--temperature 0 (the default) is greedy; above 0, tokens are sampled from softmax(logits / T), restricted\n"
    "to the K most likely (--top-k) and to the smallest set of probability >= P (--top-p), with --seed.\n"
    "--max-tokens N tokens at most per response; --batch-size B prompts (default 8) decode together over one KV\n"
    "cache, each at its own length; --no-cache recomputes the whole sequence at every token (slower; the same\n"
    "tokens).\n";

bool cli_tokenizer_exists(const char *cmd, const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0) return true;
    fprintf(stderr, "iopo %s: --tokenizer %s: %s\n", cmd, path, strerror(errno));
    return false;
}

iopo_ctx *cli_open_device(const char *device, bool profile) {
    iopo_ctx_options opts;
    char err[512];
    if (!iopo_ctx_options_parse(&opts, device, err, sizeof err)) {
        fprintf(stderr, "iopo: %s\n", err);
        exit(2);
    }
    opts.profile = profile;
    iopo_ctx *ctx = iopo_ctx_create(&opts, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "iopo: %s\n", err);
        exit(1);
    }
    return ctx;
}
