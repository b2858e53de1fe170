/* A decoder-only language model on one context: parameters, their gradients, and the activations of one batch shape.
 * One decoder driver (src/model/decoder.c) runs every family (GPT-2, Llama, Qwen2, Qwen3), configured by the family's
 * descriptor: training and scoring code only sees parameters, a forward that yields per-token losses and per-sequence
 * label log-prob sums, and a backward that takes upstream gradients of those. */
#ifndef IOPO_MODEL_H
#define IOPO_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "iopo/context.h"
#include "iopo/ops.h"
#include "iopo/safetensors.h"

/* LoRA adapters on a model's linear layers (PEFT's LoraConfig; rank 0: none). Not part of config.json: set by the run
 * or read from an adapter_config.json, and part of the model config because the adapters' activations are part of
 * what a batch allocates. */
typedef struct iopo_lora_config {
    int rank;                 /* r */
    float alpha;              /* the update is scaled by alpha / r, or alpha / sqrt(r) with rslora */
    float dropout;            /* on the adapter's input, while training */
    bool rslora;
    char target[256];         /* "all" (every linear layer of the blocks, not the LM head) or module names, comma-separated */
} iopo_lora_config;

/* What a model is, read from (and written to) its config.json. The architecture follows from `arch` (its family:
 * see src/model/family.h); every family fills the same fields, so code above the model reads one struct. */
typedef struct iopo_model_config {
    char arch[16];            /* family, the config.json model_type: "gpt2", "llama", "qwen2", "qwen3" */
    int n_layer, n_head, n_kv_head, n_embd;
    int head_dim;             /* per attention head (Qwen3's may differ from n_embd / n_head) */
    int n_ffn;                /* MLP hidden width (intermediate_size; GPT-2's 4 * n_embd) */
    int n_ctx;                /* positions the model accepts (n_positions / max_position_embeddings) */
    int vocab_size;
    float norm_eps;           /* layer_norm_epsilon / rms_norm_eps */
    bool tied;                /* LM head = the token embedding (tie_word_embeddings) */
    bool attn_bias;           /* Llama's attention_bias: biases on q, k, v and o (Qwen2: q, k, v always) */
    iopo_rope_config rope;    /* RoPE families */
    int bos_id, eos_id;       /* bos_token_id / eos_token_id of config.json, -1 when absent (first id of a list) */
    /* Not from config.json: the most bytes the LM head's logits may take (0: IOPO_LOGITS_BUDGET). A batch whose
     * (B*T, V) logits are larger runs the head and the cross-entropy in chunks of whole sequences (or of positions
     * of one sequence, where one alone is larger), forward and backward, so the full logits never exist (the
     * backward recomputes each chunk's logits). */
    size_t logits_budget;
    iopo_lora_config lora;    /* not from config.json: the adapters (rank 0: none) */
    bool recompute;           /* not from config.json: keep only each block's input, recompute the block in the
                                 backward (gradient checkpointing) */
} iopo_model_config;

#define IOPO_LOGITS_BUDGET ((size_t)256 << 20)

/* Parameters and gradients live in arenas: per weight-decay class, a few large tensors (segments, each at most the
 * device's largest allocation) of which every parameter's value and gradient are views, zero between parameters. The
 * optimizer, the gradient norm and zeroing run once per segment, not once per tensor, and a data-parallel all-reduce
 * would see a few buffers. */
typedef struct iopo_param_segment {
    iopo_tensor *value, *grad;   /* (n) each */
    iopo_tensor *compute;        /* (n) the 16-bit copy of value the ops read (compute_dtype), else NULL */
    bool decay;                  /* weight decay applies to every parameter in it */
} iopo_param_segment;

