/* The BPE merge engine: vocabulary and merge hash tables, the byte-level alphabet, and the merge loop for one
 * pre-token. The loop keeps the candidate pairs in a min-heap by (rank, position): the lowest-ranked pair is merged
 * first and, among equal ranks, the leftmost, which is the order the reference implementations merge in. A per-call
 * cache remembers the ids of every short pre-token already seen, since natural text repeats its words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define SET_ERR(...)                                                                                                   \
    do {                                                                                                               \
        if (err && errlen) snprintf(err, errlen, __VA_ARGS__);                                                         \
    } while (0)

static bool printable_byte(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t tok_byte_char(uint8_t b) {
    if (printable_byte(b)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++) n += !printable_byte(x);
    return 256 + n;
}

int tok_char_to_byte(uint32_t cp) {
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!printable_byte(x) && n-- == 0) return (int)x;
    return -1;
}

size_t tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

size_t tok_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

uint64_t tok_hash(const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ---- vocabulary: string -> id ---- */

bool tok_vocab_alloc(iopo_tokenizer *t, uint32_t n_entries) {
    t->vocab_cap = pow2_at_least((uint64_t)n_entries * 2);
    t->vocab_slots = calloc(t->vocab_cap, sizeof *t->vocab_slots);
    return t->vocab_slots != NULL;
}

bool tok_vocab_insert(iopo_tokenizer *t, const char *s, size_t len, int32_t id) {
    uint32_t mask = t->vocab_cap - 1;
    for (uint32_t i = (uint32_t)tok_hash(s, len) & mask;; i = (i + 1) & mask) {
        struct tok_vocab_entry *e = &t->vocab_slots[i];
        if (!e->key) {
            e->key = malloc(len + 1);
            if (!e->key) return false;
            memcpy(e->key, s, len);
            e->key[len] = 0;
            e->len = (uint32_t)len;
            e->id = id;
            t->n_vocab++;
            return true;
        }
        if (e->len == len && memcmp(e->key, s, len) == 0) return false;
    }
}

int32_t tok_vocab_find(const iopo_tokenizer *t, const char *s, size_t len) {
    if (!t->vocab_cap) return -1;
    uint32_t mask = t->vocab_cap - 1;
    for (uint32_t i = (uint32_t)tok_hash(s, len) & mask;; i = (i + 1) & mask) {
        const struct tok_vocab_entry *e = &t->vocab_slots[i];
        if (!e->key) return -1;
        if (e->len == len && memcmp(e->key, s, len) == 0) return e->id;
    }
}

/* ---- merges: (left, right) -> (rank, merged id) ---- */

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
static uint32_t pair_hash(uint64_t k) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32); }

bool tok_merges_alloc(iopo_tokenizer *t, uint32_t n_merges) {
    t->merge_cap = pow2_at_least((uint64_t)n_merges * 2);
    t->merge_keys = malloc(t->merge_cap * sizeof *t->merge_keys);
    t->merge_rank = malloc(t->merge_cap * sizeof *t->merge_rank);
    t->merge_new = malloc(t->merge_cap * sizeof *t->merge_new);
    if (!t->merge_keys || !t->merge_rank || !t->merge_new) return false;
    memset(t->merge_keys, 0xFF, t->merge_cap * sizeof *t->merge_keys);
    return true;
}

void tok_merges_insert(iopo_tokenizer *t, int32_t a, int32_t b, int32_t new_id) {
    uint64_t k = pair_key(a, b);
    uint32_t mask = t->merge_cap - 1, rank = t->n_merges++;
    for (uint32_t i = pair_hash(k) & mask;; i = (i + 1) & mask) {
        if (t->merge_keys[i] == UINT64_MAX || t->merge_keys[i] == k) {
            t->merge_keys[i] = k;
            t->merge_rank[i] = rank;
            t->merge_new[i] = new_id;
            return;
        }
    }
}

