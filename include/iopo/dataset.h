/* Training and scoring data as token sequences with per-token loss flags. Formats (detected per file, and reported):
 * - plain text (.txt): the whole file tokenized, an end-of-text token appended, packed into sequences;
 * - JSONL {"text": ...}: each record tokenized with an end-of-text token after it, concatenated and packed;
 * - JSONL {"input_ids": [...], "labels_mask": [...]} (mask optional, 1 = the token carries loss): one sequence each;
 * - JSONL {"prompt_ids": [...], "response_ids": [...]}: one sequence each, loss on the response tokens only.
 * A bad record stops loading with "FILE:LINE: reason". */
#ifndef IOPO_DATASET_H
#define IOPO_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/tokenizer.h"

typedef struct iopo_example {
    int32_t *ids;
    uint8_t *label;     /* label[i] = 1: token i is predicted with loss (from position i - 1); label[0] is 0 */
    int n;
    int line;           /* the record's 1-based line (JSONL) or index (JSON array, see by_index); 0: packed text */
} iopo_example;

typedef struct iopo_dataset {
    iopo_example *ex;
    int n;
    char format[48];    /* what was detected, for the log line */
    int truncated;      /* sequences cut to the length limit */
    bool by_index;      /* a JSON array: example.line is the record's index ("FILE:record N"), not "FILE:LINE" */
} iopo_dataset;

/* max_tokens: packing length and cap (seq_len + 1 tokens: seq_len positions with a next token). tok may be NULL
 * when the file is pre-tokenized; a text file without a tokenizer is an error. vocab: ids must be in [0, vocab). */
bool iopo_dataset_load(iopo_dataset *ds, const char *path, const iopo_tokenizer *tok, int max_tokens, int vocab,
                       char *err, size_t errlen);
void iopo_dataset_free(iopo_dataset *ds);
/* Response tokens (label = 1) over the whole dataset. */
size_t iopo_dataset_label_tokens(const iopo_dataset *ds);

/* Host-side batch of B examples, right-padded to T positions: tokens, targets (-100 where no loss), mask, lengths.
 * Position t holds token t and predicts token t+1. Sequences longer than T + 1 tokens are cut. */
typedef struct iopo_host_batch {
    int B, T;             /* T: this batch's width (row stride), at most Tmax */
    int Tmax;             /* the width allocated for */
    int32_t *tokens, *targets, *lengths;
    float *mask;
    double label_count;   /* sum of mask */
} iopo_host_batch;

void iopo_host_batch_alloc(iopo_host_batch *hb, int B, int T);
void iopo_host_batch_free(iopo_host_batch *hb);
/* Sets hb->T to the width the examples ex[idx[0..nb-1]] need: their longest sequence's positions rounded up to a
 * multiple of `multiple`, at most hb->Tmax (at least 1): micro-batches pad to their longest sequence, not to seq_len.
 * Returns it. */
#define IOPO_PAD_MULTIPLE 8
int iopo_host_batch_fit(iopo_host_batch *hb, const iopo_dataset *ds, const int *idx, int nb, int multiple);
/* Fills hb from examples ex[idx[0..nb-1]] (nb <= B; rows beyond nb are empty: length 0, no loss). */
void iopo_host_batch_fill(iopo_host_batch *hb, const iopo_dataset *ds, const int *idx, int nb);

#endif
