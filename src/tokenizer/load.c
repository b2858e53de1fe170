/* Loading a tokenizer: Hugging Face tokenizer.json, or GPT-2's encoder.json + vocab.bpe. Everything the encoder
 * relies on is checked here (ids in range, every merge naming vocabulary tokens whose concatenation is one too,
 * regexes that compile), so encoding never meets a malformed table. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "tokenizer/tok_internal.h"

#define SET_ERR(...)                                                                                                   \
    do {                                                                                                               \
        if (err && errlen) snprintf(err, errlen, __VA_ARGS__);                                                         \
    } while (0)

/* What the ByteLevel pre-tokenizer splits with when use_regex is true (GPT-2's pattern). */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void iopo_tokenizer_free(iopo_tokenizer *t) {
    if (!t) return;
    for (uint32_t i = 0; i < t->vocab_cap; i++) free(t->vocab_slots[i].key);
    free(t->vocab_slots);
    if (t->tok_bytes)
        for (int32_t i = 0; i < t->n_ids; i++) free(t->tok_bytes[i]);
    free(t->tok_bytes);
    free(t->tok_nbytes);
    free(t->merge_keys);
    free(t->merge_rank);
    free(t->merge_new);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (int i = 0; i < t->n_stages; i++) pcre2_code_free(t->stages[i].re);
    free(t->path);
    free(t);
}

/* ---- regexes ---- */

