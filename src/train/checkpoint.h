/* Checkpoint directories of a training run (see checkpoint.c). */
#ifndef IOPO_TRAIN_CHECKPOINT_H
#define IOPO_TRAIN_CHECKPOINT_H

#include "iopo/model.h"
#include "iopo/tokenizer.h"
#include "iopo/optimizer.h"

typedef struct checkpoint_state {
    int step;             /* optimizer steps done */
    long data_seed;       /* the data order is a function of (data_seed, epoch) */
    int epoch, position;  /* next example: position in epoch's order */
    long long tokens_seen;
} checkpoint_state;

/* The tokenizer.json bytes copied into each checkpoint, read once at start (the folder it came from may be pruned
 * during the run); json NULL = none. */
/* What a saved model directory says about its tokenizer, beside tokenizer.json's bytes: the chat template the run
 * trained with (tokenizer_config.json's chat_template, as Jinja) and its special tokens, which generation stops at
 * (generation_config.json). */
typedef struct checkpoint_tokenizer {
    char *json;
    size_t len;
    char template_name[16];          /* chatml, llama3 or plain */
    const char *bos, *eos, *pad;     /* token strings, NULL when the tokenizer has none */
    int32_t bos_id, eos_id, pad_id;  /* their ids, -1 when absent */
    int32_t model_eos_id;            /* config.json's eos_token_id (-1: none), also a stop token */
    int max_len;                     /* the model's positions */
} checkpoint_tokenizer;

/* Fills tok's template and special tokens for template_name (resolved, not "auto") from the loaded tokenizer. */
void checkpoint_tokenizer_describe(checkpoint_tokenizer *t, const iopo_tokenizer *tok, const char *template_name,
                                   const iopo_model_config *cfg);

bool checkpoint_save(const char *out, iopo_model *m, iopo_optimizer *o, const checkpoint_state *st,
                     const checkpoint_tokenizer *tok, char *saved_dir, size_t saved_len, char *err, size_t errlen);
/* out/final/: the model alone (a plain Hugging Face model directory; weights in bf16 when bf16, the run's save_dtype),
 * written as out/.final.tmp and renamed whole. Checkpoints stay fp32, so that a resume continues exactly. */
bool checkpoint_save_final(const char *out, iopo_model *m, const checkpoint_tokenizer *tok, bool bf16, char *final_dir,
                           size_t final_len, char *err, size_t errlen);
/* The step of the checkpoint out/latest names, or -1. */
int checkpoint_latest_step(const char *out);
/* Deletes all but the `keep` newest checkpoints of this run, never the one `latest` names. This run's checkpoints are
 * those at or before the step it resumed from (resumed_step; 0 for a fresh run) and those it wrote (written[]);
 * a checkpoint beyond resumed_step that this run did not write belongs to an abandoned continuation and is left. */
void checkpoint_prune(const char *out, int keep, int resumed_step, const int *written, int nwritten);
/* A checkpoint directory, or an output directory whose `latest` names one. */
bool checkpoint_resolve(const char *path, char *dir, size_t dirlen, char *err, size_t errlen);
/* Restores the optimizer moments and step, and the trainer state (the model is loaded by the caller). */
bool checkpoint_load_state(const char *dir, iopo_model *m, iopo_optimizer *o, checkpoint_state *st, char *err,
                           size_t errlen);

#endif
