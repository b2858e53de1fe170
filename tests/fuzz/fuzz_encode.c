/* Encoding arbitrary bytes (valid UTF-8 or not) and decoding the ids back, with four tokenizers: the demo tokenizer
 * (ByteLevel with the GPT-2 regex), a Qwen2/Llama 3 style one (Sequence[Split(regex), ByteLevel(no regex)],
 * ignore_merges, ChatML added tokens), the same with the NFC normalizer, and encoder.json + vocab.bpe.
 * First input byte: bits 0-1 the tokenizer, bit 2 special-token matching; the rest is the text.
 * Invariants: ids lie in [0, vocab size); decode(encode(text)) is text byte for byte (without a normalizer; added
 * tokens here have no lstrip/rstrip), and with NFC the ids of the decoded text are the same ids (NFC is idempotent). */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (int k = 0; k < FZ_TOK_COUNT; k++) fz_tokenizer((fz_tok_kind)k);
    return 0;
}

static long encode(const iopo_tokenizer *tok, const char *text, size_t len, bool special, int32_t **ids) {
    char err[1024];
    long n = iopo_tokenizer_encode(tok, text, len, special, ids, err, sizeof err);
    FZ_CHECK(n >= 0, "encode failed on %zu bytes: %s", len, err);
    int vocab = iopo_tokenizer_vocab_size(tok);
    for (long i = 0; i < n; i++)
        FZ_CHECK((*ids)[i] >= 0 && (*ids)[i] < vocab, "id %d at %ld outside [0, %d)", (*ids)[i], i, vocab);
    FZ_CHECK(len == 0 || n > 0, "%zu bytes gave no ids", len);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    fz_tok_kind kind = (fz_tok_kind)(in[0] & 3);
    bool special = in[0] & 4;
    const char *text = (const char *)in + 1;
    size_t len = size - 1;
    const iopo_tokenizer *tok = fz_tokenizer(kind);

    int32_t *ids = NULL;
    long n = encode(tok, text, len, special, &ids);
    /* Every id covers at least one byte (NFC may lengthen the text, so only without it). */
    FZ_CHECK(kind == FZ_TOK_SPLIT_NFC || (size_t)n <= len, "%zu bytes gave %ld ids", len, n);
    char err[1024];
    size_t out_len = 0;
    char *out = iopo_tokenizer_decode(tok, ids, (size_t)n, &out_len, err, sizeof err);
    FZ_CHECK(out, "decode of encoded ids failed: %s", err);
    if (kind != FZ_TOK_SPLIT_NFC) {
        FZ_CHECK(out_len == len && memcmp(out, text, len) == 0,
                 "round trip (tokenizer %d, special %d): %zu bytes in, %zu bytes out", (int)kind, (int)special, len,
                 out_len);
    } else {
        int32_t *again = NULL;
        long m = encode(tok, out, out_len, special, &again);
        FZ_CHECK(m == n && memcmp(again, ids, (size_t)n * sizeof *ids) == 0,
                 "NFC: the decoded text encodes to other ids (%ld vs %ld)", m, n);
        free(again);
    }
    free(out);
    free(ids);
    return 0;
}
