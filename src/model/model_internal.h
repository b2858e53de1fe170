/* The model object shared by the driver (decoder.c: parameters, activations, forward, backward) and by loading and
 * saving (model_io.c). Nothing outside src/model/ sees it. */
#ifndef IOPO_MODEL_INTERNAL_H
#define IOPO_MODEL_INTERNAL_H

#include "iopo/model.h"
#include "model/family.h"

/* One checkpoint tensor inside a parameter: a contiguous element range (rows of a stacked weight). */
typedef struct param_piece {
    char name[96];
    int ndim;
    int64_t shape[2];
    size_t offset;           /* elements into the parameter */
} param_piece;

typedef struct param_meta {
    param_role role;
    int layer;               /* -1 for model-wide parameters */
    int npieces;
    param_piece piece[3];
} param_meta;

/* A linear module an adapter can sit on, as PEFT names it (q_proj, c_attn, ...): the layer's weight role, and where
 * its output lies in the layer's output (a fused q|k|v weight holds three modules). The same in every block. */
#define LORA_MAX_SITES 8
typedef struct lora_site {
    param_role role;
    char name[24];            /* module name, the last component of its checkpoint path */
    char path[48];            /* checkpoint path of the module, "%d" the layer ("model.layers.%d.self_attn.q_proj") */
    int K, N;                 /* the layer's in and out features */
    int n, col0;              /* the module's out features and first column in the layer's output */
} lora_site;
/* The modules of c's family that c->lora.target selects (all of them for "all"), in the block's order; -1 and a
 * message naming the family's module names for a target that matches none. */
int lora_select(const iopo_model_config *c, const model_family *f, lora_site *out, char *err, size_t errlen);

typedef struct lora_state {
    lora_site site[LORA_MAX_SITES];
    int nsites;               /* adapters per block */
    float scale;
    iopo_param *params;       /* block l, site k: A (r,K) at 2*(l*nsites+k), B (n,r) after it */
    int nparams;
    iopo_param_segment *segments;
    int nsegments;
    bool training;            /* dropout applies */
    uint32_t seed;
} lora_state;
/* The adapters' share of a linear layer's forward (out (M,N) += the adapted modules' updates; inp (M,K)) and
 * backward (dinp (M,K) +=, the adapters' gradients +=), called by the driver's linear_forward/linear_backward. */
void lora_linear_forward(iopo_model *m, iopo_tensor *out, const iopo_tensor *inp, int layer, param_role w, int M);
void lora_linear_backward(iopo_model *m, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp,
                          int layer, param_role w, int M);
void lora_free(iopo_model *m);
/* Drops the activations (the next batch plans them anew: adapters came or went). */
void model_invalidate_acts(iopo_model *m);
/* Packs params into per-decay-class segments of at most the device's largest allocation (values, and gradients when
 * grads), every parameter a view (decoder.c; the adapters' arenas are made the same way). */
void model_alloc_arenas(iopo_ctx *ctx, iopo_param *params, int n, bool grads, iopo_param_segment **segments,
                        int *nsegments);

/* Activations of one block for a batch shape; NULL where the family has no such tensor. */
typedef struct layer_acts {
    iopo_tensor *norm1, *norm1_mean, *norm1_rstd;   /* (BT,C), (BT), (BT); mean only for LayerNorm */
    iopo_tensor *qkv;                               /* (BT,W) projection output, W = (NH+2*NKV)*hd */
    iopo_tensor *qk_rstd;                           /* (BT,NH+NKV) per-head RMSNorm of q and k */
    iopo_tensor *qkv_att;                           /* (BT,W) what attention reads (after q/k norm and RoPE);
                                                       without q/k norm it is qkv itself (RoPE runs in place) */
    iopo_tensor *att_lse;                           /* (B,NH,T) attention's per-row log-sum-exp: all its backward
                                                       needs besides atty to recompute the probabilities */
    iopo_tensor *atty;                              /* (BT,NH*hd) attention output before o_proj */
    iopo_tensor *x_mid;                             /* (BT,C) residual after the attention branch */
    iopo_tensor *norm2, *norm2_mean, *norm2_rstd;   /* (BT,C), (BT), (BT) */
    iopo_tensor *up, *gate;                         /* (BT,F): GELU: c_fc output (up); SwiGLU: up_proj, gate_proj */
    iopo_tensor *hidden;                            /* (BT,F) gelu(up) or silu(gate) * up: down_proj's input */
    iopo_tensor *lora_h[LORA_MAX_SITES];            /* (BT,r) each adapter's dropout(x) @ A^T */
} layer_acts;

