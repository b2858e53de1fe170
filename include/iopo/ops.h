/* The op interface: every op model code calls, identical for the vulkan and cpu backends.
 *
 * Conventions (all ops):
 * - Tensors are fp32 unless marked i32, row-major, contiguous; shapes are given in the comments and by the int
 *   arguments, which must agree with the tensors' element counts (checked: a mismatch aborts with a message).
 * - An argument marked "f32 | bf16 | f16" may also be a 16-bit tensor (a weight kept in its checkpoint's precision):
 *   it is widened exactly to fp32 as it is read, and everything is computed and accumulated in fp32, so the result is
 *   the fp32 op on the widened values. Outputs and gradients are always fp32.
 * - Forward ops overwrite their outputs.
 * - Backward ops ADD into every gradient output (dX += ...), so gradients of shared inputs (residual stream, tied
 *   weights) and of micro-batches accumulate; callers zero gradient buffers when a step starts. The one exception is
 *   iopo_softmax_ce_backward, which overwrites dlogits so that it can run in place on the logits buffer.
 * - A gradient output passed as NULL is not computed.
 * - Every reduction runs in a fixed order: the same inputs give bit-identical outputs on the same device.
 * - Sequences are right-padded: lengths (B) i32 gives each sequence's valid tokens. */
#ifndef IOPO_OPS_H
#define IOPO_OPS_H

#include "iopo/context.h"

/* ---- matmul ------------------------------------------------------------------------------------------------- */

/* Weight layouts. GPT-2's Conv1D stores [in, out] = (K, N); torch.nn.Linear (Llama, Qwen2) stores [out, in] = (N, K). */
typedef enum { IOPO_W_KN = 0, IOPO_W_NK = 1 } iopo_wlayout;

/* General matrix product: C (M,N) = alpha * op(A) @ op(B) + beta * C, where op(A) is (M,K) and op(B) is (K,N).
 * trans_a: A is stored (K,M); trans_b: B is stored (N,K). beta == 0 ignores C's old contents (NaN included).
 * B is f32 | bf16 | f16; A and C are f32. */
void iopo_gemm(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b,
               int M, int N, int K, bool trans_a, bool trans_b, float alpha, float beta);

/* out (M,N) = inp (M,K) @ W + bias (N); W is (K,N) for IOPO_W_KN or (N,K) for IOPO_W_NK; bias may be NULL.
 * W and bias are f32 | bf16 | f16 (each its own). */
void iopo_matmul_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *w,
                         const iopo_tensor *bias, int M, int K, int N, iopo_wlayout layout);

/* dinp (M,K) += dout @ W^T;  dw (W's layout) += inp^T @ dout;  dbias (N) += column sums of dout (M,N).
 * W is f32 | bf16 | f16 (dinp reads it widened); dw and dbias are f32 whatever W's dtype: dw reads neither W nor its
 * dtype, so a 16-bit weight that is frozen passes dw = NULL, and one trained in fp32 elsewhere can still get an fp32
 * gradient here. */
void iopo_matmul_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *dbias,
                          const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                          int M, int K, int N, iopo_wlayout layout);

/* ---- dtype conversion --------------------------------------------------------------------------------------- */

/* dst (N) = src (N) converted, between f32 and bf16 or f16 (one side f32; dst != src): widening is exact; narrowing
 * rounds to nearest, ties to even, as torch's .to(torch.bfloat16) / .to(torch.float16) do: fp16 keeps subnormals and
 * overflows to inf from 65520 up; bf16 overflows to inf only past its largest finite value (as fp32 rounds); NaN stays
 * a quiet NaN of the same sign. Bit-identical on both backends (src/util/half.h holds the scalar steps). */
void iopo_convert(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N);

/* ---- normalisation ------------------------------------------------------------------------------------------ */

/* out (N,C) = (inp - mean) * rstd * w (C) + b (C), per row; saves mean (N) and rstd (N) = 1/sqrt(var + eps),
 * var being the biased (population) variance, as torch.nn.LayerNorm. */
void iopo_layernorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd,
                            const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *b, int N, int C, float eps);
