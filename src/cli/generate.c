/* `iopo generate`: continue prompts with a model, batched over a KV cache (greedy, or sampled with temperature,
 * top-k and top-p, seeded), one prompt from the command line or a JSONL file of them. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/model.h"
#include "iopo/prefdata.h"
#include "iopo/rng.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo generate --model DIR (--prompt TEXT | --data prompts.jsonl [--out gens.jsonl])\n"
            "                     [--template auto|chatml|llama3|plain|none] [--system TEXT] [--max-tokens N]\n"
            "                     [--temperature T] [--top-k K] [--top-p P] [--seed S] [--batch-size B]\n"
            "                     [--no-cache] [--device N|cpu]\n\n"
            "--prompt prints the prompt's continuation. --data reads one JSON object per line, {\"prompt\": TEXT}\n"
            "(optionally \"system\", and any \"key\", which is copied), and writes one line per prompt, in order, to --out\n"
            "(default stdout): {\"prompt\", [\"key\",] \"response\", \"tokens\", \"stop\": \"eos\" | \"length\"}; prompts\n"
            "run --batch-size at a time (default 8) over a KV cache, each at its own length.\n\n"
            "--template wraps each prompt as one user turn of the chat template, with the generation prompt after it,\n"
            "as training builds prompts: auto (the default with --data) takes the template recorded in the model's\n"
            "tokenizer_config.json by `iopo train`, else the one its tokenizer's special tokens call for; none (the\n"
            "default with --prompt) continues the raw text. Generation stops at the template's end-of-turn token,\n"
            "config.json's eos_token_id or <|endoftext|>, after --max-tokens (default 64), or at the model's context.\n"
            "--temperature 0 (the default) is greedy; above 0, tokens are sampled from softmax(logits / T), restricted\n"
            "to the K most likely (--top-k) and to the smallest set of probability >= P (--top-p), with --seed.\n"
            "--no-cache recomputes the whole sequence at every token (slower; the same tokens).\n");
}

typedef struct gen_opts {
    double temperature, top_p;
    int top_k, max_tokens, batch;
    bool cache;
} gen_opts;

static int by_prob_desc(const void *a, const void *b) {
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    if (x != y) return x < y ? 1 : -1;
    return ((const double *)a)[1] < ((const double *)b)[1] ? -1 : 1;   /* ties by index: deterministic */
}

