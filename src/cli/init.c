/* `iopo init`: a new model directory of any family, seeded, initialised as its transformers class does it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo init --arch NAME --layers L --heads H --dim C --ctx T --out DIR\n"
            "                 [--kv-heads K] [--head-dim D] [--ffn F] [--tied 0|1] [--vocab V] [--tokenizer FILE]\n"
            "                 [--rope-theta X] [--norm-eps E] [--bos-id N] [--eos-id N] [--seed S]\n"
            "                 [--save-dtype float32|bfloat16]\n\n"
            "Writes a Hugging Face model directory (config.json, model.safetensors and, with --tokenizer, its\n"
            "tokenizer.json) holding a new model initialised as the family's transformers class does it:\n"
            "  gpt2   GPT2LMHeadModel: weights normal(0, 0.02), residual projections (attn.c_proj, mlp.c_proj)\n"
            "         scaled by 1/sqrt(2L), biases 0, LayerNorm weights 1; head tied; MLP 4C wide.\n"
            "  llama  LlamaForCausalLM (Llama 2/3/3.x): RMSNorm, RoPE, SwiGLU, grouped-query attention.\n"
            "  qwen2  Qwen2ForCausalLM (Qwen2, Qwen2.5): as llama, with q/k/v biases.\n"
            "  qwen3  Qwen3ForCausalLM: as llama, with per-head RMSNorm on q and k; head_dim of its own.\n"
            "  (llama, qwen2, qwen3: Linear and Embedding weights normal(0, 0.02), biases 0, norms 1.)\n"
            "The same seed gives the same file.\n\n"
            "  --arch NAME     gpt2, llama, qwen2 or qwen3 (default gpt2)\n"
            "  --kv-heads K    key/value heads, a divisor of --heads (default: --heads; gpt2: must equal it)\n"
            "  --head-dim D    per-head width (default C / H; qwen3 may differ; gpt2: must be C / H)\n"
            "  --ffn F         MLP width (intermediate_size; default 4C, gpt2: must be 4C)\n"
            "  --tied 0|1      tie the LM head to the token embedding (default: 1 for gpt2, 0 otherwise; gpt2: 1)\n"
            "  --vocab V       vocabulary size (default: the tokenizer's; it may be larger, never smaller)\n"
            "  --tokenizer F   a tokenizer.json, copied into DIR (needed unless --vocab is given)\n"
            "  --rope-theta X  RoPE base (default: llama 500000, qwen2 and qwen3 1000000)\n"
            "  --norm-eps E    norm epsilon (default: gpt2 and llama 1e-5, qwen2 and qwen3 1e-6)\n"
            "  --bos-id N, --eos-id N  bos_token_id / eos_token_id written to config.json\n"
            "  --seed S        random seed (default 0)\n"
            "  --save-dtype T  float32 (default) or bfloat16: the weights as torch rounds them to bf16\n");
}

int cmd_init(int argc, char **argv) {
    const char *arch = "gpt2", *tokenizer = NULL, *out = NULL, *v;
    long layers = 0, heads = 0, kv_heads = 0, dim = 0, head_dim = 0, ffn = 0, ctx = 0, vocab = 0, seed = 0;
    const char *save_dtype = "float32";
    long tied = -1, bos = -1, eos = -1;
    double theta = 0, eps = 0;
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
        } else if (cli_flag_value(argc, argv, &i, "--kv-heads", &v)) {
            kv_heads = cli_parse_long("--kv-heads", v, 1, 1000);
        } else if (cli_flag_value(argc, argv, &i, "--dim", &v)) {
            dim = cli_parse_long("--dim", v, 1, 65536);
        } else if (cli_flag_value(argc, argv, &i, "--head-dim", &v)) {
            head_dim = cli_parse_long("--head-dim", v, 1, 4096);
        } else if (cli_flag_value(argc, argv, &i, "--ffn", &v)) {
            ffn = cli_parse_long("--ffn", v, 1, 1 << 20);
        } else if (cli_flag_value(argc, argv, &i, "--ctx", &v)) {
            ctx = cli_parse_long("--ctx", v, 1, 1 << 20);
        } else if (cli_flag_value(argc, argv, &i, "--vocab", &v)) {
            vocab = cli_parse_long("--vocab", v, 1, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--tied", &v)) {
            tied = cli_parse_long("--tied", v, 0, 1);
        } else if (cli_flag_value(argc, argv, &i, "--bos-id", &v)) {
            bos = cli_parse_long("--bos-id", v, 0, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--eos-id", &v)) {
            eos = cli_parse_long("--eos-id", v, 0, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--rope-theta", &v)) {
            theta = cli_parse_double("--rope-theta", v, 1, 1e12);
        } else if (cli_flag_value(argc, argv, &i, "--norm-eps", &v)) {
            eps = cli_parse_double("--norm-eps", v, 1e-12, 1);
        } else if (cli_flag_value(argc, argv, &i, "--save-dtype", &save_dtype)) {
            if (strcmp(save_dtype, "float32") && strcmp(save_dtype, "bfloat16")) {
                fprintf(stderr, "iopo init: --save-dtype '%s': expected float32 or bfloat16\n", save_dtype);
                return 2;
            }
        } else if (cli_flag_value(argc, argv, &i, "--seed", &v)) {
            seed = cli_parse_long("--seed", v, 0, 0x7fffffffL);
        } else {
            fprintf(stderr, "iopo init: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    iopo_model_config cfg = {.n_layer = (int)layers, .n_head = (int)heads, .n_embd = (int)dim, .n_ctx = (int)ctx,
                             .bos_id = -1, .eos_id = -1};
    snprintf(cfg.arch, sizeof cfg.arch, "%s", arch);
    char err[1024];
    if (!iopo_model_config_defaults(&cfg, err, sizeof err)) {
        fprintf(stderr, "iopo init: --arch: %s\n", err);
        return 2;
    }
    bool gpt2 = strcmp(arch, "gpt2") == 0;
    if (!layers || !heads || !dim || !ctx || !out || (!tokenizer && !vocab)) {
        fprintf(stderr, "iopo init: --layers, --heads, --dim, --ctx, --out and --tokenizer or --vocab are required\n");
        return 2;
    }
    if (gpt2 && ((kv_heads && kv_heads != heads) || tied == 0 || (head_dim && head_dim * heads != dim) ||
                 (ffn && ffn != 4 * dim))) {
        fprintf(stderr, "iopo init: gpt2 has --kv-heads = --heads, --head-dim = --dim / --heads, --ffn = 4 * --dim "
                        "and a tied head\n");
        return 2;
    }
    if (!head_dim && dim % heads) {
        fprintf(stderr, "iopo init: --dim %ld is not a multiple of --heads %ld (give --head-dim)\n", dim, heads);
        return 2;
    }
    if (kv_heads && heads % kv_heads) {
        fprintf(stderr, "iopo init: --heads %ld is not a multiple of --kv-heads %ld\n", heads, kv_heads);
        return 2;
    }
    cfg.n_kv_head = kv_heads ? (int)kv_heads : (int)heads;
    cfg.head_dim = head_dim ? (int)head_dim : (int)(dim / heads);
    cfg.n_ffn = ffn ? (int)ffn : (int)(4 * dim);
    if (tied >= 0) cfg.tied = tied == 1;
    if (theta > 0) cfg.rope.theta = (float)theta;
    if (eps > 0) cfg.norm_eps = (float)eps;
    cfg.bos_id = (int)bos;
    cfg.eos_id = (int)eos;
    char *tok_json = NULL;
    size_t len = 0;
    if (tokenizer) {
        if (!cli_tokenizer_exists("init", tokenizer)) return 1;
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
        tok_json = iopo_read_file(tokenizer, &len, err, sizeof err);
        if (!tok_json) {
            fprintf(stderr, "iopo init: %s (--tokenizer must name a tokenizer.json file)\n", err);
            return 1;
        }
    }
    cfg.vocab_size = (int)vocab;
    if ((bos >= vocab) || (eos >= vocab)) {
        fprintf(stderr, "iopo init: --bos-id / --eos-id must be below the vocabulary size %ld\n", vocab);
        free(tok_json);
        return 2;
    }
    if (!iopo_model_config_check(&cfg, err, sizeof err)) {
        fprintf(stderr, "iopo init: %s\n", err);
        free(tok_json);
        return 2;
    }
    iopo_ctx *cpu = iopo_ctx_create(&(iopo_ctx_options){.backend = IOPO_BACKEND_CPU}, err, sizeof err);
    iopo_model *m = iopo_model_create(cpu, &cfg, (uint64_t)seed, err, sizeof err);
    bool ok = m && iopo_model_save_dtype(m, out, !strcmp(save_dtype, "bfloat16"), err, sizeof err);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", out);
    if (tok_json) ok = ok && iopo_write_file_atomic(path, tok_json, len, err, sizeof err);
    if (ok)
        printf("wrote %s: %s, %d layers, %d heads (%d kv), dim %d, head_dim %d, ffn %d, ctx %d, vocab %d, %s head, "
               "%.2fM parameters\n",
               out, cfg.arch, cfg.n_layer, cfg.n_head, cfg.n_kv_head, cfg.n_embd, cfg.head_dim, cfg.n_ffn, cfg.n_ctx,
               cfg.vocab_size, cfg.tied ? "tied" : "untied", (double)iopo_model_numel(m) / 1e6);
    else
        fprintf(stderr, "iopo init: %s\n", err);
    free(tok_json);
    iopo_model_free(m);
    iopo_ctx_destroy(cpu);
    return ok ? 0 : 1;
}
