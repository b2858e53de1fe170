/* Encode and decode. Encoding follows the Hugging Face pipeline: added tokens are cut out of the raw text first;
 * each stretch between them is normalized (NFC, when the tokenizer asks for it), split by the pre-tokenizer steps in
 * order (each step splitting every piece the previous one made, matches and the text between them both kept), and
 * every final piece is BPE-encoded over its bytes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#ifdef IOPO_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#endif

#define SET_ERR(...)                                                                                                   \
    do {                                                                                                               \
        if (err && errlen) snprintf(err, errlen, __VA_ARGS__);                                                         \
    } while (0)

typedef struct enc {
    const iopo_tokenizer *t;
    tok_bpe_scratch *scratch;
    pcre2_match_data *md[TOK_MAX_STAGES];
    tok_ids out;
    char *err;
    size_t errlen;
} enc;

static bool run_stage(enc *e, int k, const uint8_t *s, size_t n) {
    char *err = e->err;
    size_t errlen = e->errlen;
    if (n == 0) return true;
    if (k == e->t->n_stages) return tok_bpe_piece(e->t, e->scratch, s, n, &e->out, err, errlen);
    const tok_stage *st = &e->t->stages[k];
    if (st->kind == STAGE_PREFIX_SPACE) {
        if (s[0] == ' ') return run_stage(e, k + 1, s, n);
        uint8_t *b = malloc(n + 1);
        if (!b) {
            SET_ERR("%s: out of memory while encoding", e->t->path);
            return false;
        }
        b[0] = ' ';
        memcpy(b + 1, s, n);
        bool ok = run_stage(e, k + 1, b, n + 1);
        free(b);
        return ok;
    }
    size_t pos = 0, start = 0;
    while (start < n) {
        int rc = pcre2_match(st->re, s, n, start, 0, e->md[k], NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[200];
            pcre2_get_error_message(rc, msg, sizeof msg);
            SET_ERR("%s: pre-tokenizer regex failed: %s", e->t->path, (const char *)msg);
            return false;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md[k]);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* an empty match splits nothing: look again one character on */
            uint32_t cp;
            size_t l = tok_utf8_decode(s + start, n - start, &cp);
            start += l ? l : 1;
            continue;
        }
        if (ms > pos && !run_stage(e, k + 1, s + pos, ms - pos)) return false;
        if (!run_stage(e, k + 1, s + ms, me - ms)) return false;
        pos = start = me;
    }
    return pos < n ? run_stage(e, k + 1, s + pos, n - pos) : true;
}

#ifdef IOPO_HAVE_ICU
/* NFC of one valid UTF-8 run, appended to *buf. */
static bool nfc_run(const uint8_t *s, size_t n, char **buf, size_t *bn, size_t *bcap) {
    UErrorCode st = U_ZERO_ERROR;
    int32_t n16 = 0;
    u_strFromUTF8(NULL, 0, &n16, (const char *)s, (int32_t)n, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st)) return false;
    st = U_ZERO_ERROR;
    const UNormalizer2 *nfc = unorm2_getNFCInstance(&st);
    /* NFC can grow text by at most a factor of 3 (UAX #15). */
    UChar *src = malloc(((size_t)n16 * 4 + 1) * sizeof(UChar));
    if (!src || U_FAILURE(st)) {
        free(src);
        return false;
    }
    UChar *dst = src + n16;
    u_strFromUTF8(src, n16, NULL, (const char *)s, (int32_t)n, &st);
    int32_t nd = unorm2_normalize(nfc, src, n16, dst, n16 * 3 + 1, &st);
    int32_t n8 = 0;
    if (U_SUCCESS(st)) {
        u_strToUTF8(NULL, 0, &n8, dst, nd, &st);
        if (st == U_BUFFER_OVERFLOW_ERROR) st = U_ZERO_ERROR;
    }
    if (U_SUCCESS(st) && *bn + (size_t)n8 + 1 > *bcap) {
        size_t cap = (*bn + (size_t)n8 + 1) * 2;
        char *nb = realloc(*buf, cap);
        if (!nb)
            st = U_MEMORY_ALLOCATION_ERROR;
        else
            *buf = nb, *bcap = cap;
    }
    if (U_SUCCESS(st)) u_strToUTF8(*buf + *bn, n8 + 1, NULL, dst, nd, &st);
    free(src);
    if (U_FAILURE(st)) return false;
    *bn += (size_t)n8;
    return true;
}
#endif

/* NFC-normalizes s into a malloc'd *out (left NULL when s is already NFC). Invalid UTF-8 bytes are kept as they are
 * and the valid runs between them are normalized on their own. */
static bool nfc(const iopo_tokenizer *t, const uint8_t *s, size_t n, char **out, size_t *nout, char *err,
                size_t errlen) {
    *out = NULL;
    /* Below U+0300 every character is NFC-stable and composes with nothing before it: no lead byte >= 0xCC. */
    size_t i = 0;
    while (i < n && s[i] < 0xCC) i++;
    if (i == n) return true;
#ifdef IOPO_HAVE_ICU
    if (n > (size_t)INT32_MAX / 4) {
        SET_ERR("%s: a %zu-byte stretch of text is too long to NFC-normalize in one piece", t->path, n);
        return false;
    }
    size_t bn = 0, bcap = n + 16;
    char *buf = malloc(bcap);
    if (!buf) goto oom;
    for (size_t p = 0; p < n;) {
        size_t q = p;
        uint32_t cp;
        for (size_t l; q < n && (l = tok_utf8_decode(s + q, n - q, &cp)) > 0;) q += l;
        if (q > p && !nfc_run(s + p, q - p, &buf, &bn, &bcap)) {
            free(buf);
            goto oom;
        }
        if (q < n) { /* one invalid byte, carried over */
            if (bn + 2 > bcap) {
                char *nb = realloc(buf, bcap * 2);
                if (!nb) {
                    free(buf);
                    goto oom;
                }
                buf = nb, bcap *= 2;
            }
            buf[bn++] = (char)s[q++];
        }
        p = q;
    }
    *out = buf;
    *nout = bn;
    return true;
oom:
    SET_ERR("%s: NFC normalization failed (out of memory)", t->path);
    return false;
#else
    (void)nout;
    SET_ERR("%s: the tokenizer normalizes to NFC, and this build has no ICU to do it for non-Latin text", t->path);
    return false;
#endif
}