pcre2_code *tok_regex_compile(const char *pattern, size_t len, char *err, size_t errlen) {
    int code;
    PCRE2_SIZE off;
    const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    /* The pattern as written is compiled first so an error offset points into what the file says. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        SET_ERR("bad regex at offset %zu: %s", (size_t)off, (const char *)msg);
        return NULL;
    }
    pcre2_code_free(re);
    size_t cap = len * 8 + 1, n = 0;
    char *rw = malloc(cap);
    if (!rw) {
        SET_ERR("out of memory");
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (pattern[i] == '\\' && i + 1 < len) {
            char c = pattern[++i];
            if (c == 's' || c == 'S') {
                n += (size_t)sprintf(rw + n, "\\%c{White_Space}", c == 's' ? 'p' : 'P');
            } else if (c == 'Q') { /* quoted text stays as it is, up to \E */
                const char *e = NULL;
                for (size_t j = i + 1; j + 1 < len; j++)
                    if (pattern[j] == '\\' && pattern[j + 1] == 'E') {
                        e = pattern + j;
                        break;
                    }
                size_t stop = e ? (size_t)(e - pattern) + 2 : len;
                rw[n++] = '\\';
                memcpy(rw + n, pattern + i, stop - i);
                n += stop - i;
                i = stop - 1;
            } else {
                rw[n++] = '\\';
                rw[n++] = c;
            }
        } else {
            rw[n++] = pattern[i];
        }
    }
    re = pcre2_compile((PCRE2_SPTR)rw, n, opts, &code, &off, NULL);
    free(rw);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        SET_ERR("regex rejected after mapping \\s to White_Space (offset %zu): %s", (size_t)off, (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter gives the same matches */
    return re;
}

static bool add_split_stage(iopo_tokenizer *t, const char *pattern, size_t len, const char *where, char *err,
                            size_t errlen) {
    if (t->n_stages == TOK_MAX_STAGES) {
        SET_ERR("%s: %s: more than %d pre-tokenizer steps", t->path, where, TOK_MAX_STAGES);
        return false;
    }
    char msg[320];
    pcre2_code *re = tok_regex_compile(pattern, len, msg, sizeof msg);
    if (!re) {
        SET_ERR("%s: %s: %s", t->path, where, msg);
        return false;
    }
    t->stages[t->n_stages++] = (tok_stage){STAGE_SPLIT, re};
    return true;
}

/* ---- shared finishing steps ---- */

static bool check_id(const iopo_tokenizer *t, double v, const char *what, const char *name, char *err, size_t errlen) {
    long id;
    if (iopo_num_to_long(v, 0, TOK_MAX_ID - 1, &id) != IOPO_NUM_OK) {
        SET_ERR("%s: %s '%s': id %g is not an integer in [0, %d)", t->path, what, name, v, TOK_MAX_ID);
        return false;
    }
    return true;
}

static char *dup_mem(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool add_merge(iopo_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, const char *where,
                      char *err, size_t errlen) {
    int32_t ia = tok_vocab_find(t, a, na), ib = tok_vocab_find(t, b, nb);
    if (ia < 0 || ib < 0) {
        SET_ERR("%s: %s: '%.*s' is not in the vocabulary", t->path, where, (int)(ia < 0 ? na : nb), ia < 0 ? a : b);
        return false;
    }
    char stack[256], *ab = na + nb <= sizeof stack ? stack : malloc(na + nb);
    if (!ab) {
        SET_ERR("%s: out of memory", t->path);
        return false;
    }
    memcpy(ab, a, na);
    memcpy(ab + na, b, nb);
    int32_t merged = tok_vocab_find(t, ab, na + nb);
    if (merged < 0)
        SET_ERR("%s: %s: the merged token '%.*s' is not in the vocabulary", t->path, where, (int)(na + nb), ab);
    if (ab != stack) free(ab);
    if (merged < 0) return false;
    tok_merges_insert(t, ia, ib, merged);
    return true;
}

/* Byte-level decoding of a vocabulary string; a string with a character outside the 256-character alphabet decodes
 * to its own UTF-8 bytes (what the Hugging Face ByteLevel decoder does). */
static bool decode_token(const char *s, size_t n, uint8_t **out, uint32_t *nout) {
    uint8_t *b = malloc(n + 1);
    if (!b) return false;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tok_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int byte = l ? tok_char_to_byte(cp) : -1;
        if (byte < 0) {
            memcpy(b, s, n);
            k = n;
            break;
        }
        b[k++] = (uint8_t)byte;
        i += l;
    }
    *out = b;
    *nout = (uint32_t)k;
    return true;
}

static int cmp_added_len(const void *pa, const void *pb, void *ctx) {
    const tok_added *a = ctx;
    int x = *(const int *)pa, y = *(const int *)pb;
    if (a[x].len != a[y].len) return a[x].len > a[y].len ? -1 : 1;
    return x - y;
}

/* Id tables, decoded bytes, the byte alphabet and the added-token index, once vocabulary and added tokens are in. */
static bool finish(iopo_tokenizer *t, int32_t max_id, char *err, size_t errlen) {
    t->n_ids = max_id + 1;
    t->tok_bytes = calloc((size_t)t->n_ids, sizeof *t->tok_bytes);
    t->tok_nbytes = calloc((size_t)t->n_ids, sizeof *t->tok_nbytes);
    if (!t->tok_bytes || !t->tok_nbytes) goto oom;
    for (uint32_t i = 0; i < t->vocab_cap; i++) {
        const struct tok_vocab_entry *e = &t->vocab_slots[i];
        if (!e->key || t->tok_bytes[e->id]) continue; /* two strings with one id: either decodes it */
        if (!decode_token(e->key, e->len, &t->tok_bytes[e->id], &t->tok_nbytes[e->id])) goto oom;
    }
    for (int i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        free(t->tok_bytes[a->id]);
        t->tok_bytes[a->id] = (uint8_t *)dup_mem(a->content, a->len);
        if (!t->tok_bytes[a->id]) goto oom;
        t->tok_nbytes[a->id] = (uint32_t)a->len;
    }
    for (int b = 0; b < 256; b++) {
        char c[4];
        size_t n = tok_utf8_encode(tok_byte_char((uint8_t)b), c);
        t->byte_id[b] = tok_vocab_find(t, c, n);
    }
    for (int b = 0; b < 256; b++) t->added_first[b] = -1;
    if (t->n_added) {
        int *order = malloc((size_t)t->n_added * sizeof *order);
        if (!order) goto oom;
        for (int i = 0; i < t->n_added; i++) order[i] = i;
        qsort_r(order, (size_t)t->n_added, sizeof *order, cmp_added_len, t->added);
        for (int k = t->n_added - 1; k >= 0; k--) { /* prepend in reverse: each list ends up longest first */
            tok_added *a = &t->added[order[k]];
            uint8_t f = (uint8_t)a->content[0];
            a->next_same_first = t->added_first[f];
            t->added_first[f] = order[k];
        }
        free(order);
    }
    return true;
oom:
    SET_ERR("%s: out of memory", t->path);
    return false;
}

static bool add_added(iopo_tokenizer *t, const char *content, int32_t id, bool special, bool lstrip, bool rstrip,
                      bool single_word, char *err, size_t errlen) {
    tok_added *na = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *na);
    if (!na) {
        SET_ERR("%s: out of memory", t->path);
        return false;
    }
    t->added = na;
    tok_added *a = &t->added[t->n_added];
    *a = (tok_added){.len = strlen(content),
                     .id = id,
                     .special = special,
                     .lstrip = lstrip,
                     .rstrip = rstrip,
                     .single_word = single_word};
    a->content = dup_mem(content, a->len);
    if (!a->content) {
        SET_ERR("%s: out of memory", t->path);
        return false;
    }
    t->n_added++;
    return true;
}