typedef struct iopo_param {
    char name[96];            /* iopo's name: the Hugging Face tensor name, or for a fused tensor a name of its own
                                 (e.g. "model.layers.0.self_attn.qkv_proj.weight"; see iopo_model_export) */
    int ndim;
    int64_t shape[4];
    bool decay;               /* weight decay applies (2-D weights) */
    iopo_dtype dtype;         /* of value: F32, or a frozen matrix kept in its checkpoint's BF16 / F16 */
    iopo_tensor *value, *grad;   /* views into the segment's value and grad (NULL: frozen) */
    iopo_tensor *compute;        /* view into the segment's compute copy: what forward and backward read in place
                                    of value (NULL: they read value) */
    int segment;
    size_t offset;               /* elements into the segment */
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
/* The families iopo knows, comma-separated ("gpt2, llama, qwen2, qwen3"), for messages and --help. */
const char *iopo_model_families(void);
/* Fills the family's defaults (norm eps, RoPE theta, ...) for a config given by shape only (`iopo init`); false +
 * message when the family is unknown or the shape is not one it can have. */
bool iopo_model_config_defaults(iopo_model_config *cfg, char *err, size_t errlen);
bool iopo_model_config_check(const iopo_model_config *cfg, char *err, size_t errlen);
/* Parameters of a config, without building the model (for memory plans). */
size_t iopo_model_config_numel(const iopo_model_config *cfg);
/* Elements of the 2-D parameters (weight matrices and embeddings; the rest are norm weights and biases). */
size_t iopo_model_config_matrix_numel(const iopo_model_config *cfg);
/* Parameters seeded as the family's Hugging Face implementation initialises them (GPT-2: normal(0, 0.02), residual
 * projections scaled by 1/sqrt(2L), biases 0, norms 1; Llama/Qwen: normal(0, 0.02), biases 0, norms 1). */
iopo_model *iopo_model_create(iopo_ctx *ctx, const iopo_model_config *cfg, uint64_t seed, char *err, size_t errlen);
/* config.json + safetensors (single or sharded; F32/F16/BF16) from a model directory, as fp32 parameters with
 * gradients; or an adapter directory (its base with the adapter on it). */
iopo_model *iopo_model_load(iopo_ctx *ctx, const char *dir, char *err, size_t errlen);
/* The same for a base that does not train (LoRA, a reference, scoring): its weight matrices stay in the checkpoint's
 * dtype when that is BF16 or F16 (half the memory of fp32; the ops widen them as they read, accumulating in fp32),
 * vectors (norms, biases) become fp32, and no base parameter has a gradient (an adapter the directory holds does:
 * iopo_model_freeze drops those too). */
iopo_model *iopo_model_load_frozen(iopo_ctx *ctx, const char *dir, char *err, size_t errlen);
/* The model's tensors as its checkpoint names them (Hugging Face names and shapes), host fp32 copies of the values
 * (grads false) or of the gradients: a fused internal parameter becomes its several checkpoint tensors; a tied head
 * is not repeated. Returns the count; free with iopo_model_export_free. */
int iopo_model_export(iopo_model *m, bool grads, iopo_st_entry **out);   /* with adapters, grads: theirs */
void iopo_model_export_free(iopo_st_entry *e, int n);
/* Writes config.json and model.safetensors (fp32) into dir atomically (each file replaced whole). */
bool iopo_model_save(iopo_model *m, const char *dir, char *err, size_t errlen);
/* The same with the weights stored as bf16 (bf16 true; config.json's torch_dtype says "bfloat16"). */
bool iopo_model_save_dtype(iopo_model *m, const char *dir, bool bf16, char *err, size_t errlen);
void iopo_model_free(iopo_model *m);
/* compute_dtype (as llm.c does): with IOPO_BF16 or IOPO_F16, every fp32 matrix (the 2-D parameters: the linear layers'
 * weights, the embeddings, the head) also lives as a 16-bit copy, all copies in one arena laid out as the matrices'
 * fp32 segments, and the forward and backward read the copies (fp32 accumulation; activations and gradients stay fp32,
 * the weight gradients accumulate in fp32 into the fp32 parameters' gradients). The fp32 values stay the master
 * weights that AdamW updates and checkpoints save; norm weights and biases are read in fp32. The copies are made
 * now and refreshed by iopo_model_refresh_compute (the optimizer calls it after every update). IOPO_F32 drops them.
 * Not for a model with adapters (its base is frozen as stored); false + message then. */
bool iopo_model_set_compute_dtype(iopo_model *m, iopo_dtype dt, char *err, size_t errlen);
iopo_dtype iopo_model_compute_dtype(const iopo_model *m);
/* Rounds the fp32 master matrices into their 16-bit copies (one iopo_convert per segment, round to nearest even);
 * nothing without copies. Call after changing parameter values. */
void iopo_model_refresh_compute(iopo_model *m);
/* Frees the gradients of every parameter, adapters included, for good (a model that only runs forwards: a
 * reference, scoring): backward and zero_grad must not be called on it. */
void iopo_model_freeze(iopo_model *m);

/* ---- LoRA adapters (src/model/lora.c) ---- */

/* Adds adapters as lc says (lc->target checked against the family's module names; an unknown name is an error listing
 * them), initialised as PEFT does it (A Kaiming-uniform from seed, B zero, so the model is unchanged), and freezes the
 * base: its gradients are freed and never computed; from then on the model's parameters (iopo_model_param_count,
 * _param, _segment_count, _segment, zero_grad) are the adapters' A and B. */
bool iopo_model_add_lora(iopo_model *m, const iopo_lora_config *lc, uint64_t seed, char *err, size_t errlen);
/* Reads a PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors) and adds its adapters with
 * their values. A config iopo cannot follow (DoRA, biases, modules_to_save, per-layer patterns, a regex
 * target_modules) or a tensor missing or left over is an error naming it. */
bool iopo_model_load_adapter(iopo_model *m, const char *dir, char *err, size_t errlen);
/* Reads dir/adapter_config.json (what iopo_model_load_adapter accepts) into lc. */
bool iopo_adapter_config_read(const char *dir, iopo_lora_config *lc, char *err, size_t errlen);
/* True if dir holds adapter_config.json. base (may be NULL): its base_model_name_or_path. */
bool iopo_adapter_dir_base(const char *dir, char *base, size_t n);
/* Writes the adapters as PEFT saves them into dir: adapter_config.json (base_model_name_or_path = base) and
 * adapter_model.safetensors (fp32), each atomically. */
bool iopo_model_save_adapter(iopo_model *m, const char *dir, const char *base, char *err, size_t errlen);
/* Folds the adapters into the base weights (W += scale * B @ A) and removes them: the model is a plain model again,
 * what PEFT's merge_and_unload gives. */
void iopo_model_merge_lora(iopo_model *m);
/* Dropout of the adapters applies in forwards while training is true, with masks drawn from seed (set it per
 * micro-batch: the backward of a forward must see the forward's seed). Off by default. */
void iopo_model_set_lora_training(iopo_model *m, bool training, uint32_t seed);
bool iopo_model_has_lora(const iopo_model *m);
/* Elements of the adapters cfg->lora describes on a model of cfg (for memory planning); 0 + err if its target names
 * no module of the family (or rank is 0). */
size_t iopo_lora_numel(const iopo_model_config *cfg, char *err, size_t errlen);

const iopo_model_config *iopo_model_get_config(const iopo_model *m);
iopo_ctx *iopo_model_ctx(const iopo_model *m);
int iopo_model_param_count(const iopo_model *m);
iopo_param *iopo_model_param(iopo_model *m, int i);
size_t iopo_model_numel(const iopo_model *m);
int iopo_model_segment_count(const iopo_model *m);
const iopo_param_segment *iopo_model_segment(const iopo_model *m, int i);
/* Bytes of activations (forward and backward scratch) for a batch shape, for memory planning: the same list that
 * allocates them sizes them, so this is what the model allocates for (B, T). */
size_t iopo_model_activation_bytes(const iopo_model_config *cfg, int B, int T);
/* The same, and the parts of it that are the LM head's logits (and its chunk's copies), the attention scratch and the
 * adapters' activations. */
typedef struct iopo_act_plan {
    size_t total, logits, attention, adapters;
} iopo_act_plan;
iopo_act_plan iopo_model_activation_plan(const iopo_model_config *cfg, int B, int T);
/* Allocates the activations of a (B, T) batch now (they are otherwise allocated at the first forward): later batches
 * no larger in B and T use views of them, so a run allocates once for its largest shape. */
void iopo_model_reserve(iopo_model *m, int B, int T);
/* Sets cfg.recompute (gradient checkpointing: one block's activations held instead of every block's, for one more
 * forward of every block but the last); activations are planned anew at the next batch. Same gradients, bit for bit. */
void iopo_model_set_recompute(iopo_model *m, bool on);
/* Sets cfg.logits_budget (bytes; 0 = the default); activations are planned anew at the next batch. */
void iopo_model_set_logits_budget(iopo_model *m, size_t bytes);
/* Bytes of the activations the model holds now (0 before the first forward or reserve). */
size_t iopo_model_activation_bytes_allocated(const iopo_model *m);

/* Allocates the activations for (B, T) if the current ones do not fit. */
void iopo_batch_init(iopo_batch *b, iopo_ctx *ctx, int B, int T);
/* Frees a batch's tensors (or, for a view, only the views). */
void iopo_batch_free(iopo_batch *b);
/* view = the first T positions of every row of full, as a (B, T) batch sharing full's memory (T <= full->T); free it
 * with iopo_batch_free before full. */
void iopo_batch_view(iopo_batch *view, const iopo_batch *full, int T);
/* The same as a (B, T) batch, B <= full->B (the first B rows of that layout). */
void iopo_batch_view_rows(iopo_batch *view, const iopo_batch *full, int B, int T);

/* Forward pass over the batch; afterwards the outputs below hold this batch's values (on the device). */
void iopo_model_forward(iopo_model *m, const iopo_batch *b);
/* Outputs of the last forward: loss (B,T) = mask * CE per token; seq_logp (B) = sum_t mask * log p(target);
 * seq_count (B) = sum_t mask; logits (B,T,V) (overwritten by the backward), NULL when the head ran in chunks (the
 * logits of a batch larger than logits_budget never exist whole). */
iopo_tensor *iopo_model_token_loss(iopo_model *m);
iopo_tensor *iopo_model_seq_logp(iopo_model *m);
iopo_tensor *iopo_model_seq_count(iopo_model *m);
iopo_tensor *iopo_model_logits(iopo_model *m);

/* Backward of the last forward: adds into every parameter's grad the gradient of
 * L = sum_{b,t} dloss[b,t] * loss[b,t] + sum_b dseq_logp[b] * seq_logp[b]; dloss (B,T) or dseq_logp (B) may be NULL. */
void iopo_model_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss, const iopo_tensor *dseq_logp);
void iopo_model_zero_grad(iopo_model *m);

/* ---- generation with a KV cache ---- */

/* Per layer, the q|k|v rows (after q/k norm and RoPE) of every position so far, for B sequences of up to Tmax
 * positions (Tmax <= the model's positions), with the scratch of one decoding step. */
typedef struct iopo_kv_cache iopo_kv_cache;
iopo_kv_cache *iopo_kv_cache_new(iopo_model *m, int B, int Tmax);
void iopo_kv_cache_free(iopo_kv_cache *kv);
/* Fills positions 0..b->T-1 of every sequence from one forward of the batch (b->B == the cache's B, right-padded:
 * rows past a sequence's length are junk that later steps overwrite). */
void iopo_kv_cache_prefill(iopo_kv_cache *kv, const iopo_batch *b);
/* One token per sequence: tokens (B) i32 at positions pos[0..B) (host; -1 or >= Tmax: the sequence is done and
 * nothing is written for it); its row goes into the cache and the step attends to positions 0..pos. Returns the
 * next-token logits (B, V) (the cache's own tensor, overwritten by the next step). */
iopo_tensor *iopo_kv_cache_step(iopo_kv_cache *kv, const iopo_tensor *tokens, const int32_t *pos);

#endif