static inline bool merge_find(const iopo_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *new_id) {
    if (!t->merge_cap) return false;
    uint64_t k = pair_key(a, b);
    uint32_t mask = t->merge_cap - 1;
    for (uint32_t i = pair_hash(k) & mask;; i = (i + 1) & mask) {
        if (t->merge_keys[i] == UINT64_MAX) return false;
        if (t->merge_keys[i] == k) {
            *rank = t->merge_rank[i];
            *new_id = t->merge_new[i];
            return true;
        }
    }
}

/* ---- the merge loop ---- */

bool tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 256;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) return false;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return true;
}

typedef struct sym {
    int32_t id, prev, next; /* prev == -2 marks a symbol merged into its left neighbour */
} sym;
typedef struct cand {
    uint32_t rank, pos;
    int32_t new_id;
} cand;
typedef struct cache_entry {
    uint64_t hash;
    size_t key_off, ids_off;
    uint32_t key_len, n_ids; /* key_len == 0: empty slot (empty pieces are never cached) */
} cache_entry;

/* Pieces longer than this are rare and unlikely to repeat; the cache stops growing past CACHE_MAX entries. */
#define CACHE_MAX_KEY 96
#define CACHE_MAX (1u << 20)

struct tok_bpe_scratch {
    sym *syms;
    cand *heap;
    size_t cap, heap_n;
    char *bl; /* byte-level form of a piece, for ignore_merges */
    size_t bl_cap;
    cache_entry *cache;
    uint32_t cache_cap, cache_n;
    uint8_t *keys;
    size_t keys_n, keys_cap;
    tok_ids cids;
};

tok_bpe_scratch *tok_bpe_scratch_new(void) { return calloc(1, sizeof(tok_bpe_scratch)); }

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    if (!s) return;
    free(s->syms);
    free(s->heap);
    free(s->bl);
    free(s->cache);
    free(s->keys);
    free(s->cids.v);
    free(s);
}

static bool cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(tok_bpe_scratch *s, cand c) {
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = c;
}

static cand heap_pop(tok_bpe_scratch *s) {
    cand top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const cand *best = &last;
        if (l < n && cand_less(&s->heap[l], best)) m = l, best = &s->heap[l];
        if (l + 1 < n && cand_less(&s->heap[l + 1], best)) m = l + 1;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = last;
    return top;
}

static void push_pair(const iopo_tokenizer *t, tok_bpe_scratch *s, int32_t left, int32_t right) {
    uint32_t rank;
    int32_t new_id;
    if (merge_find(t, s->syms[left].id, s->syms[right].id, &rank, &new_id))
        heap_push(s, (cand){rank, (uint32_t)left, new_id});
}

static const cache_entry *cache_find(const tok_bpe_scratch *s, uint64_t h, const uint8_t *key, size_t len) {
    if (!s->cache_cap) return NULL;
    uint32_t mask = s->cache_cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        const cache_entry *e = &s->cache[i];
        if (!e->key_len) return NULL;
        if (e->hash == h && e->key_len == len && memcmp(s->keys + e->key_off, key, len) == 0) return e;
    }
}

static void cache_place(tok_bpe_scratch *s, cache_entry e) {
    uint32_t mask = s->cache_cap - 1;
    uint32_t i = (uint32_t)e.hash & mask;
    while (s->cache[i].key_len) i = (i + 1) & mask;
    s->cache[i] = e;
}

/* Best effort: a failed allocation only means the piece is not remembered. */
static void cache_insert(tok_bpe_scratch *s, uint64_t h, const uint8_t *key, size_t len, const int32_t *ids, size_t n) {
    if (s->cache_n >= CACHE_MAX) return;
    if ((s->cache_n + 1) * 2 > s->cache_cap) {
        uint32_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
        cache_entry *old = s->cache, *nc = calloc(cap, sizeof *nc);
        if (!nc) return;
        uint32_t old_cap = s->cache_cap;
        s->cache = nc;
        s->cache_cap = cap;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i].key_len) cache_place(s, old[i]);
        free(old);
    }
    if (s->keys_n + len > s->keys_cap) {
        size_t cap = s->keys_cap ? s->keys_cap : 4096;
        while (cap < s->keys_n + len) cap *= 2;
        uint8_t *k = realloc(s->keys, cap);
        if (!k) return;
        s->keys = k;
        s->keys_cap = cap;
    }
    cache_entry e = {h, s->keys_n, s->cids.n, (uint32_t)len, (uint32_t)n};
    for (size_t i = 0; i < n; i++)
        if (!tok_ids_push(&s->cids, ids[i])) {
            s->cids.n = e.ids_off;
            return;
        }
    memcpy(s->keys + s->keys_n, key, len);
    s->keys_n += len;
    cache_place(s, e);
    s->cache_n++;
}