/* dinp (N,C) +=, dw (C) +=, db (C) += */
void iopo_layernorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *db,
                             const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                             const iopo_tensor *mean, const iopo_tensor *rstd, int N, int C);

/* out (N,C) = inp * rstd * w (C), rstd (N) = 1/sqrt(mean(inp^2) + eps), as Llama/Qwen2 RMSNorm. */
void iopo_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                          const iopo_tensor *w, int N, int C, float eps);
/* dinp (N,C) +=, dw (C) += */
void iopo_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, const iopo_tensor *dout,
                           const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *rstd, int N, int C);

/* ---- element-wise ------------------------------------------------------------------------------------------- */

/* GPT-2 "gelu_new": 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))). out (N), inp (N); dinp (N) += */
void iopo_gelu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N);
void iopo_gelu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N);

/* silu(x) = x * sigmoid(x). out (N), inp (N); dinp (N) += */
void iopo_silu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N);
void iopo_silu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N);

/* SwiGLU gate of Llama/Qwen2 MLPs: out (N) = silu(gate (N)) * up (N); dgate (N) +=, dup (N) += */
void iopo_swiglu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *gate, const iopo_tensor *up, size_t N);
void iopo_swiglu_backward(iopo_ctx *ctx, iopo_tensor *dgate, iopo_tensor *dup, const iopo_tensor *dout,
                          const iopo_tensor *gate, const iopo_tensor *up, size_t N);

/* Residual add: out (N) = a (N) + b (N). out may be a or b (in place). Its backward is iopo_accumulate on each input. */
void iopo_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *a, const iopo_tensor *b, size_t N);
/* dst (N) += src (N) */
void iopo_accumulate(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N);

/* ---- embedding ---------------------------------------------------------------------------------------------- */

/* out (B,T,C) = wte (V,C)[tokens (B,T) i32] + wpe (maxT,C)[t]; wpe may be NULL (no learned positions).
 * wte and wpe are f32 | bf16 | f16 (each its own): out = widen(wte) + widen(wpe) in fp32.
 * A token outside [0, V) yields a zero token embedding (and no gradient); T <= maxT. */
void iopo_embedding_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *tokens, const iopo_tensor *wte,
                            const iopo_tensor *wpe, int B, int T, int C, int V);
/* dwte (V,C) += per-token sums of dout (B,T,C); dwpe (maxT,C) += sums over the batch. Deterministic: no atomics.
 * dwte and dwpe are f32 (the tables' own dtype does not enter). */
void iopo_embedding_backward(iopo_ctx *ctx, iopo_tensor *dwte, iopo_tensor *dwpe, const iopo_tensor *dout,
                             const iopo_tensor *tokens, int B, int T, int C, int V);

/* ---- attention ---------------------------------------------------------------------------------------------- */

/* Causal multi-head self-attention with grouped-query heads (NKV divides NH; NKV == NH is plain multi-head), computed
 * flash-style: per query row the keys go by in tiles under an online softmax (running max and sum, the output rescaled
 * as the max grows), so no (T,T) buffer exists in the forward or the backward.
 * qkv (B,T,(NH+2*NKV)*hd): per token q (NH heads) | k (NKV heads) | v (NKV heads), head h owning hd contiguous values
 *   (GPT-2's c_attn output as is; Llama/Qwen2 stack their q,k,v projections the same way).
 * out (B,T,NH*hd) = softmax(q k^T / sqrt(hd)) v per head; lse (B,NH,T) = log(sum_s exp(q.k_s / sqrt(hd))) per query
 * row (natural log, scaled scores), what the backward needs to recompute the probabilities.
 * Query head h uses kv head h / (NH/NKV). Scores are scaled by 1/sqrt(hd).
 * lengths (B) i32: positions t >= lengths[b] are padding: they attend to nothing (out row 0, lse 0) and no position
 * attends to them. Lengths outside [0, T] are clamped to it.
 * On Vulkan every invocation loops over at most a budget of iterations kept under lavapipe's 65,535-iteration shader
 * loop limit; a row too long for it (T beyond about 15,000 at hd 128, see docs/ARCHITECTURE.md) goes to the failure
 * handler with a message naming the limit. */
