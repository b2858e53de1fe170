/* A model family (GPT-2, Llama, Qwen2, Qwen3) as the decoder driver sees it: which block it is made of (norm, positions,
 * MLP, attention extras, weight layout), which parameters it has in which order, what its checkpoint calls them, how
 * it reads and writes config.json and how Hugging Face initialises it. One small file per family fills this in
 * (family_*.c); the driver (decoder.c), loading and saving (model_io.c) only read it. */
#ifndef IOPO_MODEL_FAMILY_H
#define IOPO_MODEL_FAMILY_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "iopo/model.h"
#include "iopo/ops.h"

typedef enum { NORM_LAYER = 0, NORM_RMS = 1 } norm_kind;
typedef enum { MLP_GELU = 0, MLP_SWIGLU = 1 } mlp_kind;

/* What a parameter is for; the driver finds parameters by role, never by name. */
typedef enum {
    /* model-wide */
    R_TOK_EMB, R_POS_EMB, R_NORM_F_W, R_NORM_F_B, R_LM_HEAD,
    /* per layer */
    R_ATTN_NORM_W, R_ATTN_NORM_B,
    R_QKV_W, R_QKV_B,        /* q | k | v stacked: output rows (NH + 2*NKV) * hd */
    R_Q_NORM, R_K_NORM,      /* per-head RMSNorm weights (hd) */
    R_O_W, R_O_B,
    R_MLP_NORM_W, R_MLP_NORM_B,
    R_UP_W, R_UP_B,          /* GPT-2 c_fc; SwiGLU up_proj */
    R_GATE_W,                /* SwiGLU gate_proj */
    R_DOWN_W, R_DOWN_B,      /* GPT-2 mlp.c_proj; SwiGLU down_proj */
    R_COUNT
} param_role;

/* When a parameter exists. */
typedef enum { WHEN_ALWAYS = 0, WHEN_ATTN_BIAS, WHEN_UNTIED } param_when;

/* One parameter of the family: its role and its checkpoint name ("%d" = the layer). A fused parameter lists the
 * checkpoint tensors it is made of, stacked along the output dimension (q_proj, k_proj, v_proj: rows NH*hd, NKV*hd,
 * NKV*hd of the stacked (out, in) weight, or of the bias); one name means the checkpoint stores it as iopo does. */
typedef struct family_param {
    param_role role;
    param_when when;
    const char *names[3];
} family_param;

typedef enum { INIT_ZEROS = 0, INIT_ONES, INIT_NORMAL } init_kind;

typedef struct model_family {
    const char *name;              /* config.json model_type */
    const char *architecture;      /* config.json architectures[0], the transformers class */
    norm_kind norm;
    mlp_kind mlp;
    bool learned_pos;              /* GPT-2's wpe; otherwise RoPE */
    bool qk_norm;                  /* Qwen3 */
    iopo_wlayout layout;           /* linear weights: GPT-2 Conv1D [in, out]; torch Linear [out, in] */
    /* Parameter order: model-wide first, then each layer's, then model-wide last (the order of the checkpoint and
     * of initialisation, so a seed gives what it gave before). */
    const family_param *first, *layer, *last;
    int nfirst, nlayer, nlast;
    /* Tensors a checkpoint may hold that are not parameters (GPT-2's attention-mask buffers, an old Llama's
     * rotary_emb.inv_freq): suffixes ignored when loading, NULL-terminated. */
    const char *const *ignored;
    /* What the transformers class puts before the checkpoint names in its module paths (GPT2LMHeadModel's
     * "transformer.": PEFT names adapters by module path, whatever prefix the weights file used). */
    const char *module_prefix;
    /* config.json: read the family's keys into cfg (shared keys already read); write them into root. */
    bool (*read_config)(iopo_model_config *cfg, const cJSON *root, const char *path, char *err, size_t errlen);
    void (*write_config)(const iopo_model_config *cfg, cJSON *root);
    /* Defaults for a model described by its shape only (iopo init). */
    void (*defaults)(iopo_model_config *cfg);
    /* Initialisation of one parameter, as the family's Hugging Face implementation does it. */
    init_kind (*init)(const iopo_model_config *cfg, param_role role, float *std);
} model_family;

/* The family named `name` (config.json's model_type), or NULL. */
const model_family *family_find(const char *name);
/* Comma-separated names of every family. */
const char *family_names(void);

