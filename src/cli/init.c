/* `iopo init`: a new model directory with seeded GPT-2 initialisation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo init --arch gpt2 --layers L --heads H --dim C --ctx T --tokenizer FILE --out DIR\n"
            "                 [--vocab V] [--seed S]\n\n"
            "Writes a Hugging Face model directory (config.json, model.safetensors, tokenizer.json) holding a new\n"
            "model with GPT-2's initialisation: weights normal(0, 0.02), the residual projections (attn.c_proj,\n"
            "mlp.c_proj) scaled by 1/sqrt(2L), biases 0, LayerNorm weights 1. The same seed gives the same file.\n\n"
            "  --vocab V   vocabulary size (default: the tokenizer's; it may be larger, never smaller)\n"
            "  --seed S    random seed (default 0)\n");
}

int cmd_init(int argc, char **argv) {
    const char *arch = "gpt2", *tokenizer = NULL, *out = NULL, *v;
    long layers = 0, heads = 0, dim = 0, ctx = 0, vocab = 0, seed = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--arch", &arch)) {
        } else if (cli_flag_value(argc, argv, &i, "--tokenizer", &tokenizer)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out)) {
        } else if (cli_flag_value(argc, argv, &i, "--layers", &v)) {
            layers = cli_parse_long("--layers", v, 1, 1000);
        } else if (cli_flag_value(argc, argv, &i, "--heads", &v)) {
            heads = cli_parse_long("--heads", v, 1, 1000);
        } else if (cli_flag_value(argc, argv, &i, "--dim", &v)) {
            dim = cli_parse_long("--dim", v, 1, 65536);
        } else if (cli_flag_value(argc, argv, &i, "--ctx", &v)) {
            ctx = cli_parse_long("--ctx", v, 1, 1 << 20);
        } else if (cli_flag_value(argc, argv, &i, "--vocab", &v)) {
            vocab = cli_parse_long("--vocab", v, 1, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--seed", &v)) {
            seed = cli_parse_long("--seed", v, 0, 0x7fffffffL);
        } else {
            fprintf(stderr, "iopo init: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(arch, "gpt2") != 0) {
        fprintf(stderr, "iopo init: --arch '%s' is not supported (supported: gpt2)\n", arch);
        return 2;
    }
    if (!layers || !heads || !dim || !ctx || !tokenizer || !out) {
        fprintf(stderr, "iopo init: --layers, --heads, --dim, --ctx, --tokenizer and --out are required\n");
        return 2;
    }
    if (dim % heads) {
        fprintf(stderr, "iopo init: --dim %ld is not a multiple of --heads %ld\n", dim, heads);
        return 2;
    }
    if (!cli_tokenizer_exists("init", tokenizer)) return 1;
    char err[1024];
    iopo_tokenizer *tok = iopo_tokenizer_load(tokenizer, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "iopo init: %s\n", err);
        return 1;
    }
    int tok_vocab = iopo_tokenizer_vocab_size(tok);
    iopo_tokenizer_free(tok);
    if (!vocab) vocab = tok_vocab;
    if (vocab < tok_vocab) {
        fprintf(stderr, "iopo init: --vocab %ld is smaller than the tokenizer's %d ids\n", vocab, tok_vocab);
        return 2;
    }
    /* The tokenizer file is copied as is, so transformers and iopo read the same one. */
    size_t len;
    char *tok_json = iopo_read_file(tokenizer, &len, err, sizeof err);
    if (!tok_json) {
        fprintf(stderr, "iopo init: %s (--tokenizer must name a tokenizer.json file)\n", err);
        return 1;
    }
    iopo_model_config cfg = {.n_layer = (int)layers, .n_head = (int)heads, .n_embd = (int)dim, .n_ctx = (int)ctx,
                             .vocab_size = (int)vocab, .ln_eps = 1e-5f};
    snprintf(cfg.arch, sizeof cfg.arch, "gpt2");
    iopo_ctx *cpu = iopo_ctx_create(&(iopo_ctx_options){.backend = IOPO_BACKEND_CPU}, err, sizeof err);
    iopo_model *m = iopo_model_create(cpu, &cfg, (uint64_t)seed, err, sizeof err);
    bool ok = m && iopo_model_save(m, out, err, sizeof err);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    ok = ok && iopo_write_file_atomic(path, tok_json, len, err, sizeof err);
    if (ok)
        printf("wrote %s: gpt2, %d layers, %d heads, dim %d, ctx %d, vocab %d, %.2fM parameters\n", out, cfg.n_layer,
               cfg.n_head, cfg.n_embd, cfg.n_ctx, cfg.vocab_size, (double)iopo_model_numel(m) / 1e6);
    else
        fprintf(stderr, "iopo init: %s\n", err);
    free(tok_json);
    iopo_model_free(m);
    iopo_ctx_destroy(cpu);
    return ok ? 0 : 1;
}