/* Index of the sampled token from one row of logits. */
static int sample(const float *logits, int V, const gen_opts *o, iopo_rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (o->temperature <= 0) return best;
    double (*p)[2] = malloc((size_t)V * sizeof *p), sum = 0;
    for (int v = 0; v < V; v++) {
        p[v][0] = exp(((double)logits[v] - logits[best]) / o->temperature);
        p[v][1] = v;
        sum += p[v][0];
    }
    qsort(p, (size_t)V, sizeof *p, by_prob_desc);
    int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    if (o->top_p < 1) {
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += p[i][0] / sum;
            if (acc >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    double kept = 0;
    for (int i = 0; i < keep; i++) kept += p[i][0];
    double r = (double)iopo_rng_uniform(rng) * kept, acc = 0;
    int pick = (int)p[0][1];
    for (int i = 0; i < keep; i++) {
        acc += p[i][0];
        if (acc >= r) {
            pick = (int)p[i][1];
            break;
        }
    }
    free(p);
    return pick;
}

typedef struct prompt {
    char *text, *system, *key_json;   /* key_json: the record's "key" printed as JSON, or NULL */
    int32_t *ids;
    int n;
    int32_t *out;                     /* generated ids */
    int nout;
    bool eos;
} prompt;

static bool is_stop(int id, const int32_t *stops, int nstops) {
    for (int i = 0; i < nstops; i++)
        if (stops[i] >= 0 && id == stops[i]) return true;
    return false;
}

/* Generates for prompts ps[0..np) together (np <= the cache's batch) over a KV cache. */
static void generate_cached(iopo_model *m, prompt *ps, int np, const int32_t *stops, int nstops, const gen_opts *o,
                            iopo_rng *rng) {
    iopo_ctx *ctx = iopo_model_ctx(m);
    const iopo_model_config *cfg = iopo_model_get_config(m);
    int V = cfg->vocab_size, longest = 0;
    for (int i = 0; i < np; i++) longest = ps[i].n > longest ? ps[i].n : longest;
    int Tmax = longest + o->max_tokens < cfg->n_ctx ? longest + o->max_tokens : cfg->n_ctx;
    iopo_kv_cache *kv = iopo_kv_cache_new(m, np, Tmax);
    /* Prefill: every prompt but its last token, in one forward. */
    if (longest > 1) {
        iopo_batch b;
        iopo_batch_init(&b, ctx, np, longest - 1);
        int32_t *tok = calloc((size_t)np * (longest - 1), sizeof *tok), *len = malloc((size_t)np * sizeof *len);
        for (int i = 0; i < np; i++) {
            memcpy(tok + (size_t)i * (longest - 1), ps[i].ids, (size_t)(ps[i].n - 1) * sizeof *tok);
            len[i] = ps[i].n - 1;
        }
        iopo_tensor_upload(b.tokens, tok);
        iopo_tensor_upload(b.lengths, len);
        iopo_kv_cache_prefill(kv, &b);
        free(tok), free(len);
        iopo_batch_free(&b);
    }
    iopo_tensor *tokens = iopo_tensor_new1(ctx, IOPO_I32, np);
    int32_t *next = malloc((size_t)np * sizeof *next), *pos = malloc((size_t)np * sizeof *pos);
    float *logits = malloc((size_t)np * V * sizeof *logits);
    for (int i = 0; i < np; i++) next[i] = ps[i].ids[ps[i].n - 1], pos[i] = ps[i].n - 1;
    for (;;) {
        bool any = false;
        for (int i = 0; i < np; i++) any |= pos[i] >= 0;
        if (!any) break;
        iopo_tensor_upload(tokens, next);
        iopo_tensor_download(iopo_kv_cache_step(kv, tokens, pos), logits);
        for (int i = 0; i < np; i++) {
            if (pos[i] < 0) continue;
            int t = sample(logits + (size_t)i * V, V, o, rng);
            if (is_stop(t, stops, nstops)) {
                ps[i].eos = true;
                pos[i] = -1;
                continue;
            }
            ps[i].out[ps[i].nout++] = t;
            next[i] = t;
            pos[i]++;
            if (ps[i].nout >= o->max_tokens || pos[i] >= Tmax) pos[i] = -1;
        }
    }
    free(next), free(pos), free(logits);
    iopo_tensor_free(tokens);
    iopo_kv_cache_free(kv);
}

/* The same without a cache: the whole sequence runs again for every token (one prompt at a time). */
static void generate_uncached(iopo_model *m, prompt *p, const int32_t *stops, int nstops, const gen_opts *o,
                              iopo_rng *rng) {
    iopo_ctx *ctx = iopo_model_ctx(m);
    const iopo_model_config *cfg = iopo_model_get_config(m);
    int V = cfg->vocab_size, T = p->n + o->max_tokens < cfg->n_ctx ? p->n + o->max_tokens : cfg->n_ctx;
    iopo_model_set_logits_budget(m, (size_t)T * V * 4 + 1);   /* all rows' logits, to read the last one */
    iopo_batch b;
    iopo_batch_init(&b, ctx, 1, T);
    int32_t *seq = calloc((size_t)T, sizeof *seq);
    memcpy(seq, p->ids, (size_t)p->n * sizeof *seq);
    float *logits = malloc((size_t)T * V * sizeof *logits);
    int len = p->n;
    while (len < T && p->nout < o->max_tokens) {
        iopo_tensor_upload(b.tokens, seq);
        iopo_tensor_upload(b.lengths, &len);
        iopo_model_forward(m, &b);   /* targets and mask stay zero: no loss */
        iopo_tensor_download(iopo_model_logits(m), logits);
        int t = sample(logits + (size_t)(len - 1) * V, V, o, rng);
        if (is_stop(t, stops, nstops)) {
            p->eos = true;
            break;
        }
        seq[len++] = t;
        p->out[p->nout++] = t;
    }
    free(seq);
    free(logits);
    iopo_batch_free(&b);
}

/* Reads --data: one {"prompt", "system"?, "key"?} per line; false + "FILE:LINE: ..." otherwise. */
static bool read_prompts(const char *path, prompt **out, int *n, char *err, size_t errlen) {
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    int cap = 16, line = 0;
    *out = calloc((size_t)cap, sizeof **out);
    *n = 0;
    bool ok = true;
    for (char *s = text, *e; ok && s < text + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e) e = text + len;
        line++;
        char *q = s;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == e) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, line);
        cJSON *rec = iopo_json_parse(where, s, (size_t)(e - s), err, errlen);
        const cJSON *pr = rec ? cJSON_GetObjectItemCaseSensitive(rec, "prompt") : NULL;
        const cJSON *sy = rec ? cJSON_GetObjectItemCaseSensitive(rec, "system") : NULL;
        const cJSON *key = rec ? cJSON_GetObjectItemCaseSensitive(rec, "key") : NULL;
        if (!rec) {
            ok = false;
        } else if (!cJSON_IsString(pr) || !pr->valuestring[0]) {
            snprintf(err, errlen, "%s: expected {\"prompt\": \"...\"} with a non-empty prompt", where);
            ok = false;
        } else if (sy && !cJSON_IsString(sy)) {
            snprintf(err, errlen, "%s: \"system\" must be a string", where);
            ok = false;
        } else {
            if (*n == cap) *out = realloc(*out, (size_t)(cap *= 2) * sizeof **out);
            prompt *p = &(*out)[(*n)++];
            memset(p, 0, sizeof *p);
            p->text = strdup(pr->valuestring);
            p->system = sy ? strdup(sy->valuestring) : NULL;
            p->key_json = key ? cJSON_PrintUnformatted(key) : NULL;
        }
        cJSON_Delete(rec);
    }
    free(text);
    if (ok && *n == 0) {
        snprintf(err, errlen, "%s: no prompts", path);
        ok = false;
    }
    return ok;
}