/* Every field is a view, for the current batch shape, of tensors allocated once for the reserved shape. */
typedef struct model_acts {
    int B, T;                                       /* the current batch shape (0: no views yet) */
    int Bcap, Tcap;                                 /* the shape allocated for */
    bool head_chunked;                              /* the allocation runs the head in chunks */
    int64_t head_rows;                              /* logits rows the allocation holds */
    iopo_tensor **base;                             /* the allocated tensors, in the activation list's order */
    iopo_tensor **views;                            /* (nbase) the current views of them, NULL before any */
    int nbase;
    iopo_tensor **residual;                         /* L+1 of (BT,C): each block's input, then the final stream */
    layer_acts *layers;
    iopo_tensor *positions;                         /* (B,T) i32 RoPE positions */
    iopo_tensor *rope_cos, *rope_sin;               /* (T,hd/2) */
    iopo_tensor *normf, *normf_mean, *normf_rstd;   /* (BT,C), (BT), (BT) */
    iopo_tensor *logits;                            /* (BT,V), or a chunk's: (Bc*T,V) or one sequence's (Tc,V) */
    /* A chunked head (logits of the whole batch over budget): per chunk of Bc sequences or Tc positions of one, the
     * rows it reads and writes, copied from and to the batch-wide tensors. NULL when the head runs on the whole batch at once. */
    iopo_tensor *c_in, *c_dnorm;                    /* (Bc*T,C) */
    iopo_tensor *c_targets, *c_mask, *c_loss, *c_lse, *c_dloss;   /* (Bc,T) or (1,Tc); targets i32 */
    iopo_tensor *c_seq_logp, *c_seq_count, *c_dseq; /* (B) */
    iopo_tensor *c_acc_logp, *c_acc_count;          /* (1): sums over the pieces of one sequence */
    iopo_tensor *loss, *lse;                        /* (B,T) */
    iopo_tensor *seq_logp, *seq_count;              /* (B) */
    iopo_tensor *tmp;                               /* (BT,C) a branch's projection output */
    /* backward scratch */
    iopo_tensor *dres, *dnorm;                      /* (BT,C) */
    iopo_tensor *datty;                             /* (BT,NH*hd) */
    iopo_tensor *dqkv, *dqkv2;                      /* (BT,W); dqkv2 only with RoPE */
    iopo_tensor *dup, *dgate, *dhidden;             /* (BT,F); dgate only for SwiGLU */
    iopo_tensor *att_delta;                         /* (B,NH,T) attention backward's D = rowsum(datty * atty) */
    iopo_tensor *lora_part;                         /* (BT,n) a fused module's columns; only if one is adapted */
    iopo_tensor *lora_dh;                           /* (BT,r) */
    iopo_tensor *lora_xd, *lora_dx;                 /* (BT,Kmax) the dropped input and its gradient; with dropout */
    size_t bytes;                                   /* allocated */
} model_acts;

struct iopo_model {
    iopo_ctx *ctx;
    iopo_model_config cfg;
    const model_family *fam;
    iopo_param *params;
    param_meta *meta;
    int nparams;
    int *slot;               /* (L+1) * R_COUNT: parameter index of (layer, role), layer L = model-wide; -1 absent */
    iopo_param_segment *segments;
    int nsegments;
    model_acts acts;
    lora_state *lora;        /* NULL: no adapters (the base trains) */
    iopo_dtype compute;      /* compute_dtype: F32, or the dtype of the matrices' copies (iopo_param.compute) */
    char *src_dir;           /* the directory it was loaded from (absolute), or NULL */
};

/* The driver's pieces the KV-cached decoder (decode.c) reuses, so a block is still written once. */
int model_qkv_width(const iopo_model_config *c);
iopo_tensor *model_weight(const iopo_model *m, int layer, param_role r);   /* NULL where the family has none */
param_role model_head_role(const iopo_model *m);
void model_norm_forward(iopo_model *m, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd, const iopo_tensor *inp,
                        const iopo_tensor *w, const iopo_tensor *b, int N);
/* b = R_COUNT: no bias */
void model_linear_forward(iopo_model *m, iopo_tensor *out, const iopo_tensor *inp, int layer, param_role w,
                          param_role b, int M, int K, int N);
iopo_tensor *model_layer_qkv(iopo_model *m, int l);
void model_mlp_forward(iopo_model *m, int l, iopo_tensor *out, const iopo_tensor *in, iopo_tensor *up,
                       iopo_tensor *gate, iopo_tensor *hidden, int M);
void model_qkv_prepare(iopo_model *m, int l, iopo_tensor *out, iopo_tensor *qk_rstd, const iopo_tensor *qkv,
                       const iopo_tensor *cos_t, const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T,
                       int npos);

/* Parameters of cfg's family, allocated (zero) on ctx; NULL + message if the config is not valid. */
iopo_model *model_new(iopo_ctx *ctx, const iopo_model_config *cfg, char *err, size_t errlen);
/* The same without allocating them (set each parameter's dtype, then model_alloc_arenas into m->segments). */
iopo_model *model_build(iopo_ctx *ctx, const iopo_model_config *cfg, char *err, size_t errlen);

#endif
