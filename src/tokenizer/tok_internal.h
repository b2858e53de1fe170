/* Private state of a byte-level BPE tokenizer, shared by the loader (load.c), the merge engine (bpe.c) and the
 * encode/decode pipeline (encode.c). */
#ifndef IOPO_TOK_INTERNAL_H
#define IOPO_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/tokenizer.h"

/* Ids are stored in flat arrays indexed by id, so a file claiming an absurd id is refused rather than allocated. */
#define TOK_MAX_ID (1 << 24)
/* A split stage never needs more regexes than this (Qwen/Llama use one Split; GPT-2 one ByteLevel). */
#define TOK_MAX_STAGES 8

typedef struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word;
    int next_same_first; /* next added token with the same first byte, longest first; -1 ends */
} tok_added;

/* One pre-tokenization step applied to every piece the previous step produced. */
typedef enum { STAGE_SPLIT, STAGE_PREFIX_SPACE } tok_stage_kind;
typedef struct tok_stage {
    tok_stage_kind kind;
    pcre2_code *re; /* STAGE_SPLIT: pieces are the matches and the text between them ("Isolated") */
} tok_stage;

struct iopo_tokenizer {
    char *path; /* for messages at encode/decode time */

    /* Vocabulary: byte-level token strings (as written in the file), and the raw bytes each decodes to. */
    int32_t n_ids;       /* largest id + 1 over the vocabulary and the added tokens */
    uint8_t **tok_bytes; /* [n_ids] decoded bytes (added tokens: their content), NULL for an unused id */
    uint32_t *tok_nbytes;
    uint32_t vocab_cap; /* string -> id open-addressing table, power of two; owns the strings */
    struct tok_vocab_entry {
        char *key; /* NULL = empty slot */
        uint32_t len;
        int32_t id;
    } *vocab_slots;
    uint32_t n_vocab;

    /* Merges: (left id, right id) -> rank and merged id. */
    uint32_t merge_cap;
    uint64_t *merge_keys; /* UINT64_MAX = empty */
    uint32_t *merge_rank;
    int32_t *merge_new;
    uint32_t n_merges;

    int32_t byte_id[256]; /* vocabulary id of the one-character token of each byte, or -1 */
    int32_t unk_id;       /* -1 if none */
    bool ignore_merges;

    tok_added *added;
    int n_added;
    int added_first[256]; /* first added token (longest first) starting with that byte, or -1 */

    bool nfc;
    tok_stage stages[TOK_MAX_STAGES];
    int n_stages;
};

/* The GPT-2 byte <-> character mapping: printable Latin-1 bytes map to themselves, the rest to U+0100 onward. */
uint32_t tok_byte_char(uint8_t b);
/* Character -> byte, or -1 for characters outside the 256-character alphabet. */
int tok_char_to_byte(uint32_t cp);
/* Decodes one UTF-8 character at s[0..n); returns its length (>= 1) or 0 if the bytes are not valid UTF-8. */
size_t tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
size_t tok_utf8_encode(uint32_t cp, char *out);

uint64_t tok_hash(const void *data, size_t len);
/* Vocabulary and merge tables (bpe.c). */
bool tok_vocab_alloc(iopo_tokenizer *t, uint32_t n_entries);
/* Inserts token string s (len bytes) -> id; false if the string is already present. */
bool tok_vocab_insert(iopo_tokenizer *t, const char *s, size_t len, int32_t id);
int32_t tok_vocab_find(const iopo_tokenizer *t, const char *s, size_t len);
bool tok_merges_alloc(iopo_tokenizer *t, uint32_t n_merges);
/* Adds merge (a, b) -> new_id with the next rank; a repeated pair takes its later rank, as the references' rank
 * tables (built by inserting in file order) do. */
void tok_merges_insert(iopo_tokenizer *t, int32_t a, int32_t b, int32_t new_id);

/* Scratch space for BPE-encoding pieces; one per encode call, so encoding is thread-safe on a shared tokenizer. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *ids, int32_t id);

typedef struct tok_bpe_scratch tok_bpe_scratch;
tok_bpe_scratch *tok_bpe_scratch_new(void);
void tok_bpe_scratch_free(tok_bpe_scratch *s);
/* Appends the ids of one pre-token (raw bytes) to out. False with a message on a byte with no token, or no memory. */
bool tok_bpe_piece(const iopo_tokenizer *t, tok_bpe_scratch *s, const uint8_t *piece, size_t len, tok_ids *out,
                   char *err, size_t errlen);

/* Compiles a split regex after rewriting \s and \S to Unicode White_Space, which is what the reference
 * implementations' regex engines mean by them (PCRE2's own \s also takes U+180E, a format character since Unicode
 * 6.3). NULL + message on a bad regex. */
pcre2_code *tok_regex_compile(const char *pattern, size_t len, char *err, size_t errlen);

#endif