/* Reads {token: id} into the vocabulary table; returns the largest id or -1. */
static int32_t read_vocab(iopo_tokenizer *t, const cJSON *vocab, const char *what, char *err, size_t errlen) {
    int n = cJSON_GetArraySize(vocab);
    if (!tok_vocab_alloc(t, (uint32_t)n)) {
        SET_ERR("%s: out of memory", t->path);
        return -1;
    }
    int32_t max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e)) {
            SET_ERR("%s: %s '%s': the id is not a number", t->path, what, e->string);
            return -1;
        }
        if (!check_id(t, e->valuedouble, what, e->string, err, errlen)) return -1;
        int32_t id = (int32_t)e->valuedouble;
        if (!e->string[0]) {
            SET_ERR("%s: %s: empty token string (id %d)", t->path, what, id);
            return -1;
        }
        if (!tok_vocab_insert(t, e->string, strlen(e->string), id)) {
            SET_ERR("%s: %s: token '%s' appears twice", t->path, what, e->string);
            return -1;
        }
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) SET_ERR("%s: %s is empty", t->path, what);
    return max_id;
}

static bool json_bool(const cJSON *obj, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *json_type(const cJSON *obj) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- tokenizer.json ---- */

static bool add_pretokenizer(iopo_tokenizer *t, const cJSON *p, const char *where, bool *byte_level, char *err,
                             size_t errlen) {
    const char *type = json_type(p);
    char sub[160];
    if (!type) {
        SET_ERR("%s: %s has no \"type\"", t->path, where);
        return false;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) {
            SET_ERR("%s: %s: Sequence without a \"pretokenizers\" array", t->path, where);
            return false;
        }
        int i = 0;
        for (const cJSON *e = list->child; e; e = e->next, i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", where, i);
            if (!add_pretokenizer(t, e, sub, byte_level, err, errlen)) return false;
        }
        return true;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (*byte_level) {
            SET_ERR("%s: %s: a second ByteLevel pre-tokenizer would map the bytes twice", t->path, where);
            return false;
        }
        *byte_level = true;
        if (json_bool(p, "add_prefix_space", false)) {
            if (t->n_stages == TOK_MAX_STAGES) {
                SET_ERR("%s: %s: more than %d pre-tokenizer steps", t->path, where, TOK_MAX_STAGES);
                return false;
            }
            t->stages[t->n_stages++] = (tok_stage){STAGE_PREFIX_SPACE, NULL};
        }
        if (json_bool(p, "use_regex", true) &&
            !add_split_stage(t, GPT2_PATTERN, strlen(GPT2_PATTERN), where, err, errlen))
            return false;
        return true;
    }
    if (strcmp(type, "Split") == 0) {
        if (*byte_level) {
            SET_ERR("%s: %s: Split after ByteLevel (it would see the byte-level characters) is not supported", t->path,
                    where);
            return false;
        }
        const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated") != 0) {
            SET_ERR("%s: %s: Split behavior '%s' is not supported (only \"Isolated\")", t->path, where,
                    cJSON_IsString(behavior) ? behavior->valuestring : "?");
            return false;
        }
        if (json_bool(p, "invert", false)) {
            SET_ERR("%s: %s: Split with invert true is not supported", t->path, where);
            return false;
        }
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
        snprintf(sub, sizeof sub, "%s.pattern.%s", where, cJSON_IsString(re) ? "Regex" : "String");
        if (cJSON_IsString(re)) return add_split_stage(t, re->valuestring, strlen(re->valuestring), sub, err, errlen);
        if (cJSON_IsString(str) && str->valuestring[0]) {
            /* A literal: every ASCII punctuation character escaped, the rest as it is. */
            size_t n = strlen(str->valuestring), k = 0;
            char *lit = malloc(2 * n + 1);
            if (!lit) {
                SET_ERR("%s: out of memory", t->path);
                return false;
            }
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)str->valuestring[i];
                if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                    lit[k++] = '\\';
                lit[k++] = (char)c;
            }
            bool ok = add_split_stage(t, lit, k, sub, err, errlen);
            free(lit);
            return ok;
        }
        SET_ERR("%s: %s: Split needs a pattern {\"Regex\": ...} or {\"String\": ...}", t->path, where);
        return false;
    }
    SET_ERR("%s: %s: pre-tokenizer type '%s' is not supported (ByteLevel, Split and Sequence are)", t->path, where,
            type);
    return false;
}

