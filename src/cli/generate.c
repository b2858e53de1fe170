/* `iopo generate`: continue a prompt with a model, greedy or sampled with temperature and top-k. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "iopo/model.h"
#include "iopo/rng.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K]\n"
            "                     [--seed S] [--device N|cpu]\n\n"
            "Prints the prompt's continuation. --temperature 0 (the default) is greedy decoding; above 0, tokens are\n"
            "sampled from softmax(logits / T), restricted to the K most likely when --top-k is given. Stops at\n"
            "<|endoftext|>, after --max-tokens (default 64), or at the model's context length.\n");
}

/* Index of the sampled token from one row of logits. */
static int sample(const float *logits, int V, double temperature, int top_k, iopo_rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (temperature <= 0) return best;
    double *p = malloc((size_t)V * sizeof *p);
    double kth = -INFINITY;
    if (top_k > 0 && top_k < V) {
        /* The k-th largest logit by repeated selection: k is small in practice. */
        float *tmp = malloc((size_t)V * sizeof *tmp);
        memcpy(tmp, logits, (size_t)V * sizeof *tmp);
        for (int k = 0; k < top_k; k++) {
            int arg = 0;
            for (int v = 1; v < V; v++)
                if (tmp[v] > tmp[arg]) arg = v;
            kth = tmp[arg];
            tmp[arg] = -INFINITY;
        }
        free(tmp);
    }
    double sum = 0;
    for (int v = 0; v < V; v++) {
        p[v] = logits[v] >= kth ? exp(((double)logits[v] - logits[best]) / temperature) : 0.0;
        sum += p[v];
    }
    double r = (double)iopo_rng_uniform(rng) * sum, acc = 0;
    int pick = best;
    for (int v = 0; v < V; v++) {
        acc += p[v];
        if (p[v] > 0 && acc >= r) {
            pick = v;
            break;
        }
    }
    free(p);
    return pick;
}

int cmd_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt = NULL, *device = NULL, *v;
    long max_tokens = 64, top_k = 0, seed = 0;
    double temperature = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (cli_flag_value(argc, argv, &i, "--prompt", &prompt)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--max-tokens", &v)) {
            max_tokens = cli_parse_long("--max-tokens", v, 1, 1 << 20);
        } else if (cli_flag_value(argc, argv, &i, "--top-k", &v)) {
            top_k = cli_parse_long("--top-k", v, 0, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--seed", &v)) {
            seed = cli_parse_long("--seed", v, 0, 0x7fffffffL);
        } else if (cli_flag_value(argc, argv, &i, "--temperature", &v)) {
            char *end;
            temperature = strtod(v, &end);
            if (*end || end == v || !(temperature >= 0) || temperature > 100) {
                fprintf(stderr, "iopo generate: --temperature '%s': expected a number in [0, 100]\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "iopo generate: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!model_dir || !prompt) {
        fprintf(stderr, "iopo generate: --model and --prompt are required\n");
        return 2;
    }
    /* A run directory stands for its latest checkpoint (the one resolver every command uses). */
    char model_buf[4096], rerr[4608];
    if (!iopo_model_dir_resolve(model_dir, model_buf, sizeof model_buf, rerr, sizeof rerr)) {
        fprintf(stderr, "iopo generate: %s\n", rerr);
        return 1;
    }
    model_dir = model_buf;
    char err[4608], tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", model_dir);
    if (access(tok_path, F_OK) != 0) {
        fprintf(stderr, "iopo generate: %s has no tokenizer.json (generate reads the prompt with it): copy a "
                        "tokenizer.json into %s\n", model_dir, model_dir);
        return 1;
    }
    iopo_tokenizer *tok = iopo_tokenizer_load(tok_path, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "iopo generate: %s\n", err);
        return 1;
    }
    int32_t *ids;
    long n = iopo_tokenizer_encode(tok, prompt, strlen(prompt), true, &ids, err, sizeof err);
    if (n < 1) {
        fprintf(stderr, "iopo generate: %s\n", n < 0 ? err : "the prompt encodes to no tokens");
        iopo_tokenizer_free(tok);
        if (n == 0) free(ids);
        return 1;
    }
    iopo_ctx *ctx = cli_open_device(device, false);
    iopo_model *m = iopo_model_load(ctx, model_dir, err, sizeof err);
    if (!m) {
        fprintf(stderr, "iopo generate: %s\n", err);
        free(ids);
        iopo_tokenizer_free(tok);
        iopo_ctx_destroy(ctx);
        return 1;
    }
    const iopo_model_config *cfg = iopo_model_get_config(m);
    int V = cfg->vocab_size;
    for (long i = 0; i < n; i++)
        if (ids[i] >= V) {
            fprintf(stderr, "iopo generate: the prompt has token id %d beyond the model's vocabulary %d\n", ids[i], V);
            n = -1;
        }
    int T = (int)(n + max_tokens < cfg->n_ctx ? n + max_tokens : cfg->n_ctx);
    if (n > cfg->n_ctx) {
        fprintf(stderr, "iopo generate: the prompt has %ld tokens, more than the model's context of %d\n", n,
                cfg->n_ctx);
        n = -1;
    }
    int rc = n > 0 ? 0 : 1;
    if (rc == 0) {
        /* One batch of the final length: the sequence grows inside it through `lengths`, so nothing reallocates. */
        iopo_batch b;
        iopo_batch_init(&b, ctx, 1, T);
        int32_t *seq = calloc((size_t)T, sizeof *seq);
        memcpy(seq, ids, (size_t)n * sizeof *seq);
        float *logits = malloc((size_t)T * V * sizeof *logits);
        int32_t eos = iopo_tokenizer_token_id(tok, "<|endoftext|>");
        iopo_rng rng;
        iopo_rng_seed(&rng, (uint64_t)seed);
        int len = (int)n;
        fputs(prompt, stdout);
        fflush(stdout);
        while (len < T) {
            iopo_tensor_upload(b.tokens, seq);
            iopo_tensor_upload(b.lengths, &len);
            iopo_model_forward(m, &b);   /* targets and mask stay zero: no loss */
            iopo_tensor_download(iopo_model_logits(m), logits);
            int next = sample(logits + (size_t)(len - 1) * V, V, temperature, (int)top_k, &rng);
            if (next == eos) break;
            seq[len++] = next;
            size_t tl;
            char *text = iopo_tokenizer_decode(tok, &seq[len - 1], 1, &tl, err, sizeof err);
            if (text) fwrite(text, 1, tl, stdout);
            fflush(stdout);
            free(text);
        }
        fputc('\n', stdout);
        free(seq);
        free(logits);
        iopo_batch_free(&b);
    }
    free(ids);
    iopo_tokenizer_free(tok);
    iopo_model_free(m);
    iopo_ctx_destroy(ctx);
    return rc;
}
