/* Decoding with a KV cache: each layer keeps the packed q|k|v rows (after q/k norm and RoPE) of every position so far,
 * so a step runs the model on one new token per sequence: embedding, then per block the same ops as the driver's
 * forward on B rows (norm, q|k|v projection, [q/k norm], [RoPE at the token's position], the row written into the
 * cache, attention of the one query over the cache, o_proj, residual, norm, MLP, residual), then the final norm and the
 * head. The prompt is prefilled with one ordinary forward whose q|k|v rows are copied into the cache. */
#include <stdlib.h>
#include <string.h>

#include "iopo/ops.h"
#include "model/model_internal.h"

struct iopo_kv_cache {
    iopo_model *m;
    int B, Tmax;
    iopo_tensor **cache;                            /* L of (B,Tmax,W) */
    iopo_tensor *pos, *lengths;                     /* (B) i32: the new token's position; positions valid after it */
    iopo_tensor *rope_cos, *rope_sin;               /* (Tmax,hd/2) */
    iopo_tensor *x, *x_mid, *xn, *mean, *rstd;      /* (B,C), (B,C), (B,C), (B), (B) */
    iopo_tensor *qkv, *qkv_n, *qk_rstd;             /* (B,W), (B,W), (B,NH+NKV) */
    iopo_tensor *atty, *tmp;                        /* (B,NH*hd), (B,C) */
    iopo_tensor *up, *gate, *hidden;                /* (B,F) */
    iopo_tensor *logits;                            /* (B,V) */
};

iopo_kv_cache *iopo_kv_cache_new(iopo_model *m, int B, int Tmax) {
    const iopo_model_config *c = &m->cfg;
    iopo_ctx *x = m->ctx;
    int64_t C = c->n_embd, Wd = model_qkv_width(c), F = c->n_ffn, hd = c->head_dim;
    iopo_kv_cache *kv = calloc(1, sizeof *kv);
    kv->m = m;
    kv->B = B;
    kv->Tmax = Tmax;
    kv->cache = calloc((size_t)c->n_layer, sizeof *kv->cache);
    for (int l = 0; l < c->n_layer; l++) kv->cache[l] = iopo_tensor_new3(x, IOPO_F32, B, Tmax, Wd);
    kv->pos = iopo_tensor_new1(x, IOPO_I32, B);
    kv->lengths = iopo_tensor_new1(x, IOPO_I32, B);
    kv->x = iopo_tensor_new2(x, IOPO_F32, B, C);
    kv->x_mid = iopo_tensor_new2(x, IOPO_F32, B, C);
    kv->xn = iopo_tensor_new2(x, IOPO_F32, B, C);
    kv->mean = iopo_tensor_new1(x, IOPO_F32, B);
    kv->rstd = iopo_tensor_new1(x, IOPO_F32, B);
    kv->qkv = iopo_tensor_new2(x, IOPO_F32, B, Wd);
    if (m->fam->qk_norm) {
        kv->qkv_n = iopo_tensor_new2(x, IOPO_F32, B, Wd);
        kv->qk_rstd = iopo_tensor_new2(x, IOPO_F32, B, c->n_head + c->n_kv_head);
    }
    kv->atty = iopo_tensor_new2(x, IOPO_F32, B, (int64_t)c->n_head * hd);
    kv->tmp = iopo_tensor_new2(x, IOPO_F32, B, C);
    kv->up = iopo_tensor_new2(x, IOPO_F32, B, F);
    if (m->fam->mlp == MLP_SWIGLU) kv->gate = iopo_tensor_new2(x, IOPO_F32, B, F);
    kv->hidden = iopo_tensor_new2(x, IOPO_F32, B, F);
    kv->logits = iopo_tensor_new2(x, IOPO_F32, B, c->vocab_size);
    if (!m->fam->learned_pos) {
        kv->rope_cos = iopo_tensor_new2(x, IOPO_F32, Tmax, hd / 2);
        kv->rope_sin = iopo_tensor_new2(x, IOPO_F32, Tmax, hd / 2);
        float *cs = malloc((size_t)Tmax * (hd / 2) * sizeof *cs), *sn = malloc((size_t)Tmax * (hd / 2) * sizeof *sn);
        iopo_rope_tables(&c->rope, (int)hd, Tmax, cs, sn);
        iopo_tensor_upload(kv->rope_cos, cs);
        iopo_tensor_upload(kv->rope_sin, sn);
        free(cs);
        free(sn);
    }
    return kv;
}