/* The template recorded by `iopo train` in the model's tokenizer_config.json ("iopo_template"), or NULL. */
static char *recorded_template(const char *dir) {
    char path[4200], err[256];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    size_t len;
    char *text = access(path, F_OK) == 0 ? iopo_read_file(path, &len, err, sizeof err) : NULL;
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *t = root ? cJSON_GetObjectItemCaseSensitive(root, "iopo_template") : NULL;
    char *name = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(root);
    free(text);
    return name;
}

int cmd_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt_text = NULL, *data = NULL, *out_path = NULL, *device = NULL, *v;
    const char *tmpl = NULL, *system = NULL;
    gen_opts o = {.temperature = 0, .top_p = 1, .top_k = 0, .max_tokens = 64, .batch = 8, .cache = true};
    long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (cli_flag_value(argc, argv, &i, "--prompt", &prompt_text)) {
        } else if (cli_flag_value(argc, argv, &i, "--data", &data)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out_path)) {
        } else if (cli_flag_value(argc, argv, &i, "--template", &tmpl)) {
        } else if (cli_flag_value(argc, argv, &i, "--system", &system)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--max-tokens", &v)) {
            o.max_tokens = (int)cli_parse_long("--max-tokens", v, 1, 1 << 20);
        } else if (cli_flag_value(argc, argv, &i, "--top-k", &v)) {
            o.top_k = (int)cli_parse_long("--top-k", v, 0, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--top-p", &v)) {
            o.top_p = cli_parse_double("--top-p", v, 1e-9, 1);
        } else if (cli_flag_value(argc, argv, &i, "--batch-size", &v)) {
            o.batch = (int)cli_parse_long("--batch-size", v, 1, 4096);
        } else if (cli_flag_value(argc, argv, &i, "--seed", &v)) {
            seed = cli_parse_long("--seed", v, 0, 0x7fffffffL);
        } else if (cli_flag_value(argc, argv, &i, "--temperature", &v)) {
            o.temperature = cli_parse_double("--temperature", v, 0, 100);
        } else if (!strcmp(argv[i], "--no-cache")) {
            o.cache = false;
        } else {
            fprintf(stderr, "iopo generate: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!model_dir || !!prompt_text == !!data) {
        fprintf(stderr, "iopo generate: --model and one of --prompt or --data are required\n");
        return 2;
    }
    if (out_path && !data) {
        fprintf(stderr, "iopo generate: --out goes with --data (--prompt prints to stdout)\n");
        return 2;
    }
    if (tmpl && strcmp(tmpl, "none") && strcmp(tmpl, "auto") && !iopo_template_jinja(tmpl)) {
        fprintf(stderr, "iopo generate: --template '%s': expected auto, chatml, llama3, plain or none\n", tmpl);
        return 2;
    }
    /* A run directory stands for its latest checkpoint (the one resolver every command uses). */
    char model_buf[4096], err[4608], tok_path[4200];
    if (!iopo_model_dir_resolve(model_dir, model_buf, sizeof model_buf, err, sizeof err)) {
        fprintf(stderr, "iopo generate: %s\n", err);
        return 1;
    }
    model_dir = model_buf;
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
    prompt *ps = NULL;
    int np = 0;
    if (data && !read_prompts(data, &ps, &np, err, sizeof err)) {
        fprintf(stderr, "iopo generate: %s\n", err);
        free(ps);
        iopo_tokenizer_free(tok);
        return 1;
    }
    if (!data) {
        ps = calloc(1, sizeof *ps);
        ps[0].text = strdup(prompt_text);
        ps[0].system = system ? strdup(system) : NULL;
        np = 1;
    }
    char *recorded = recorded_template(model_dir);
    const char *use = tmpl ? tmpl : data ? "auto" : "none";
    if (!strcmp(use, "auto")) use = recorded ? recorded : iopo_template_for_tokenizer(tok);
    int32_t stops[3] = {iopo_tokenizer_token_id(tok, "<|endoftext|>"), -1, -1};
    int rc = 0;
    for (int i = 0; i < np && !rc; i++) {
        long n;
        if (!strcmp(use, "none")) {
            n = iopo_tokenizer_encode(tok, ps[i].text, strlen(ps[i].text), true, &ps[i].ids, err, sizeof err);
        } else {
            n = iopo_template_encode_prompt(tok, use, ps[i].system, ps[i].text, &ps[i].ids, &stops[1], err, sizeof err);
        }
        if (n < 1) {
            fprintf(stderr, "iopo generate: %s%s%d: %s\n", data ? data : "--prompt", data ? ":prompt " : "",
                    data ? i + 1 : 0, n < 0 ? err : "the prompt encodes to no tokens");
            rc = 1;
        }
        ps[i].n = (int)n;
    }
    iopo_ctx *ctx = rc ? NULL : cli_open_device(device, false);
    iopo_model *m = ctx ? iopo_model_load(ctx, model_dir, err, sizeof err) : NULL;
    if (ctx && !m) {
        fprintf(stderr, "iopo generate: %s\n", err);
        rc = 1;
    }
    if (m && iopo_model_has_lora(m)) iopo_model_merge_lora(m);   /* an adapter directory: decode base + adapter merged */
    if (m) {
        const iopo_model_config *cfg = iopo_model_get_config(m);
        stops[2] = cfg->eos_id;
        for (int i = 0; i < np && !rc; i++) {
            for (int k = 0; k < ps[i].n; k++)
                if (ps[i].ids[k] < 0 || ps[i].ids[k] >= cfg->vocab_size) {
                    fprintf(stderr, "iopo generate: prompt %d has token id %d beyond the model's vocabulary %d\n", i + 1,
                            ps[i].ids[k], cfg->vocab_size);
                    rc = 1;
                    break;
                }
            if (!rc && ps[i].n >= cfg->n_ctx) {
                fprintf(stderr, "iopo generate: prompt %d has %d tokens, the model's whole context of %d\n", i + 1,
                        ps[i].n, cfg->n_ctx);
                rc = 1;
            }
            ps[i].out = malloc((size_t)o.max_tokens * sizeof *ps[i].out);
        }
    }
    iopo_atomic_file af = {0};
    FILE *out = stdout;
    if (!rc && m && out_path) {
        if (!iopo_atomic_open(&af, out_path, err, sizeof err)) {
            fprintf(stderr, "iopo generate: %s\n", err);
            rc = 1;
        }
        out = af.f;
    }
    if (!rc && m) {
        iopo_rng rng;
        iopo_rng_seed(&rng, (uint64_t)seed);
        for (int i0 = 0; i0 < np; i0 += o.batch) {
            int nb = np - i0 < o.batch ? np - i0 : o.batch;
            if (o.cache) generate_cached(m, ps + i0, nb, stops, 3, &o, &rng);
            else
                for (int i = i0; i < i0 + nb; i++) generate_uncached(m, &ps[i], stops, 3, &o, &rng);
            for (int i = i0; i < i0 + nb; i++) {
                size_t tl = 0;
                char *text = ps[i].nout ? iopo_tokenizer_decode(tok, ps[i].out, ps[i].nout, &tl, err, sizeof err)
                                        : strdup("");
                if (!text) text = strdup("");
                if (data) {   /* JSON strings are UTF-8: a response cut inside a character ends in U+FFFD */
                    char *valid = iopo_utf8_lossy(text, tl, NULL);
                    if (valid) free(text), text = valid;
                }
                if (!data) {
                    fputs(ps[i].text, out);
                    fwrite(text, 1, ps[i].nout ? tl : 0, out);
                    fputc('\n', out);
                } else {
                    cJSON *r = cJSON_CreateObject();
                    cJSON_AddStringToObject(r, "prompt", ps[i].text);
                    if (ps[i].key_json) cJSON_AddRawToObject(r, "key", ps[i].key_json);
                    cJSON_AddStringToObject(r, "response", text);
                    cJSON_AddNumberToObject(r, "tokens", ps[i].nout);
                    cJSON_AddStringToObject(r, "stop", ps[i].eos ? "eos" : "length");
                    char *line = cJSON_PrintUnformatted(r);
                    fprintf(out, "%s\n", line);
                    free(line);
                    cJSON_Delete(r);
                }
                free(text);
            }
            if (data && out_path) fprintf(stderr, "generate: %d/%d prompts\n", i0 + nb, np);
        }
        if (out_path && !iopo_atomic_commit(&af, err, sizeof err)) {
            fprintf(stderr, "iopo generate: %s\n", err);
            rc = 1;
        }
    } else if (af.f) {
        iopo_atomic_abort(&af);
    }
    for (int i = 0; i < np; i++) free(ps[i].text), free(ps[i].system), free(ps[i].key_json), free(ps[i].ids),
                                     free(ps[i].out);
    free(ps);
    free(recorded);
    iopo_tokenizer_free(tok);
    iopo_model_free(m);
    if (ctx) iopo_ctx_destroy(ctx);
    return rc;
}
