/* A decoder-only language model on one context: parameters, their gradients, and the activations of one batch shape.
 * The architecture (GPT-2 now; Qwen2/Llama later) is a block definition behind this interface: training and scoring
 * code only sees parameters, a forward that yields per-token losses and per-sequence label log-prob sums, and a
 * backward that takes upstream gradients of those. */
#ifndef IOPO_MODEL_H
#define IOPO_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "iopo/context.h"

typedef struct iopo_model_config {
    char arch[16];            /* "gpt2" */
    int n_layer, n_head, n_embd, n_ctx, vocab_size;
    float ln_eps;
} iopo_model_config;

typedef struct iopo_param {
    char name[96];            /* Hugging Face tensor name, e.g. "h.0.attn.c_attn.weight" */
    int ndim;
    int64_t shape[4];
    bool decay;               /* weight decay applies (2-D weights) */
    iopo_tensor *value, *grad;
} iopo_param;

/* One batch on the model's context: right-padded token ids and, for every position, the label it predicts and its
 * loss weight. */
typedef struct iopo_batch {
    int B, T;
    iopo_tensor *tokens;      /* (B,T) i32 */
    iopo_tensor *targets;     /* (B,T) i32, the label of each position (already shifted); anything where mask is 0 */
    iopo_tensor *mask;        /* (B,T) f32 loss weights */
    iopo_tensor *lengths;     /* (B) i32 valid tokens per sequence */
} iopo_batch;

typedef struct iopo_model iopo_model;

/* The model directory a command-line model argument names: path itself when it holds config.json (a Hugging Face
 * model directory or a checkpoint), else the checkpoint that path/latest names (a training run directory). */
bool iopo_model_dir_resolve(const char *path, char *dir, size_t dirlen, char *err, size_t errlen);
/* Reads config.json (Hugging Face keys) from dir; false + message naming the file and key. */
bool iopo_model_config_load(iopo_model_config *cfg, const char *dir, char *err, size_t errlen);
/* Parameters seeded as GPT-2 does: normal(0, 0.02), residual projections scaled by 1/sqrt(2L), biases 0, norms 1. */
iopo_model *iopo_model_create(iopo_ctx *ctx, const iopo_model_config *cfg, uint64_t seed, char *err, size_t errlen);
/* config.json + safetensors (single or sharded; F32/F16/BF16) from a model directory. */
iopo_model *iopo_model_load(iopo_ctx *ctx, const char *dir, char *err, size_t errlen);
/* Writes config.json and model.safetensors (fp32) into dir atomically (each file replaced whole). */
bool iopo_model_save(iopo_model *m, const char *dir, char *err, size_t errlen);
void iopo_model_free(iopo_model *m);

const iopo_model_config *iopo_model_get_config(const iopo_model *m);
iopo_ctx *iopo_model_ctx(const iopo_model *m);
int iopo_model_param_count(const iopo_model *m);
iopo_param *iopo_model_param(iopo_model *m, int i);
size_t iopo_model_numel(const iopo_model *m);
/* Bytes of activations (forward and backward scratch) for a batch shape, for memory planning. */
size_t iopo_model_activation_bytes(const iopo_model_config *cfg, int B, int T);

/* Allocates the activations for (B, T) if the current ones do not fit. */
void iopo_batch_init(iopo_batch *b, iopo_ctx *ctx, int B, int T);
void iopo_batch_free(iopo_batch *b);

/* Forward pass over the batch; afterwards the outputs below hold this batch's values (on the device). */
void iopo_model_forward(iopo_model *m, const iopo_batch *b);
/* Outputs of the last forward: loss (B,T) = mask * CE per token; seq_logp (B) = sum_t mask * log p(target);
 * seq_count (B) = sum_t mask; logits (B,T,V) (overwritten by the backward). */
iopo_tensor *iopo_model_token_loss(iopo_model *m);
iopo_tensor *iopo_model_seq_logp(iopo_model *m);
iopo_tensor *iopo_model_seq_count(iopo_model *m);
iopo_tensor *iopo_model_logits(iopo_model *m);

/* Backward of the last forward: adds into every parameter's grad the gradient of
 * L = sum_{b,t} dloss[b,t] * loss[b,t] + sum_b dseq_logp[b] * seq_logp[b]; dloss (B,T) or dseq_logp (B) may be NULL. */
void iopo_model_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss, const iopo_tensor *dseq_logp);
void iopo_model_zero_grad(iopo_model *m);

#endif
