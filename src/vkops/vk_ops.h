/* Vulkan backend of the op interface: each function records its dispatches into the context's command stream
 * (see src/vk/vk.h). Same semantics as include/iopo/ops.h; shapes in the comments there. */
#ifndef IOPO_VK_OPS_H
#define IOPO_VK_OPS_H

#include "iopo/ops.h"

void vkop_gemm(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b, int M, int N, int K,
               bool trans_a, bool trans_b, float alpha, float beta);
void vkop_matmul_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *w,
                         const iopo_tensor *bias, int M, int K, int N, iopo_wlayout layout);
void vkop_matmul_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *dbias,
                          const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w, int M, int K, int N,
                          iopo_wlayout layout);

void vkop_convert(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N);

void vkop_layernorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd,
                            const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *b, int N, int C, float eps);
void vkop_layernorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *db,
                             const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                             const iopo_tensor *mean, const iopo_tensor *rstd, int N, int C);
void vkop_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                          const iopo_tensor *w, int N, int C, float eps);
void vkop_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, const iopo_tensor *dout,
                           const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *rstd, int N, int C);

void vkop_gelu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N);
void vkop_gelu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N);
void vkop_silu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N);
void vkop_silu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N);
void vkop_swiglu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *gate, const iopo_tensor *up, size_t N);
void vkop_swiglu_backward(iopo_ctx *ctx, iopo_tensor *dgate, iopo_tensor *dup, const iopo_tensor *dout,
                          const iopo_tensor *gate, const iopo_tensor *up, size_t N);
void vkop_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *a, const iopo_tensor *b, size_t N);
void vkop_accumulate(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N);

void vkop_embedding_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *tokens, const iopo_tensor *wte,
                            const iopo_tensor *wpe, int B, int T, int C, int V);
void vkop_embedding_backward(iopo_ctx *ctx, iopo_tensor *dwte, iopo_tensor *dwpe, const iopo_tensor *dout,
                             const iopo_tensor *tokens, int B, int T, int C, int V);

void vkop_attention_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *lse, const iopo_tensor *qkv,
                            const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd);
void vkop_attention_backward(iopo_ctx *ctx, iopo_tensor *dqkv, iopo_tensor *scratch, const iopo_tensor *dout,
                             const iopo_tensor *qkv, const iopo_tensor *out, const iopo_tensor *lse,
                             const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd);

void vkop_attention_decode(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *cache, const iopo_tensor *lengths,
                           int B, int Tmax, int NH, int NKV, int hd);
void vkop_scatter_rows(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, const iopo_tensor *pos, int B,
                       int Tmax, int W);
void vkop_gather_rows_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *table, const iopo_tensor *idx, int N,
                          int R, int C);

void vkop_rope_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *cos_t,
                       const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                       int npos);
void vkop_rope_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *cos_t,
                        const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                        int npos);

void vkop_qk_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                             const iopo_tensor *qw, const iopo_tensor *kw, int N, int NH, int NKV, int hd, float eps);
void vkop_qk_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dqw, iopo_tensor *dkw,
                              const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *qw,
                              const iopo_tensor *kw, const iopo_tensor *rstd, int N, int NH, int NKV, int hd);

void vkop_softmax_ce_forward(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *lse, iopo_tensor *seq_logp,
                             iopo_tensor *seq_count, const iopo_tensor *logits, const iopo_tensor *targets,
                             const iopo_tensor *mask, int B, int T, int V);
void vkop_softmax_ce_backward(iopo_ctx *ctx, iopo_tensor *dlogits, const iopo_tensor *logits, const iopo_tensor *lse,
                              const iopo_tensor *targets, const iopo_tensor *mask, const iopo_tensor *dloss,
                              const iopo_tensor *dseq_logp, int B, int T, int V);

void vkop_pref_loss(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *z, iopo_tensor *dseq_logp,
                    const iopo_tensor *seq_logp, const iopo_tensor *ref_logp, const iopo_tensor *seq_count, int E,
                    const iopo_pref_params *p);

void vkop_grad_norm(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *partials, iopo_tensor *const *grads, int n,
                    float max_norm);
void vkop_adamw_update(iopo_ctx *ctx, iopo_tensor *param, const iopo_tensor *grad, iopo_tensor *m, iopo_tensor *v,
                       const iopo_tensor *scale, size_t N, const iopo_adamw_params *p);

void vkop_lora_cols(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, int M, int n, int dst_ld, int dst_col0,
                    int src_ld, int src_col0, float alpha, bool accumulate);
void vkop_lora_dropout(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t n, uint32_t seed,
                       uint32_t threshold, float scale, bool accumulate);

#endif