void iopo_attention_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *lse, const iopo_tensor *qkv,
                            const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd);
/* dqkv (B,T,(NH+2*NKV)*hd) +=; padded positions get no gradient. out (B,T,NH*hd) and lse (B,NH,T) are the forward's.
 * scratch (B,NH,T) is overwritten with D = rowsum(dout * out) per (b, h, t) (0 at padded rows). FlashAttention-2's
 * shape: the probabilities are recomputed from q, k and lse; dq per query row (keys in ascending order), dk and dv per
 * key row (query heads of its kv group in order, queries ascending). Fixed orders, no atomics: bit-identical run to run
 * on one device. A NULL dqkv computes nothing. */
void iopo_attention_backward(iopo_ctx *ctx, iopo_tensor *dqkv, iopo_tensor *scratch, const iopo_tensor *dout,
                             const iopo_tensor *qkv, const iopo_tensor *out, const iopo_tensor *lse,
                             const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd);

/* ---- decoding with a KV cache ------------------------------------------------------------------------------- */

/* Causal attention of one new token per sequence against a cache of packed q|k|v rows (the layout
 * iopo_attention_forward reads: per position q (NH heads) | k (NKV) | v (NKV), hd each, W = (NH+2*NKV)*hd).
 * cache (B,Tmax,W): rows 0..lengths[b]-1 of sequence b are valid, the last of them (lengths[b]-1) being the new token,
 * whose q is the query; its keys/values are rows 0..lengths[b]-1 (k, v parts). Query head h uses kv head h/(NH/NKV);
 * scores scaled by 1/sqrt(hd). out (B, NH*hd) = softmax(q k^T) v per head; a sequence with lengths[b] <= 0 gets a zero
 * row. lengths (B) i32, clamped to [0, Tmax]. On the CPU bit-identical to row lengths[b]-1 of iopo_attention_forward
 * on the same rows (both run the same row function); on Vulkan within float tolerance of it (the keys are summed in
 * chunks, then the chunks merged). */
void iopo_attention_decode(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *cache, const iopo_tensor *lengths,
                           int B, int Tmax, int NH, int NKV, int hd);
/* dst (B,Tmax,W)[b, pos[b], :] = src (B,W)[b, :] for each b with 0 <= pos[b] < Tmax (others skipped): writes each
 * sequence's new row into its cache. pos (B) i32. */
void iopo_scatter_rows(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, const iopo_tensor *pos, int B,
                       int Tmax, int W);
/* out (N,C) += table (R,C)[idx[i], :] for each i with 0 <= idx[i] < R (others add nothing): GPT-2's learned position
 * embedding of decoded tokens at their positions. idx (N) i32; table f32 | bf16 | f16. */
void iopo_gather_rows_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *table, const iopo_tensor *idx, int N,
                          int R, int C);

/* ---- rotary position embedding (Llama / Qwen2 / Qwen3) ------------------------------------------------------ */

typedef enum { IOPO_ROPE_DEFAULT = 0, IOPO_ROPE_LLAMA3 = 1 } iopo_rope_scaling;
typedef struct iopo_rope_config {
    float theta;                       /* rope_theta */
    iopo_rope_scaling scaling;         /* rope_scaling.rope_type: absent/"default" or "llama3" */
    float factor, low_freq_factor, high_freq_factor;   /* llama3 only */
    int original_max_position_embeddings;              /* llama3 only */
} iopo_rope_config;
/* Host-side tables, computed exactly as Hugging Face does (inv_freq = 1/theta^(2i/hd) in fp32 as transformers'
 * _compute_default_rope_parameters / _compute_llama3_parameters compute it, angle = (float)pos * inv_freq[i] in fp32,
 * then cos/sin of that fp32 angle rounded to float): cos_t, sin_t (npos, hd/2) for positions 0..npos-1. hd even.
 * llama3 (wavelen = 2*pi / inv_freq, lo = orig / low_freq_factor, hi = orig / high_freq_factor):
 *   wavelen < hi: inv_freq;  wavelen > lo: inv_freq / factor;  otherwise, with s = (orig / wavelen - low_freq_factor) /
 *   (high_freq_factor - low_freq_factor): (1 - s) * inv_freq / factor + s * inv_freq. */