static bool add_normalizer(iopo_tokenizer *t, const cJSON *n, const char *where, char *err, size_t errlen) {
    if (!n || cJSON_IsNull(n)) return true;
    const char *type = json_type(n);
    if (type && strcmp(type, "NFC") == 0) {
        t->nfc = true;
        return true;
    }
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        int i = 0;
        char sub[160];
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next, i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", where, i);
            if (!add_normalizer(t, e, sub, err, errlen)) return false;
        }
        return true;
    }
    SET_ERR("%s: %s: normalizer '%s' is not supported (only NFC)", t->path, where, type ? type : "?");
    return false;
}

static bool load_hf(iopo_tokenizer *t, const cJSON *root, char *err, size_t errlen) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) {
        SET_ERR("%s: \"model\" is not an object", t->path);
        return false;
    }
    const char *type = json_type(model);
    if (type && strcmp(type, "BPE") != 0) {
        SET_ERR("%s: model.type is '%s'; only BPE is supported", t->path, type);
        return false;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab)) {
        SET_ERR("%s: model.vocab is missing or not an object", t->path);
        return false;
    }
    if (merges && !cJSON_IsArray(merges)) {
        SET_ERR("%s: model.merges is not an array", t->path);
        return false;
    }
    if (json_bool(model, "byte_fallback", false)) {
        SET_ERR("%s: model.byte_fallback is true: not a byte-level BPE tokenizer", t->path);
        return false;
    }
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && !a->valuestring[0])) {
            SET_ERR("%s: model.%s is set: not a byte-level BPE tokenizer", t->path, affixes[i]);
            return false;
        }
    }
    t->ignore_merges = json_bool(model, "ignore_merges", false);
    int32_t max_id = read_vocab(t, vocab, "model.vocab", err, errlen);
    if (max_id < 0) return false;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) t->unk_id = tok_vocab_find(t, unk->valuestring, strlen(unk->valuestring));

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
        SET_ERR("%s: added_tokens is not an array", t->path);
        return false;
    }
    int i = 0;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content) || !content->valuestring[0]) {
            SET_ERR("%s: added_tokens[%d]: needs a numeric \"id\" and a non-empty \"content\"", t->path, i);
            return false;
        }
        if (!check_id(t, id->valuedouble, "added token", content->valuestring, err, errlen)) return false;
        if (!add_added(t, content->valuestring, (int32_t)id->valuedouble, json_bool(a, "special", false),
                       json_bool(a, "lstrip", false), json_bool(a, "rstrip", false), json_bool(a, "single_word", false),
                       err, errlen))
            return false;
        if ((int32_t)id->valuedouble > max_id) max_id = (int32_t)id->valuedouble;
    }

    if (!tok_merges_alloc(t, (uint32_t)cJSON_GetArraySize(merges))) {
        SET_ERR("%s: out of memory", t->path);
        return false;
    }
    i = 0;
    char where[64];
    for (const cJSON *m = merges ? merges->child : NULL; m; m = m->next, i++) {
        snprintf(where, sizeof where, "model.merges[%d]", i);
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
                SET_ERR("%s: %s: '%s' is not two tokens separated by one space", t->path, where, s);
                return false;
            }
            if (!add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), where, err, errlen)) return false;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            if (!add_merge(t, a, strlen(a), b, strlen(b), where, err, errlen)) return false;
        } else {
            SET_ERR("%s: %s: a merge is \"a b\" or [\"a\", \"b\"]", t->path, where);
            return false;
        }
    }

    if (!add_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer", err, errlen))
        return false;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    bool byte_level = false;
    if (pre && !cJSON_IsNull(pre) && !add_pretokenizer(t, pre, "pre_tokenizer", &byte_level, err, errlen)) return false;
    if (!byte_level) {
        SET_ERR("%s: pre_tokenizer has no ByteLevel step: not a byte-level BPE tokenizer", t->path);
        return false;
    }
    return finish(t, max_id, err, errlen);
}

/* ---- encoder.json + vocab.bpe ---- */