static bool encode_segment(enc *e, const uint8_t *s, size_t n) {
    if (n == 0) return true;
    if (!e->t->nfc) return run_stage(e, 0, s, n);
    char *norm;
    size_t nn;
    if (!nfc(e->t, s, n, &norm, &nn, e->err, e->errlen)) return false;
    bool ok = norm ? run_stage(e, 0, (const uint8_t *)norm, nn) : run_stage(e, 0, s, n);
    free(norm);
    return ok;
}

/* Unicode White_Space (what Hugging Face's lstrip/rstrip remove). */
static bool is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
static bool is_word_byte(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* The added token matching at s[i] (the longest one), or NULL. */
static const tok_added *added_at(const iopo_tokenizer *t, const uint8_t *s, size_t n, size_t i, bool special) {
    for (int k = t->added_first[s[i]]; k >= 0; k = t->added[k].next_same_first) {
        const tok_added *a = &t->added[k];
        if ((a->special && !special) || a->len > n - i || memcmp(s + i, a->content, a->len) != 0) continue;
        /* single_word tokens only stand alone (checked on ASCII word characters). */
        if (a->single_word && ((i > 0 && is_word_byte(s[i - 1])) || (i + a->len < n && is_word_byte(s[i + a->len]))))
            continue;
        return a;
    }
    return NULL;
}

long iopo_tokenizer_encode(const iopo_tokenizer *t, const char *text, size_t len, bool special, int32_t **ids,
                           char *err, size_t errlen) {
    *ids = NULL;
    enc e = {.t = t, .err = err, .errlen = errlen};
    const uint8_t *s = (const uint8_t *)text;
    bool ok = (e.scratch = tok_bpe_scratch_new()) != NULL;
    for (int k = 0; ok && k < t->n_stages; k++)
        if (t->stages[k].re) ok = (e.md[k] = pcre2_match_data_create_from_pattern(t->stages[k].re, NULL)) != NULL;
    if (!ok) SET_ERR("%s: out of memory while encoding", t->path);
    size_t seg = 0;
    for (size_t i = 0; ok && i < len;) {
        const tok_added *a = t->n_added && t->added_first[s[i]] >= 0 ? added_at(t, s, len, i, special) : NULL;
        if (!a) {
            i++;
            continue;
        }
        size_t ms = i, me = i + a->len;
        uint32_t cp;
        while (a->lstrip && ms > seg) { /* step back one UTF-8 character while it is whitespace */
            size_t b = ms - 1;
            while (b > seg && (s[b] & 0xC0) == 0x80 && ms - b < 4) b--;
            if (tok_utf8_decode(s + b, ms - b, &cp) != ms - b || !is_ws(cp)) break;
            ms = b;
        }
        for (size_t l; a->rstrip && (l = tok_utf8_decode(s + me, len - me, &cp)) > 0 && is_ws(cp);) me += l;
        ok = encode_segment(&e, s + seg, ms - seg);
        if (ok && !(ok = tok_ids_push(&e.out, a->id))) SET_ERR("%s: out of memory while encoding", t->path);
        seg = i = me;
    }
    if (ok) ok = encode_segment(&e, s + seg, len - seg);
    for (int k = 0; k < t->n_stages; k++) pcre2_match_data_free(e.md[k]);
    tok_bpe_scratch_free(e.scratch);
    if (ok && !e.out.v) ok = (e.out.v = malloc(sizeof(int32_t))) != NULL;
    if (!ok) {
        free(e.out.v);
        return -1;
    }
    *ids = e.out.v;
    return (long)e.out.n;
}

char *iopo_tokenizer_decode(const iopo_tokenizer *t, const int32_t *ids, size_t n, size_t *len, char *err,
                            size_t errlen) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids || !t->tok_bytes[ids[i]]) {
            SET_ERR("%s: id %d (position %zu) is not in the vocabulary (ids 0..%d)", t->path, ids[i], i, t->n_ids - 1);
            return NULL;
        }
        total += t->tok_nbytes[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out) {
        SET_ERR("%s: out of memory for %zu bytes of text", t->path, total + 1);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + k, t->tok_bytes[ids[i]], t->tok_nbytes[ids[i]]);
        k += t->tok_nbytes[ids[i]];
    }
    out[k] = 0;
    if (len) *len = k;
    return out;
}

int iopo_tokenizer_vocab_size(const iopo_tokenizer *t) { return t->n_ids; }

int32_t iopo_tokenizer_token_id(const iopo_tokenizer *t, const char *token) {
    for (int i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].content, token) == 0) return t->added[i].id;
    return tok_vocab_find(t, token, strlen(token));
}