void iopo_kv_cache_free(iopo_kv_cache *kv) {
    if (!kv) return;
    for (int l = 0; l < kv->m->cfg.n_layer; l++) iopo_tensor_free(kv->cache[l]);
    free(kv->cache);
    iopo_tensor *ts[] = {kv->pos, kv->lengths, kv->rope_cos, kv->rope_sin, kv->x, kv->x_mid, kv->xn, kv->mean,
                         kv->rstd, kv->qkv, kv->qkv_n, kv->qk_rstd, kv->atty, kv->tmp, kv->up, kv->gate, kv->hidden,
                         kv->logits};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) iopo_tensor_free(ts[i]);
    free(kv);
}

void iopo_kv_cache_prefill(iopo_kv_cache *kv, const iopo_batch *b) {
    iopo_model *m = kv->m;
    int L = m->cfg.n_layer, Wd = model_qkv_width(&m->cfg), T = b->T;
    if (T <= 0) return;
    if (iopo_model_get_config(m)->recompute) {   /* its blocks share one set of activations: no per-layer rows */
        fprintf(stderr, "iopo: internal error: KV-cache prefill on a model set to recompute\n");
        abort();
    }
    iopo_model_forward(m, b);
    for (int l = 0; l < L; l++) {
        iopo_tensor *rows = model_layer_qkv(m, l);   /* (B,T,W) */
        for (int s = 0; s < b->B; s++)
            iopo_tensor_copy_range(kv->cache[l], (size_t)s * kv->Tmax * Wd, rows, (size_t)s * T * Wd, (size_t)T * Wd);
    }
}

iopo_tensor *iopo_kv_cache_step(iopo_kv_cache *kv, const iopo_tensor *tokens, const int32_t *pos) {
    iopo_model *m = kv->m;
    const iopo_model_config *c = &m->cfg;
    const model_family *f = m->fam;
    iopo_ctx *x = m->ctx;
    int B = kv->B, C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, hd = c->head_dim, V = c->vocab_size;
    int Wd = model_qkv_width(c), A = NH * hd;
    int32_t *len = malloc((size_t)B * sizeof *len);
    for (int s = 0; s < B; s++) len[s] = pos[s] >= 0 && pos[s] < kv->Tmax ? pos[s] + 1 : 0;
    iopo_tensor_upload(kv->pos, pos);
    iopo_tensor_upload(kv->lengths, len);
    free(len);
    iopo_embedding_forward(x, kv->x, tokens, model_weight(m, -1, R_TOK_EMB), NULL, B, 1, C, V);   /* (B,C) */
    if (f->learned_pos) iopo_gather_rows_add(x, kv->x, model_weight(m, -1, R_POS_EMB), kv->pos, B, c->n_ctx, C);
    for (int l = 0; l < c->n_layer; l++) {
        model_norm_forward(m, kv->xn, kv->mean, kv->rstd, kv->x, model_weight(m, l, R_ATTN_NORM_W),
                           model_weight(m, l, R_ATTN_NORM_B), B);
        model_linear_forward(m, kv->qkv, kv->xn, l, R_QKV_W, R_QKV_B, B, C, Wd);   /* (B, q|k|v) */
        iopo_tensor *row = f->qk_norm ? kv->qkv_n : kv->qkv;   /* positions (B, T = 1): each sequence's own */
        model_qkv_prepare(m, l, row, kv->qk_rstd, kv->qkv, kv->rope_cos, kv->rope_sin, kv->pos, B, 1, kv->Tmax);
        iopo_scatter_rows(x, kv->cache[l], row, kv->pos, B, kv->Tmax, Wd);
        iopo_attention_decode(x, kv->atty, kv->cache[l], kv->lengths, B, kv->Tmax, NH, NKV, hd);
        model_linear_forward(m, kv->tmp, kv->atty, l, R_O_W, R_O_B, B, A, C);
        iopo_add(x, kv->x_mid, kv->x, kv->tmp, (size_t)B * C);
        model_norm_forward(m, kv->xn, kv->mean, kv->rstd, kv->x_mid, model_weight(m, l, R_MLP_NORM_W),
                           model_weight(m, l, R_MLP_NORM_B), B);
        model_mlp_forward(m, l, kv->tmp, kv->xn, kv->up, kv->gate, kv->hidden, B);
        iopo_add(x, kv->x, kv->x_mid, kv->tmp, (size_t)B * C);
    }
    model_norm_forward(m, kv->xn, kv->mean, kv->rstd, kv->x, model_weight(m, -1, R_NORM_F_W),
                       model_weight(m, -1, R_NORM_F_B), B);
    iopo_matmul_forward(x, kv->logits, kv->xn, model_weight(m, -1, model_head_role(m)), NULL, B, C, V, IOPO_W_NK);
    return kv->logits;
}