void iopo_rope_tables(const iopo_rope_config *cfg, int hd, int npos, float *cos_t, float *sin_t);
/* Rotate-half RoPE applied to the q heads (NH) and k heads (NKV) of a packed qkv row, v heads copied unchanged:
 * qkv (B,T,(NH+2*NKV)*hd) laid out per token as q | k | v (head h owns hd contiguous values, as iopo_attention_forward
 * reads it). For head x (hd values), half = hd/2, p = positions[b*T+t], c = cos_t[p*half+i], s = sin_t[p*half+i]:
 *   out[i] = x[i]*c - x[i+half]*s ; out[i+half] = x[i+half]*c + x[i]*s     (i < half)
 * positions (B,T) i32 in [0, npos) (per-sequence positions; padded slots may hold anything in range; a position
 * outside it is clamped to it, so no table read goes out of bounds);
 * cos_t, sin_t (npos, hd/2) tensors uploaded from iopo_rope_tables. out may be inp (in place). */
void iopo_rope_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *cos_t,
                       const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                       int npos);
/* dinp (B,T,(NH+2*NKV)*hd) += R^T dout for q/k heads (the inverse rotation), += dout for v heads. Not in place. */
void iopo_rope_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *cos_t,
                        const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                        int npos);

/* ---- per-head RMSNorm of q and k (Qwen3's q_norm / k_norm, applied before RoPE) ----------------------------- */

/* For each of the N tokens of a packed qkv (N,(NH+2*NKV)*hd): every q head (h < NH) is RMS-normalised over its hd
 * values with weight qw (hd), every k head (NH <= h < NH+NKV) with kw (hd); v heads are copied unchanged.
 * out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) per head, saved in rstd (N, NH+NKV). out != inp. */
void iopo_qk_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                             const iopo_tensor *qw, const iopo_tensor *kw, int N, int NH, int NKV, int hd, float eps);
/* dinp (N,(NH+2*NKV)*hd) += (v part: += dout), dqw (hd) +=, dkw (hd) += (sums over tokens and heads in a fixed order:
 * deterministic, no atomics). Per q or k head, with r its rstd and w its weight:
 *   dinp += r * (dout*w - x * r^2 * mean(dout*w*x));  dw += sum over its tokens and heads of dout * x * r. */
void iopo_qk_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dqw, iopo_tensor *dkw,
                              const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *qw,
                              const iopo_tensor *kw, const iopo_tensor *rstd, int N, int NH, int NKV, int hd);

/* ---- softmax + cross-entropy -------------------------------------------------------------------------------- */

/* Fused log-softmax over V and label pick, per token, with a loss mask.
 * logits (B,T,V); targets (B,T) i32, the label of each position (already shifted by the caller); mask (B,T) fp32
 * weights, 0 = no loss (the target is then not read and may be anything, e.g. -100).
 * Outputs: loss (B,T) = mask * (lse - logits[target]); lse (B,T) = logsumexp of the row (kept for the backward);
 * seq_logp (B) = sum_t mask * log p(target) (the summed label log-prob DPO/IOPO need); seq_count (B) = sum_t mask. */
void iopo_softmax_ce_forward(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *lse, iopo_tensor *seq_logp,
                             iopo_tensor *seq_count, const iopo_tensor *logits, const iopo_tensor *targets,
                             const iopo_tensor *mask, int B, int T, int V);
/* dlogits (B,T,V) = g * (softmax(logits) - onehot(target)), where g (per token) = mask * (dloss[b,t] - dseq_logp[b]):
 * dloss (B,T) is the upstream gradient of the loss output and dseq_logp (B) that of seq_logp; either may be NULL.
 * dlogits is OVERWRITTEN and may be the logits tensor itself (in place: no second V-wide buffer). */
void iopo_softmax_ce_backward(iopo_ctx *ctx, iopo_tensor *dlogits, const iopo_tensor *logits, const iopo_tensor *lse,
                              const iopo_tensor *targets, const iopo_tensor *mask, const iopo_tensor *dloss,
                              const iopo_tensor *dseq_logp, int B, int T, int V);