static bool grow_scratch(tok_bpe_scratch *s, size_t n) {
    if (n <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    sym *ns = realloc(s->syms, cap * sizeof *ns);
    if (!ns) return false;
    s->syms = ns;
    cand *nh = realloc(s->heap, cap * 3 * sizeof *nh); /* n - 1 initial pairs + 2 per merge */
    if (!nh) return false;
    s->heap = nh;
    s->cap = cap;
    return true;
}

bool tok_bpe_piece(const iopo_tokenizer *t, tok_bpe_scratch *s, const uint8_t *piece, size_t len, tok_ids *out,
                   char *err, size_t errlen) {
    if (len == 0) return true;
    uint64_t h = 0;
    bool cacheable = len <= CACHE_MAX_KEY;
    if (cacheable) {
        h = tok_hash(piece, len);
        const cache_entry *e = cache_find(s, h, piece, len);
        if (e) {
            for (uint32_t i = 0; i < e->n_ids; i++)
                if (!tok_ids_push(out, s->cids.v[e->ids_off + i])) goto oom;
            return true;
        }
    }
    size_t first = out->n;
    if (t->ignore_merges) {
        /* Llama 3 / Qwen style: a pre-token that is itself a vocabulary entry is that entry, whatever the merges
         * would have made of it. */
        if (s->bl_cap < len * 2 + 1) {
            char *b = realloc(s->bl, len * 2 + 1);
            if (!b) goto oom;
            s->bl = b;
            s->bl_cap = len * 2 + 1;
        }
        size_t bn = 0;
        for (size_t i = 0; i < len; i++) bn += tok_utf8_encode(tok_byte_char(piece[i]), s->bl + bn);
        int32_t id = tok_vocab_find(t, s->bl, bn);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto oom;
            goto done;
        }
    }
    if (!grow_scratch(s, len)) goto oom;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_id[piece[i]];
        if (id < 0) id = t->unk_id;
        if (id < 0) {
            SET_ERR("%s: byte 0x%02x has no token in the vocabulary (and there is no unk_token)", t->path, piece[i]);
            return false;
        }
        s->syms[i] = (sym){id, (int32_t)i - 1, i + 1 < len ? (int32_t)i + 1 : -1};
    }
    s->heap_n = 0;
    for (size_t i = 0; i + 1 < len; i++) push_pair(t, s, (int32_t)i, (int32_t)i + 1);
    while (s->heap_n) {
        cand c = heap_pop(s);
        sym *l = &s->syms[c.pos];
        if (l->prev == -2 || l->next < 0) continue;
        int32_t r = l->next;
        uint32_t rank;
        int32_t new_id;
        /* Entries go stale when a neighbour merged since they were pushed: the pair must still be there. */
        if (!merge_find(t, l->id, s->syms[r].id, &rank, &new_id) || rank != c.rank || new_id != c.new_id) continue;
        l->id = new_id;
        l->next = s->syms[r].next;
        if (l->next >= 0) s->syms[l->next].prev = (int32_t)c.pos;
        s->syms[r].prev = -2;
        if (l->prev >= 0) push_pair(t, s, l->prev, (int32_t)c.pos);
        if (l->next >= 0) push_pair(t, s, (int32_t)c.pos, l->next);
    }
    /* Symbol 0 is never merged away: merges keep the left symbol. */
    for (int32_t i = 0; i >= 0; i = s->syms[i].next)
        if (!tok_ids_push(out, s->syms[i].id)) goto oom;
done:
    if (cacheable) cache_insert(s, h, piece, len, out->v + first, out->n - first);
    return true;
oom:
    SET_ERR("%s: out of memory while encoding", t->path);
    return false;
}