static bool load_gpt2(iopo_tokenizer *t, const cJSON *encoder, const char *bpe_path, char *err, size_t errlen) {
    int32_t max_id = read_vocab(t, encoder, "token", err, errlen);
    if (max_id < 0) return false;
    size_t len;
    char *text = iopo_read_file(bpe_path, &len, err, errlen);
    if (!text) return false;
    uint32_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    bool ok = tok_merges_alloc(t, lines);
    if (!ok) SET_ERR("%s: out of memory", bpe_path);
    char *line = text;
    char where[64];
    for (uint32_t ln = 1; ok && line < text + len; ln++) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        if (n && line[n - 1] == '\r') n--;
        /* The first line is a version comment ("#version: 0.2"); blank lines carry nothing. */
        if (n && !(ln == 1 && line[0] == '#')) {
            char *sp = memchr(line, ' ', n);
            if (!sp || sp == line || sp == line + n - 1 || memchr(sp + 1, ' ', (size_t)(line + n - sp - 1))) {
                SET_ERR("%s: line %u: '%.*s' is not two tokens separated by one space", bpe_path, ln,
                        (int)(n > 60 ? 60 : n), line);
                ok = false;
                break;
            }
            snprintf(where, sizeof where, "line %u", ln);
            /* Messages name vocab.bpe, where the merge is written. */
            char *saved = t->path;
            t->path = (char *)bpe_path;
            ok = add_merge(t, line, (size_t)(sp - line), sp + 1, (size_t)(line + n - sp - 1), where, err, errlen);
            t->path = saved;
        }
        line = nl ? nl + 1 : text + len;
    }
    free(text);
    if (!ok) return false;
    /* GPT-2's one special token: Hugging Face's GPT-2 tokenizer treats it as such. */
    int32_t eot = tok_vocab_find(t, "<|endoftext|>", 13);
    if (eot >= 0 && !add_added(t, "<|endoftext|>", eot, true, false, false, false, err, errlen)) return false;
    if (!add_split_stage(t, GPT2_PATTERN, strlen(GPT2_PATTERN), "GPT-2 pattern", err, errlen)) return false;
    return finish(t, max_id, err, errlen);
}

/* ---- entry point ---- */

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static bool exists(const char *p) { return access(p, F_OK) == 0; }

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

iopo_tokenizer *iopo_tokenizer_load(const char *path, char *err, size_t errlen) {
    char *file = NULL, *bpe = NULL, *text = NULL;
    cJSON *root = NULL;
    iopo_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        SET_ERR("%s: out of memory", path);
        return NULL;
    }
    t->unk_id = -1;
    if (is_dir(path)) {
        file = join(path, "tokenizer.json");
        if (file && !exists(file)) {
            free(file);
            file = join(path, "encoder.json");
            if (file && !exists(file)) {
                SET_ERR("%s: directory holds neither tokenizer.json nor encoder.json + vocab.bpe", path);
                goto fail;
            }
        }
    } else {
        file = dup_mem(path, strlen(path));
    }
    if (!file) {
        SET_ERR("%s: out of memory", path);
        goto fail;
    }
    t->path = file;
    size_t len;
    text = iopo_read_file(file, &len, err, errlen);
    if (!text) goto fail;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        SET_ERR("%s: not valid JSON (error near byte %zu)", file, at);
        goto fail;
    }
    free(text);
    text = NULL;
    if (!cJSON_IsObject(root)) {
        SET_ERR("%s: not a JSON object", file);
        goto fail;
    }
    /* GPT-2's encoder.json has a token "model" too, with an id as its value. */
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNumber(model)) {
        if (!load_hf(t, root, err, errlen)) goto fail;
    } else {
        /* No "model": GPT-2's encoder.json, with vocab.bpe in the same directory. */
        for (const cJSON *e = root->child; e; e = e->next)
            if (!cJSON_IsNumber(e)) {
                SET_ERR("%s: neither a tokenizer.json (no \"model\") nor an encoder.json (\"%s\" is not an id)", file,
                        e->string);
                goto fail;
            }
        const char *slash = strrchr(file, '/');
        if (slash) {
            char *dir = dup_mem(file, (size_t)(slash - file));
            bpe = dir ? join(dir, "vocab.bpe") : NULL;
            free(dir);
        } else {
            bpe = dup_mem("vocab.bpe", 9);
        }
        if (!bpe) {
            SET_ERR("%s: out of memory", file);
            goto fail;
        }
        if (!exists(bpe)) {
            SET_ERR("%s: an encoder.json needs vocab.bpe beside it (%s: %s)", file, bpe, strerror(ENOENT));
            goto fail;
        }
        if (!load_gpt2(t, root, bpe, err, errlen)) goto fail;
    }
    cJSON_Delete(root);
    free(bpe);
    return t;
fail:
    cJSON_Delete(root);
    free(text);
    free(bpe);
    if (!t->path) free(file);
    iopo_tokenizer_free(t);
    return NULL;
}
