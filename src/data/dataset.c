/* Loading SFT-style data into token sequences with loss flags; see include/iopo/dataset.h for the formats. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/dataset.h"
#include "iopo/fileio.h"
#include "iopo/jsonutil.h"

static void add_example(iopo_dataset *ds, int *cap, const int32_t *ids, const uint8_t *label, int n, int line) {
    if (ds->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ds->ex = realloc(ds->ex, (size_t)*cap * sizeof *ds->ex);
    }
    iopo_example *e = &ds->ex[ds->n++];
    e->n = n;
    e->line = line;
    e->ids = malloc((size_t)(n ? n : 1) * sizeof *e->ids);
    e->label = malloc((size_t)(n ? n : 1));
    memcpy(e->ids, ids, (size_t)n * sizeof *ids);
    memcpy(e->label, label, (size_t)n);
}

/* A growing token stream that is cut into packed sequences of max_tokens (every token after the first of a sequence
 * carries loss). */
typedef struct stream {
    int32_t *ids;
    size_t n, cap;
} stream;

static void stream_push(stream *s, const int32_t *ids, size_t n) {
    if (n == 0) return; /* empty text: ids may be NULL, and s->ids still NULL */
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->ids = realloc(s->ids, s->cap * sizeof *s->ids);
    }
    memcpy(s->ids + s->n, ids, n * sizeof *ids);
    s->n += n;
}

static void pack_stream(iopo_dataset *ds, int *cap, const stream *s, int max_tokens) {
    uint8_t *label = malloc((size_t)max_tokens);
    memset(label, 1, (size_t)max_tokens);
    label[0] = 0;
    /* Consecutive sequences overlap by one token so every token of the stream but the first is predicted once. */
    for (size_t start = 0; start + 1 < s->n; start += (size_t)max_tokens - 1) {
        size_t n = s->n - start < (size_t)max_tokens ? s->n - start : (size_t)max_tokens;
        add_example(ds, cap, s->ids + start, label, (int)n, 0);
    }
    free(label);
}

/* line 0: the whole file (plain text). A tokenizer with more ids than the model's vocabulary is caught here, before
 * an id indexes past the embedding. */
static bool tokenize_into(stream *s, const iopo_tokenizer *tok, const char *text, size_t len, int32_t eos, int vocab,
                          const char *path, int line, char *err, size_t errlen) {
    int32_t *ids;
    char terr[256], where[64] = "";
    if (line > 0) snprintf(where, sizeof where, ":%d", line);
    long n = iopo_tokenizer_encode(tok, text, len, false, &ids, terr, sizeof terr);
    if (n < 0) {
        snprintf(err, errlen, "%s%s: %s", path, where, terr);
        return false;
    }
    for (long i = -1; i < n; i++) {
        int32_t id = i < 0 ? eos : ids[i];
        if (id >= vocab) {
            snprintf(err, errlen, "%s%s: token id %d from the tokenizer is outside the model's vocabulary of %d", path,
                     where, (int)id, vocab);
            free(ids);
            return false;
        }
    }
    stream_push(s, ids, (size_t)n);
    free(ids);
    if (eos >= 0) stream_push(s, &eos, 1);
    return true;
}

/* Reads a JSON array of integer ids in [0, vocab) into a malloc'd array. */
static bool read_ids(const cJSON *arr, int vocab, int32_t **out, int *n, const char *path, int line, const char *key,
                     char *err, size_t errlen) {
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "%s:%d: \"%s\" must be an array of token ids", path, line, key);
        return false;
    }
    int count = cJSON_GetArraySize(arr), i = 0;
    int32_t *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        char why[128];
        if (!iopo_json_token_id(v, vocab, &ids[i], why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: \"%s\"[%d] %s", path, line, key, i, why);
            free(ids);
            return false;
        }
        i++;
    }
    *out = ids;
    *n = count;
    return true;
}

