/* Tokenizer files: Hugging Face tokenizer.json, and GPT-2's encoder.json + vocab.bpe.
 * First input byte: even -> the rest is a tokenizer.json; odd -> the rest is encoder.json, a NUL byte, vocab.bpe.
 * A tokenizer that loads must encode sample text (and the input's own bytes) into ids inside its id space that
 * decode without error. */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_encode(const iopo_tokenizer *tok, const char *text, size_t len, bool special) {
    char err[1024];
    int32_t *ids = NULL;
    long n = iopo_tokenizer_encode(tok, text, len, special, &ids, err, sizeof err);
    if (n < 0) return; /* e.g. a vocabulary without some byte: refusing is allowed, with a message */
    int vocab = iopo_tokenizer_vocab_size(tok);
    for (long i = 0; i < n; i++)
        FZ_CHECK(ids[i] >= 0 && ids[i] < vocab, "id %d at %ld is outside the id space [0, %d)", ids[i], i, vocab);
    size_t out_len = 0;
    char *out = iopo_tokenizer_decode(tok, ids, (size_t)n, &out_len, err, sizeof err);
    FZ_CHECK(out, "ids from encode do not decode: %s", err);
    FZ_CHECK(out[out_len] == '\0', "decoded text is not NUL-terminated");
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    bool gpt2 = in[0] & 1;
    const char *data = (const char *)in + 1;
    size--;
    const char *path;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/enc", fz_dir());
    if (gpt2) {
        mkdir(dir, 0700);
        const char *nul = memchr(data, 0, size);
        size_t a = nul ? (size_t)(nul - data) : size;
        path = fz_write(1, "enc/encoder.json", data, a);
        fz_write(2, "enc/vocab.bpe", nul ? nul + 1 : "", nul ? size - a - 1 : 0);
    } else {
        path = fz_write(1, "tokenizer.json", data, size);
    }
    char err[2048];
    iopo_tokenizer *tok = iopo_tokenizer_load(path, err, sizeof err);
    if (!tok) {
        FZ_CHECK(err[0], "refused without a message");
    } else {
        FZ_CHECK(iopo_tokenizer_vocab_size(tok) > 0, "loaded with an empty id space");
        static const char sample[] = "Hello, world! It's 2026: caf\xc3\xa9 e\xcc\x81 \xe4\xb8\xad\xe6\x96\x87 \xff\xfe"
                                     "  \n\n\t<|endoftext|><|im_start|>x<think> 12345";
        check_encode(tok, sample, sizeof sample - 1, true);
        check_encode(tok, sample, sizeof sample - 1, false);
        check_encode(tok, data, size < 512 ? size : 512, true);
        iopo_tokenizer_token_id(tok, "<|endoftext|>");
        iopo_tokenizer_free(tok);
    }
    if (gpt2) {
        unlink(path);
        unlink(fz_write(2, "enc/vocab.bpe", "", 0));
    }
    return 0;
}