/* ---- preference objectives -------------------------------------------------------------------------------- */

typedef enum { IOPO_PREF_SIGMOID = 0, IOPO_PREF_IPO = 1, IOPO_PREF_HINGE = 2, IOPO_PREF_ROBUST = 3 } iopo_pref_loss_type;

typedef struct iopo_pref_params {
    int group;                     /* sequences per example: 2 = DPO (chosen, rejected); 4 = IOPO (x1y1, x1y2, x2y2,
                                      x2y1) */
    iopo_pref_loss_type type;      /* DPO loss; IOPO always uses sigmoid */
    float beta, label_smoothing;
    float pref_ftx;                /* gamma of the length-averaged SFT term on the chosen sequence(s) */
    float scale;                   /* multiplies every example's gradient (1 / examples in the step, for a mean) */
} iopo_pref_params;

/* DPO and IOPO losses (REFERENCE.md section 1) from per-sequence summed log-probs, on the device.
 * rho = seq_logp - ref_logp; DPO z = rho_c - rho_r; IOPO z = 0.5*(Pi1 + Pi2) = rho11 + rho22 - rho12 - rho21.
 * seq_logp, ref_logp, seq_count (E*group); loss (E) = each example's loss (unscaled), z (E) = its margin;
 * dseq_logp (E*group) = scale * d loss / d seq_logp (OVERWRITTEN; feed it to the model backward as dseq_logp). */
void iopo_pref_loss(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *z, iopo_tensor *dseq_logp, const iopo_tensor *seq_logp,
                    const iopo_tensor *ref_logp, const iopo_tensor *seq_count, int E, const iopo_pref_params *p);

/* ---- optimizer ---------------------------------------------------------------------------------------------- */

typedef struct iopo_adamw_params {
    float lr, beta1, beta2, eps, weight_decay;   /* weight_decay 0 turns decay off for this tensor */
    int step;                                    /* 1-based, for bias correction */
} iopo_adamw_params;

/* Global L2 norm of all gradients and the clip scale, on the device:
 * out (2) = { norm, scale } with norm = sqrt(sum of squares of every element of every grads[i]) and
 * scale = max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1 (as torch.nn.utils.clip_grad_norm_).
 * partials: scratch of at least iopo_grad_norm_scratch_elems(n, grads) fp32 elements. */
size_t iopo_grad_norm_scratch_elems(int n, iopo_tensor *const *grads);
void iopo_grad_norm(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *partials, iopo_tensor *const *grads, int n,
                    float max_norm);

/* torch.optim.AdamW step on one tensor, the gradient first multiplied by the clip scale, read on the device from
 * element 1 of `scale` (the `out` tensor of iopo_grad_norm; NULL = no scaling):  p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *                     p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps).
 * param, grad, m, v: (N). */
void iopo_adamw_update(iopo_ctx *ctx, iopo_tensor *param, const iopo_tensor *grad, iopo_tensor *m, iopo_tensor *v,
                       const iopo_tensor *scale, size_t N, const iopo_adamw_params *p);

/* ---- LoRA adapters' element-wise pieces (the rest of an adapter is GEMM) ------------------------------------ */

/* dst (M, dst_ld): columns [dst_col0, dst_col0 + n) of every row (= or, with accumulate, +=) alpha times columns
 * [src_col0, src_col0 + n) of src (M, src_ld). An adapter's output goes into its columns of a fused q|k|v projection
 * this way, and those columns of the projection's output gradient come back. dst and src must differ. */
void iopo_lora_cols(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, int M, int n, int dst_ld, int dst_col0,
                    int src_ld, int src_col0, float alpha, bool accumulate);
/* Inverted dropout with a stateless mask: dst (n) (= or +=) src (n) * 1/(1-p) where keep(seed, i), else 0. Element i
 * is kept when a 32-bit hash of (seed, i) has its top 24 bits >= round(p * 2^24), so a backward with the same seed
 * applies the forward's mask without storing it, and both backends give the same bits. p in [0, 1); dst != src. */
void iopo_lora_dropout(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t n, uint32_t seed, float p,
                       bool accumulate);

#endif