bool iopo_dataset_load(iopo_dataset *ds, const char *path, const iopo_tokenizer *tok, int max_tokens, int vocab,
                       char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    if (max_tokens < 2) { /* packing steps by max_tokens - 1 */
        snprintf(err, errlen, "%s: max_tokens %d is too small (a sequence needs a token and its successor)", path,
                 max_tokens);
        return false;
    }
    int cap = 0;
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    int32_t eos = tok ? iopo_tokenizer_token_id(tok, "<|endoftext|>") : -1;
    size_t plen = strlen(path);
    bool ok = true;
    if (plen >= 4 && strcmp(path + plen - 4, ".txt") == 0) {
        if (!tok) {
            snprintf(err, errlen, "%s: a text file needs a tokenizer", path);
            free(text);
            return false;
        }
        snprintf(ds->format, sizeof ds->format, "plain text, packed");
        stream s = {0};
        ok = tokenize_into(&s, tok, text, len, eos, vocab, path, 0, err, errlen);
        if (ok) pack_stream(ds, &cap, &s, max_tokens);
        free(s.ids);
        free(text);
        return ok;
    }
    /* JSONL: the first record's keys decide the format; every record must follow it. */
    enum { F_NONE, F_TEXT, F_IDS, F_PROMPT } fmt = F_NONE;
    stream s = {0};
    int line = 0;
    char *p = text;
    while (ok && p < text + len) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        line++;
        char *rec = p;
        p += ll + 1;
        size_t k = 0;
        while (k < ll && (rec[k] == ' ' || rec[k] == '\t' || rec[k] == '\r')) k++;
        if (k == ll) continue;   /* blank line */
        cJSON *root = cJSON_ParseWithLength(rec, ll);
        if (!cJSON_IsObject(root)) {
            snprintf(err, errlen, "%s:%d: not a JSON object", path, line);
            cJSON_Delete(root);
            ok = false;
            break;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "input_ids");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "prompt_ids");
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "response_ids");
        if (fmt == F_NONE) {
            fmt = t ? F_TEXT : ids ? F_IDS : (pr || rs) ? F_PROMPT : F_NONE;
            if (fmt == F_NONE) {
                snprintf(err, errlen,
                         "%s:%d: unknown record format: expected \"text\", \"input_ids\" or \"prompt_ids\" + "
                         "\"response_ids\"",
                         path, line);
                ok = false;
            }
            snprintf(ds->format, sizeof ds->format, "%s",
                     fmt == F_TEXT  ? "jsonl text, packed"
                     : fmt == F_IDS ? "jsonl pre-tokenized input_ids"
                                    : "jsonl pre-tokenized prompt/response");
        }
        if (ok && fmt == F_TEXT) {
            if (!cJSON_IsString(t)) {
                snprintf(err, errlen, "%s:%d: \"text\" must be a string", path, line);
                ok = false;
            } else if (!tok) {
                snprintf(err, errlen, "%s:%d: text records need a tokenizer", path, line);
                ok = false;
            } else {
                ok = tokenize_into(&s, tok, t->valuestring, strlen(t->valuestring), eos, vocab, path, line, err,
                                   errlen);
            }
        } else if (ok && fmt == F_IDS) {
            int32_t *v = NULL;
            int n = 0;
            ok = read_ids(ids, vocab, &v, &n, path, line, "input_ids", err, errlen);
            uint8_t *label = calloc((size_t)(n ? n : 1), 1);
            const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, "labels_mask");
            if (ok && lm) {
                if (!cJSON_IsArray(lm) || cJSON_GetArraySize(lm) != n) {
                    snprintf(err, errlen, "%s:%d: \"labels_mask\" must be an array as long as \"input_ids\" (%d)", path,
                             line, n);
                    ok = false;
                }
                int i = 0;
                const cJSON *x;
                cJSON_ArrayForEach(x, lm) {
                    if (!ok) break;
                    if (!cJSON_IsNumber(x) || (x->valuedouble != 0 && x->valuedouble != 1)) {
                        snprintf(err, errlen, "%s:%d: \"labels_mask\"[%d] must be 0 or 1", path, line, i);
                        ok = false;
                    }
                    label[i++] = x->valuedouble != 0;
                }
            } else {
                memset(label, 1, (size_t)n);
            }
            if (ok && n < 2) {
                snprintf(err, errlen, "%s:%d: \"input_ids\" needs at least 2 tokens", path, line);
                ok = false;
            }
            if (ok) {
                label[0] = 0;   /* nothing predicts the first token */
                if (n > max_tokens) n = max_tokens, ds->truncated++;
                add_example(ds, &cap, v, label, n, line);
            }
            free(v);
            free(label);
        } else if (ok && fmt == F_PROMPT) {
            int32_t *a = NULL, *b = NULL;
            int na = 0, nb = 0;
            ok = read_ids(pr, vocab, &a, &na, path, line, "prompt_ids", err, errlen) &&
                 read_ids(rs, vocab, &b, &nb, path, line, "response_ids", err, errlen);
            if (ok && (na < 1 || nb < 1)) {
                snprintf(err, errlen, "%s:%d: %s is empty", path, line, na < 1 ? "\"prompt_ids\"" : "\"response_ids\"");
                ok = false;
            }
            if (ok) {
                int n = na + nb;
                int32_t *all = malloc((size_t)n * sizeof *all);
                uint8_t *label = calloc((size_t)n, 1);
                memcpy(all, a, (size_t)na * sizeof *a);
                memcpy(all + na, b, (size_t)nb * sizeof *b);
                memset(label + na, 1, (size_t)nb);
                if (n > max_tokens) n = max_tokens, ds->truncated++;
                add_example(ds, &cap, all, label, n, line);
                free(all);
                free(label);
            }
            free(a);
            free(b);
        }
        cJSON_Delete(root);
    }
    if (ok && fmt == F_TEXT) pack_stream(ds, &cap, &s, max_tokens);
    free(s.ids);
    free(text);
    if (ok && ds->n == 0) {
        snprintf(err, errlen, "%s: no records", path);
        ok = false;
    }
    if (!ok) iopo_dataset_free(ds);
    return ok;
}

