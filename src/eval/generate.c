/* A model, its tokenizer and its chat template answering prompts over a KV cache (include/iopo/generate.h). */
#include "iopo/generate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/prefdata.h"
#include "iopo/rng.h"
#include "iopo/tokenizer.h"

struct iopo_responder {
    char dir[4096];
    char *template_name;   /* "none", or a template name */
    iopo_tokenizer *tok;
    iopo_model *m;
};

iopo_gen_options iopo_gen_options_default(void) {
    return (iopo_gen_options){.temperature = 0, .top_p = 1, .top_k = 0, .max_tokens = 64, .batch = 8, .cache = true};
}

static int by_prob_desc(const void *a, const void *b) {
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    if (x != y) return x < y ? 1 : -1;
    return ((const double *)a)[1] < ((const double *)b)[1] ? -1 : 1;   /* ties by index: deterministic */
}

/* Index of the sampled token from one row of logits. */
static int sample(const float *logits /* (V) */, int V, const iopo_gen_options *o, iopo_rng *rng) {
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

typedef struct seq {
    int32_t *ids;   /* the encoded prompt */
    int n;
    int32_t *out;   /* generated ids */
    int nout;
    bool eos;
} seq;

static bool is_stop(int id, const int32_t *stops, int nstops) {
    for (int i = 0; i < nstops; i++)
        if (stops[i] >= 0 && id == stops[i]) return true;
    return false;
}

/* Generates for ss[0..ns) together (ns <= the cache's batch) over a KV cache, each prompt at its own length. */
static void generate_cached(iopo_model *m, seq *ss, int ns, const int32_t *stops, int nstops,
                            const iopo_gen_options *o, iopo_rng *rng) {
    iopo_ctx *ctx = iopo_model_ctx(m);
    const iopo_model_config *cfg = iopo_model_get_config(m);
    int V = cfg->vocab_size, longest = 0;
    for (int i = 0; i < ns; i++) longest = ss[i].n > longest ? ss[i].n : longest;
    int Tmax = longest + o->max_tokens < cfg->n_ctx ? longest + o->max_tokens : cfg->n_ctx;
    iopo_kv_cache *kv = iopo_kv_cache_new(m, ns, Tmax);
    /* Prefill: every prompt but its last token, in one forward. */
    if (longest > 1) {
        iopo_batch b;
        iopo_batch_init(&b, ctx, ns, longest - 1);
        int32_t *tok = calloc((size_t)ns * (longest - 1), sizeof *tok), *len = malloc((size_t)ns * sizeof *len);
        for (int i = 0; i < ns; i++) {
            memcpy(tok + (size_t)i * (longest - 1), ss[i].ids, (size_t)(ss[i].n - 1) * sizeof *tok);
            len[i] = ss[i].n - 1;
        }
        iopo_tensor_upload(b.tokens, tok);
        iopo_tensor_upload(b.lengths, len);
        iopo_kv_cache_prefill(kv, &b);
        free(tok), free(len);
        iopo_batch_free(&b);
    }
    iopo_tensor *tokens = iopo_tensor_new1(ctx, IOPO_I32, ns);
    int32_t *next = malloc((size_t)ns * sizeof *next), *pos = malloc((size_t)ns * sizeof *pos);
    float *logits = malloc((size_t)ns * V * sizeof *logits);   /* (ns, V) */
    for (int i = 0; i < ns; i++) next[i] = ss[i].ids[ss[i].n - 1], pos[i] = ss[i].n - 1;
    for (;;) {
        bool any = false;
        for (int i = 0; i < ns; i++) any |= pos[i] >= 0;
        if (!any) break;
        iopo_tensor_upload(tokens, next);
        iopo_tensor_download(iopo_kv_cache_step(kv, tokens, pos), logits);
        for (int i = 0; i < ns; i++) {
            if (pos[i] < 0) continue;
            int t = sample(logits + (size_t)i * V, V, o, rng);
            if (is_stop(t, stops, nstops)) {
                ss[i].eos = true;
                pos[i] = -1;
                continue;
            }
            ss[i].out[ss[i].nout++] = t;
            next[i] = t;
            pos[i]++;
            if (ss[i].nout >= o->max_tokens || pos[i] >= Tmax) pos[i] = -1;
        }
    }
    free(next), free(pos), free(logits);
    iopo_tensor_free(tokens);
    iopo_kv_cache_free(kv);
}

/* The same without a cache: the whole sequence runs again for every token (one prompt at a time). */
static void generate_uncached(iopo_model *m, seq *s, const int32_t *stops, int nstops, const iopo_gen_options *o,
                              iopo_rng *rng) {
    iopo_ctx *ctx = iopo_model_ctx(m);
    const iopo_model_config *cfg = iopo_model_get_config(m);
    int V = cfg->vocab_size, T = s->n + o->max_tokens < cfg->n_ctx ? s->n + o->max_tokens : cfg->n_ctx;
    iopo_model_set_logits_budget(m, (size_t)T * V * 4 + 1);   /* all rows' logits, to read the last one */
    iopo_batch b;
    iopo_batch_init(&b, ctx, 1, T);
    int32_t *row = calloc((size_t)T, sizeof *row);
    memcpy(row, s->ids, (size_t)s->n * sizeof *row);
    float *logits = malloc((size_t)T * V * sizeof *logits);   /* (T, V) */
    int len = s->n;
    while (len < T && s->nout < o->max_tokens) {
        iopo_tensor_upload(b.tokens, row);
        iopo_tensor_upload(b.lengths, &len);
        iopo_model_forward(m, &b);   /* targets and mask stay zero: no loss */
        iopo_tensor_download(iopo_model_logits(m), logits);
        int t = sample(logits + (size_t)(len - 1) * V, V, o, rng);
        if (is_stop(t, stops, nstops)) {
            s->eos = true;
            break;
        }
        row[len++] = t;
        s->out[s->nout++] = t;
    }
    free(row);
    free(logits);
    iopo_batch_free(&b);
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

iopo_responder *iopo_responder_open(iopo_ctx *ctx, const char *model_dir, const char *template_name, char *err,
                                    size_t errlen) {
    if (strcmp(template_name, "none") && strcmp(template_name, "auto") && !iopo_template_jinja(template_name)) {
        snprintf(err, errlen, "template '%s': expected auto, chatml, llama3, plain or none", template_name);
        return NULL;
    }
    iopo_responder *r = calloc(1, sizeof *r);
    /* A run directory stands for its latest checkpoint (the one resolver every command uses). */
    if (!iopo_model_dir_resolve(model_dir, r->dir, sizeof r->dir, err, errlen)) {
        free(r);
        return NULL;
    }
    char tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", r->dir);
    if (access(tok_path, F_OK) != 0) {
        snprintf(err, errlen, "%s has no tokenizer.json (generation reads the prompt with it): copy a tokenizer.json "
                              "into %s", r->dir, r->dir);
        free(r);
        return NULL;
    }
    r->tok = iopo_tokenizer_load(tok_path, err, errlen);
    if (!r->tok) {
        free(r);
        return NULL;
    }
    if (!strcmp(template_name, "auto")) {
        r->template_name = recorded_template(r->dir);
        if (!r->template_name) r->template_name = strdup(iopo_template_for_tokenizer(r->tok));
    } else {
        r->template_name = strdup(template_name);
    }
    r->m = iopo_model_load(ctx, r->dir, err, errlen);
    if (!r->m) {
        iopo_responder_free(r);
        return NULL;
    }
    if (iopo_model_has_lora(r->m)) iopo_model_merge_lora(r->m);   /* an adapter directory: decode base + adapter */
    return r;
}

const char *iopo_responder_template(const iopo_responder *r) { return r->template_name; }
const char *iopo_responder_model_dir(const iopo_responder *r) { return r->dir; }

void iopo_responder_free(iopo_responder *r) {
    if (!r) return;
    iopo_model_free(r->m);
    iopo_tokenizer_free(r->tok);
    free(r->template_name);
    free(r);
}

void iopo_gen_requests_clear(iopo_gen_request *reqs, int n) {
    for (int i = 0; i < n; i++) {
        free(reqs[i].response);
        reqs[i].response = NULL;
        reqs[i].response_len = 0;
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool iopo_respond(iopo_responder *r, iopo_gen_request *reqs, int n, const iopo_gen_options *o,
                  iopo_gen_progress progress, void *user, char *err, size_t errlen) {
    const iopo_model_config *cfg = iopo_model_get_config(r->m);
    int32_t stops[3] = {iopo_tokenizer_token_id(r->tok, "<|endoftext|>"), -1, cfg->eos_id};
    seq *ss = calloc((size_t)(n > 0 ? n : 1), sizeof *ss);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        char why[512];
        long k;
        if (!strcmp(r->template_name, "none")) {
            k = iopo_tokenizer_encode(r->tok, reqs[i].prompt, strlen(reqs[i].prompt), true, &ss[i].ids, why,
                                      sizeof why);
        } else {
            k = iopo_template_encode_prompt(r->tok, r->template_name, reqs[i].system, reqs[i].prompt, &ss[i].ids,
                                            &stops[1], why, sizeof why);
        }
        if (k < 1) {
            snprintf(err, errlen, "prompt %d: %s", i + 1, k < 0 ? why : "the prompt encodes to no tokens");
            ok = false;
            break;
        }
        ss[i].n = (int)k;
        for (int t = 0; t < ss[i].n && ok; t++)
            if (ss[i].ids[t] < 0 || ss[i].ids[t] >= cfg->vocab_size) {
                snprintf(err, errlen, "prompt %d has token id %d beyond the model's vocabulary %d", i + 1, ss[i].ids[t],
                         cfg->vocab_size);
                ok = false;
            }
        if (ok && ss[i].n >= cfg->n_ctx) {
            snprintf(err, errlen, "prompt %d has %d tokens, the model's whole context of %d", i + 1, ss[i].n,
                     cfg->n_ctx);
            ok = false;
        }
        ss[i].out = malloc((size_t)o->max_tokens * sizeof *ss[i].out);
    }
    iopo_rng rng;
    iopo_rng_seed(&rng, o->seed);
    double t0 = now_seconds();
    long generated = 0;
    for (int i0 = 0; ok && i0 < n; i0 += o->batch) {
        int nb = n - i0 < o->batch ? n - i0 : o->batch;
        if (o->cache) generate_cached(r->m, ss + i0, nb, stops, 3, o, &rng);
        else
            for (int i = i0; i < i0 + nb; i++) generate_uncached(r->m, &ss[i], stops, 3, o, &rng);
        for (int i = i0; i < i0 + nb; i++) {
            size_t tl = 0;
            char *text = ss[i].nout ? iopo_tokenizer_decode(r->tok, ss[i].out, (size_t)ss[i].nout, &tl, err, errlen)
                                    : NULL;
            if (!text) text = calloc(1, 1), tl = 0;
            reqs[i].response = text;
            reqs[i].response_len = tl;
            reqs[i].tokens = ss[i].nout;
            reqs[i].eos = ss[i].eos;
            generated += ss[i].nout;
        }
        if (progress) progress(user, i0 + nb, n, generated, now_seconds() - t0);
    }
    for (int i = 0; i < n; i++) free(ss[i].ids), free(ss[i].out);
    free(ss);
    return ok;
}
