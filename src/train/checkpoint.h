/* Checkpoint directories of a training run (see checkpoint.c). */
#ifndef IOPO_TRAIN_CHECKPOINT_H
#define IOPO_TRAIN_CHECKPOINT_H

#include "iopo/model.h"
#include "iopo/optimizer.h"

typedef struct checkpoint_state {
    int step;             /* optimizer steps done */
    long data_seed;       /* the data order is a function of (data_seed, epoch) */
    int epoch, position;  /* next example: position in epoch's order */
    long long tokens_seen;
} checkpoint_state;

bool checkpoint_save(const char *out, iopo_model *m, iopo_optimizer *o, const checkpoint_state *st,
                     const char *tokenizer_json_path, char *saved_dir, size_t saved_len, char *err, size_t errlen);
/* Deletes all but the `keep` newest checkpoint-N directories of out. */
void checkpoint_prune(const char *out, int keep);
/* A checkpoint directory, or an output directory whose `latest` names one. */
bool checkpoint_resolve(const char *path, char *dir, size_t dirlen, char *err, size_t errlen);
/* Restores the optimizer moments and step, and the trainer state (the model is loaded by the caller). */
bool checkpoint_load_state(const char *dir, iopo_model *m, iopo_optimizer *o, checkpoint_state *st, char *err,
                           size_t errlen);

#endif