void iopo_dataset_free(iopo_dataset *ds) {
    for (int i = 0; i < ds->n; i++) {
        free(ds->ex[i].ids);
        free(ds->ex[i].label);
    }
    free(ds->ex);
    memset(ds, 0, sizeof *ds);
}

size_t iopo_dataset_label_tokens(const iopo_dataset *ds) {
    size_t n = 0;
    for (int i = 0; i < ds->n; i++)
        for (int k = 0; k < ds->ex[i].n; k++) n += ds->ex[i].label[k];
    return n;
}

void iopo_host_batch_alloc(iopo_host_batch *hb, int B, int T) {
    hb->B = B;
    hb->T = hb->Tmax = T;
    hb->tokens = calloc((size_t)B * T, sizeof *hb->tokens);
    hb->targets = calloc((size_t)B * T, sizeof *hb->targets);
    hb->mask = calloc((size_t)B * T, sizeof *hb->mask);
    hb->lengths = calloc((size_t)B, sizeof *hb->lengths);
}

void iopo_host_batch_free(iopo_host_batch *hb) {
    free(hb->tokens);
    free(hb->targets);
    free(hb->mask);
    free(hb->lengths);
    memset(hb, 0, sizeof *hb);
}

int iopo_host_batch_fit(iopo_host_batch *hb, const iopo_dataset *ds, const int *idx, int nb, int multiple) {
    int longest = 1;
    for (int b = 0; b < nb; b++) {
        int n = ds->ex[idx[b]].n - 1;   /* positions with a next token */
        if (n > longest) longest = n;
    }
    if (multiple > 1) longest = (longest + multiple - 1) / multiple * multiple;
    hb->T = longest < hb->Tmax ? longest : hb->Tmax;
    return hb->T;
}

void iopo_host_batch_fill(iopo_host_batch *hb, const iopo_dataset *ds, const int *idx, int nb) {
    int B = hb->B, T = hb->T;
    hb->label_count = 0;
    for (int b = 0; b < B; b++) {
        const iopo_example *e = b < nb ? &ds->ex[idx[b]] : NULL;
        int n = e ? e->n : 0;
        if (n > T + 1) n = T + 1;
        int len = n > 1 ? n - 1 : n;   /* positions that have a next token; a lone token is still fed */
        hb->lengths[b] = len;
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            hb->tokens[i] = t < n ? e->ids[t] : 0;
            bool on = t + 1 < n && e->label[t + 1];
            hb->targets[i] = on ? e->ids[t + 1] : -100;
            hb->mask[i] = on ? 1.0f : 0.0f;
            hb->label_count += hb->mask[i];
        }
    }
}