/* The families (family_*.c). */
extern const model_family family_gpt2, family_llama, family_qwen2, family_qwen3;

/* Shared readers of config.json values: a missing key keeps *out as it is; a wrong one gives false and
 * "PATH: \"key\" ..." in err. */
bool cfg_int(const cJSON *root, const char *key, long lo, long hi, int *out, const char *path, char *err,
             size_t errlen);
bool cfg_float(const cJSON *root, const char *key, double lo, double hi, float *out, const char *path, char *err,
               size_t errlen);
bool cfg_bool(const cJSON *root, const char *key, bool *out, const char *path, char *err, size_t errlen);
/* A string key that, when present, must be one of `allowed` (NULL-terminated). */
bool cfg_string_in(const cJSON *root, const char *key, const char *const *allowed, const char *path, char *err,
                   size_t errlen);

/* Parameter rows the Llama-shaped families share (transformers' Llama naming), for their tables in family_*.c. */
#define LLAMA_EMBED {R_TOK_EMB, WHEN_ALWAYS, {"model.embed_tokens.weight"}}
#define LLAMA_ATTN_NORM {R_ATTN_NORM_W, WHEN_ALWAYS, {"model.layers.%d.input_layernorm.weight"}}
#define LLAMA_QKV_W                                                                                                   \
    {R_QKV_W, WHEN_ALWAYS,                                                                                            \
     {"model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",                          \
      "model.layers.%d.self_attn.v_proj.weight"}}
#define LLAMA_QKV_B(when)                                                                                             \
    {R_QKV_B, (when),                                                                                                 \
     {"model.layers.%d.self_attn.q_proj.bias", "model.layers.%d.self_attn.k_proj.bias",                              \
      "model.layers.%d.self_attn.v_proj.bias"}}
#define LLAMA_O_W {R_O_W, WHEN_ALWAYS, {"model.layers.%d.self_attn.o_proj.weight"}}
#define LLAMA_O_B {R_O_B, WHEN_ATTN_BIAS, {"model.layers.%d.self_attn.o_proj.bias"}}
#define LLAMA_MLP                                                                                                     \
    {R_MLP_NORM_W, WHEN_ALWAYS, {"model.layers.%d.post_attention_layernorm.weight"}},                               \
        {R_GATE_W, WHEN_ALWAYS, {"model.layers.%d.mlp.gate_proj.weight"}},                                          \
        {R_UP_W, WHEN_ALWAYS, {"model.layers.%d.mlp.up_proj.weight"}},                                              \
        {R_DOWN_W, WHEN_ALWAYS, {"model.layers.%d.mlp.down_proj.weight"}}
#define LLAMA_LAST                                                                                                    \
    {R_NORM_F_W, WHEN_ALWAYS, {"model.norm.weight"}}, {R_LM_HEAD, WHEN_UNTIED, {"lm_head.weight"}}
extern const char *const llama_like_ignored[];
/* The descriptor fields the Llama-shaped families share (their tables named first, layer, last). */
#define LLAMA_SHAPED_FAMILY                                                                                           \
    .norm = NORM_RMS, .mlp = MLP_SWIGLU, .layout = IOPO_W_NK, .first = first,                                       \
    .nfirst = sizeof first / sizeof first[0], .layer = layer, .nlayer = sizeof layer / sizeof layer[0],             \
    .last = last, .nlast = sizeof last / sizeof last[0], .ignored = llama_like_ignored, .init = llama_like_init   /* an old Llama's rotary_emb.inv_freq */

/* The config.json reader and writer of the Llama-shaped families (llama, qwen2, qwen3): hidden_size,
 * intermediate_size, num_attention_heads, num_key_value_heads, head_dim, rms_norm_eps, RoPE (rope_theta and
 * rope_scaling, or transformers 5's rope_parameters), max_position_embeddings, tie_word_embeddings, hidden_act. */
bool llama_like_read_config(iopo_model_config *cfg, const cJSON *root, const char *path, char *err, size_t errlen);
void llama_like_write_config(const iopo_model_config *cfg, cJSON *root);
/* Hugging Face's init of these families: Linear and Embedding normal(0, initializer_range = 0.02), biases 0,
 * RMSNorm weights 1. */
init_kind llama_like_init(const iopo_model_config *cfg, param_role role, float *std);

#endif
