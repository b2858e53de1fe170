/* CPU reference backend: plain C on host arrays, OpenMP loops, BLAS for matrix products.
 * Same semantics as include/iopo/ops.h (which documents each op); shapes in the comments. */
#ifndef IOPO_CPU_OPS_H
#define IOPO_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/ops.h"

void cpu_gemm(float *c, const float *a, const float *b, int M, int N, int K, bool trans_a, bool trans_b, float alpha,
              float beta);
/* cpu_gemm with b in b_dt (F32, BF16 or F16), widened exactly to fp32. */
void cpu_gemm_w(float *c, const float *a, const void *b, iopo_dtype b_dt, int M, int N, int K, bool trans_a,
                bool trans_b, float alpha, float beta);
/* out (M,N), inp (M,K), w (K,N)|(N,K) in w_dt, bias (N) in bias_dt */
void cpu_matmul_forward(float *out, const float *inp, const void *w, iopo_dtype w_dt, const void *bias,
                        iopo_dtype bias_dt, int M, int K, int N, iopo_wlayout layout);
void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const void *w,
                         iopo_dtype w_dt, int M, int K, int N, iopo_wlayout layout);

void cpu_convert(void *dst, iopo_dtype dst_dt, const void *src, iopo_dtype src_dt, size_t N);   /* dst, src (N) */

void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                           int N, int C, float eps);                /* out (N,C), mean (N), rstd (N), w,b (C) */
void cpu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const float *mean, const float *rstd, int N, int C);
void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
void cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, int N, int C);

void cpu_gelu_forward(float *out, const float *inp, size_t N);
void cpu_gelu_backward(float *dinp, const float *dout, const float *inp, size_t N);
void cpu_silu_forward(float *out, const float *inp, size_t N);
void cpu_silu_backward(float *dinp, const float *dout, const float *inp, size_t N);
void cpu_swiglu_forward(float *out, const float *gate, const float *up, size_t N);
void cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t N);
void cpu_add(float *out, const float *a, const float *b, size_t N);
void cpu_accumulate(float *dst, const float *src, size_t N);

/* out (B,T,C), tokens (B,T), wte (V,C) in wte_dt, wpe (T',C) in wpe_dt */
void cpu_embedding_forward(float *out, const int32_t *tokens, const void *wte, iopo_dtype wte_dt, const void *wpe,
                           iopo_dtype wpe_dt, int B, int T, int C, int V);
void cpu_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B, int T, int C,
                            int V);

/* One query row of causal attention over keys 0..n-1 (n >= 1), keys in tiles under an online softmax: o (hd) =
 * softmax(q.k_s * scale) v; returns the row's log-sum-exp of the scaled scores. q (hd); key / value s at
 * k + s*stride, v + s*stride (hd each). The forward and the KV-cache decode both run it, so a decoded row is the
 * forward's row bit for bit. */
float cpu_attention_row(float *o, const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                        float scale);
void cpu_attention_forward(float *out, float *lse, const float *qkv, const int32_t *lengths, int B, int T, int NH,
                           int NKV, int hd);                        /* out (B,T,NH*hd), lse (B,NH,T) */
void cpu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *out,
                            const float *lse, const int32_t *lengths, int B, int T, int NH, int NKV,
                            int hd);                                /* scratch (B,NH,T) = rowsum(dout * out) */

void cpu_attention_decode(float *out, const float *cache, const int32_t *lengths, int B, int Tmax, int NH, int NKV,
                          int hd);                                  /* out (B,NH*hd), cache (B,Tmax,(NH+2*NKV)*hd) */
void cpu_scatter_rows(float *dst, const float *src, const int32_t *pos, int B, int Tmax, int W);
void cpu_gather_rows_add(float *out, const void *table, iopo_dtype table_dt, const int32_t *idx, int N, int R,
                         int C);                                    /* out (N,C), table (R,C) in table_dt, idx (N) */

void cpu_rope_tables(const iopo_rope_config *cfg, int hd, int npos, float *cos_t, float *sin_t);
void cpu_rope_forward(float *out, const float *inp, const float *cos_t, const float *sin_t, const int32_t *positions,
                      int B, int T, int NH, int NKV, int hd, int npos);   /* out, inp (B,T,(NH+2*NKV)*hd) */
void cpu_rope_backward(float *dinp, const float *dout, const float *cos_t, const float *sin_t,
                       const int32_t *positions, int B, int T, int NH, int NKV, int hd, int npos);

void cpu_qk_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *qw, const float *kw, int N,
                            int NH, int NKV, int hd, float eps);   /* out, inp (N,(NH+2*NKV)*hd), rstd (N,NH+NKV) */
void cpu_qk_rmsnorm_backward(float *dinp, float *dqw, float *dkw, const float *dout, const float *inp,
                             const float *qw, const float *kw, const float *rstd, int N, int NH, int NKV, int hd);

void cpu_softmax_ce_forward(float *loss, float *lse, float *seq_logp, float *seq_count, const float *logits,
                            const int32_t *targets, const float *mask, int B, int T, int V);
void cpu_softmax_ce_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                             const float *mask, const float *dloss, const float *dseq_logp, int B, int T, int V);

void cpu_pref_loss(float *loss, float *z, float *dseq_logp, const float *seq_logp, const float *ref_logp,
                   const float *seq_count, int E, const iopo_pref_params *p);

void cpu_grad_norm(float *out, const float *const *grads, const size_t *numels, int n, float max_norm);
void cpu_adamw_update(float *param, const float *grad, float *m, float *v, const float *scale, size_t N,
                      const iopo_adamw_params *p);

void cpu_lora_cols(float *dst, const float *src, int M, int n, int dst_ld, int dst_col0, int src_ld, int src_col0,
                   float alpha, bool accumulate);
bool cpu_lora_keep(uint32_t seed, uint32_t index, uint32_t threshold);
void cpu_lora_dropout(float *dst, const float *src, size_t n, uint32_t seed, uint32_t threshold, float scale,
                      bool accumulate);

#endif
