/* Shared pieces of the libFuzzer harnesses: a per-process scratch directory for parsers that only take a path, a way
 * to fail an invariant (abort, which libFuzzer records as a crash with its input), stderr silencing for library
 * paths that report on stderr by design, and the tokenizers the text harnesses encode with. */
#ifndef IOPO_FUZZ_UTIL_H
#define IOPO_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/dataset.h"
#include "iopo/tokenizer.h"

/* The scratch directory (created on first use under /dev/shm, else $TMPDIR or /tmp; removed at exit). */
const char *fz_dir(void);
/* Writes data to fz_dir()/name (replacing it) and returns the full path in a static buffer per slot (0..3). */
const char *fz_write(int slot, const char *name, const void *data, size_t len);
/* Reports a broken invariant with the harness's message, then aborts (libFuzzer saves the input). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define FZ_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        if (!(cond)) fz_fail(__VA_ARGS__);                                                                             \
    } while (0)
/* Sends fd 2 to /dev/null until fz_quiet_end (sanitizer reports keep going to the real stderr). */
void fz_quiet_begin(void);
void fz_quiet_end(void);

typedef enum {
    FZ_TOK_DEMO,      /* assets/demo/tokenizer.json: GPT-2 style ByteLevel with its regex, no normalizer */
    FZ_TOK_SPLIT,     /* the demo vocabulary behind Sequence[Split(Qwen regex), ByteLevel(no regex)], ignore_merges,
                       * ChatML added tokens (<|im_start|>, <|im_end|> special; <think> not special) */
    FZ_TOK_SPLIT_NFC, /* FZ_TOK_SPLIT with the NFC normalizer */
    FZ_TOK_GPT2,      /* encoder.json + vocab.bpe made from the demo tokenizer */
    FZ_TOK_COUNT
} fz_tok_kind;
/* Loaded once (aborts if a tokenizer the harness relies on does not load). */
const iopo_tokenizer *fz_tokenizer(fz_tok_kind kind);
/* Path of the file/directory fz_tokenizer(kind) was loaded from. */
const char *fz_tokenizer_path(fz_tok_kind kind);

/* A loaded example: 1..limit tokens, ids in [0, vocab), label[0] = 0, labels 0 or 1 (what names it in a failure). */
void fz_check_example(const iopo_example *e, int limit, int vocab, const char *what);

#endif
