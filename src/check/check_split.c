/* Checks of the ops that split their work when a tensor exceeds one storage binding (docs/ARCHITECTURE.md, "Tensors
 * beyond one binding"). Each op runs three times: on the CPU reference, on the device with its own binding limit
 * (unsplit at these sizes) and on the device with the limit lowered (iopo_ctx_set_max_binding) so that its large
 * tensors split into several windows. The split run must record more dispatches than the unsplit one (it did
 * split), match the CPU, and be bit-identical to the unsplit run wherever splitting leaves each element's arithmetic
 * alone (all but the GEMM blocks along K, the gradient-norm partials and the column sums over rows: the norm and
 * q/k-norm weight gradients, dbias and dwpe, which add per piece, in order). The vocabulary-sized shapes carry a
 * Qwen-sized vocabulary (151,936 rows), the largest the families in use have; the row-split ops lower the limit to a
 * few KiB instead, with rows whose blocks start off the storage alignment (non-zero shifts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "vk/vk.h"

#define QWEN_VOCAB 151936

typedef struct split_run {
    iopo_ctx *ctx;
    size_t limit;          /* binding limit to set for the run (0 = the context's own) */
    uint64_t dispatches;   /* recorded by the run */
} split_run;

static void run_begin(split_run *r) {
    if (iopo_ctx_backend(r->ctx) == IOPO_BACKEND_VULKAN) {
        iopo_ctx_set_max_binding(r->ctx, r->limit);
        r->dispatches = vk_dispatch_count(r->ctx);
    }
}

static void run_end(split_run *r) {
    if (iopo_ctx_backend(r->ctx) == IOPO_BACKEND_VULKAN) {
        r->dispatches = vk_dispatch_count(r->ctx) - r->dispatches;
        iopo_ctx_set_max_binding(r->ctx, 0);
    }
}

/* The rows every op's checks share: the split run did split, matches the CPU, and matches the unsplit run (exactly
 * when `exact`, else within the CPU tolerance). */
static void split_rows(check_ctx *cc, const char *op, const char *shape, const char *what, const split_run *whole,
                       const split_run *split, const float *w, const float *s, const float *ref, size_t n,
                       double atol, double rtol, bool exact, bool first_of_op) {
    char row[96];
    if (first_of_op) {
        snprintf(row, sizeof row, "split: %llu dispatches vs %llu", (unsigned long long)split->dispatches,
                 (unsigned long long)whole->dispatches);
        check_row(cc, op, shape, row, (double)split->dispatches, (double)whole->dispatches,
                  split->dispatches > whole->dispatches);
    }
    snprintf(row, sizeof row, "split %s vs cpu", what);
    check_close(cc, op, shape, row, s, ref, n, atol, rtol);
    if (exact) {
        snprintf(row, sizeof row, "split %s == unsplit", what);
        check_identical(cc, op, shape, row, s, w, n * sizeof(float));
    } else {
        snprintf(row, sizeof row, "split %s vs unsplit", what);
        check_close(cc, op, shape, row, s, w, n, atol, rtol);
    }
}

/* ---- element-wise: gelu backward (three operands, +=) ---------------------------------------------------------- */

static float *gelu_bwd_run(split_run *r, const float *dinp0, const float *dout, const float *inp, size_t n) {
    iopo_tensor *di = check_tensor1(r->ctx, IOPO_F32, dinp0, (int64_t)n);
    iopo_tensor *d = check_tensor1(r->ctx, IOPO_F32, dout, (int64_t)n);
    iopo_tensor *x = check_tensor1(r->ctx, IOPO_F32, inp, (int64_t)n);
    run_begin(r);
    iopo_gelu_backward(r->ctx, di, d, x, n);
    run_end(r);
    float *out = check_download(di);
    iopo_tensor_free(di);
    iopo_tensor_free(d);
    iopo_tensor_free(x);
    return out;
}

static void split_eltwise(check_ctx *cc) {
    const size_t n = 100003;   // odd: the last piece is short
    float *dinp0 = check_randn(cc, n, 1.0f), *dout = check_randn(cc, n, 1.0f), *inp = check_randn(cc, n, 2.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 64 << 10, 0};
    float *r = gelu_bwd_run(&ref, dinp0, dout, inp, n);
    float *w = gelu_bwd_run(&whole, dinp0, dout, inp, n);
    float *s = gelu_bwd_run(&split, dinp0, dout, inp, n);
    split_rows(cc, "gelu_bwd", "N100003 limit 64K", "dinp", &whole, &split, w, s, r, n, 1e-5, 1e-5, true, true);
    free(r);
    free(w);
    free(s);
    free(dinp0);
    free(dout);
    free(inp);
}

/* ---- optimizer: gradient norm with clipping, then AdamW ------------------------------------------------------- */

typedef struct optim_out {
    float *norm, *p, *m, *v;
} optim_out;

static optim_out optim_run(split_run *r, const float *p0, const float *g, const float *g2, size_t n, size_t n2) {
    iopo_tensor *p = check_tensor1(r->ctx, IOPO_F32, p0, (int64_t)n);
    iopo_tensor *grad = check_tensor1(r->ctx, IOPO_F32, g, (int64_t)n);
    iopo_tensor *grad2 = check_tensor1(r->ctx, IOPO_F32, g2, (int64_t)n2);
    iopo_tensor *m = check_tensor1(r->ctx, IOPO_F32, g2, (int64_t)n);   // non-zero moments: the update reads them
    iopo_tensor *v = check_tensor1(r->ctx, IOPO_F32, NULL, (int64_t)n);
    iopo_tensor_zero(v);
    iopo_tensor *grads[2] = {grad, grad2};
    iopo_tensor *out = check_tensor1(r->ctx, IOPO_F32, NULL, 2);
    iopo_tensor *partials =
        check_tensor1(r->ctx, IOPO_F32, NULL, (int64_t)iopo_grad_norm_scratch_elems(2, grads));
    iopo_adamw_params hp = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.1f,
                            .step = 3};
    run_begin(r);
    iopo_grad_norm(r->ctx, out, partials, grads, 2, 1.0f);
    iopo_adamw_update(r->ctx, p, grad, m, v, out, n, &hp);
    run_end(r);
    optim_out o = {check_download(out), check_download(p), check_download(m), check_download(v)};
    iopo_tensor *all[] = {p, grad, grad2, m, v, out, partials};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

static void optim_out_free(optim_out *o) {
    free(o->norm);
    free(o->p);
    free(o->m);
    free(o->v);
}

static void split_optim(check_ctx *cc) {
    const size_t n = 300007, n2 = 777;   // the first gradient splits into ~5 pieces, the second fits
    float *p0 = check_randn(cc, n, 1.0f), *g = check_randn(cc, n, 0.1f), *g2 = check_randn(cc, n, 0.01f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 256 << 10, 0};
    optim_out r = optim_run(&ref, p0, g, g2, n, n2);
    optim_out w = optim_run(&whole, p0, g, g2, n, n2);
    optim_out s = optim_run(&split, p0, g, g2, n, n2);
    const char *shape = "N300007+777 limit 256K";
    // The norm's partials add per piece (a fixed order, not the unsplit one): close, not identical.
    split_rows(cc, "grad_norm", shape, "{norm, scale}", &whole, &split, w.norm, s.norm, r.norm, 2, 0, 1e-5, false,
               true);
    // AdamW is element-wise; its clip scale comes from the norm, so it is identical only given the same scale.
    bool same_scale = memcmp(w.norm, s.norm, 2 * sizeof(float)) == 0;
    split_rows(cc, "adamw", shape, "param", &whole, &split, w.p, s.p, r.p, n, 1e-6, 1e-5, same_scale, false);
    split_rows(cc, "adamw", shape, "m", &whole, &split, w.m, s.m, r.m, n, 1e-7, 1e-5, same_scale, false);
    split_rows(cc, "adamw", shape, "v", &whole, &split, w.v, s.v, r.v, n, 1e-9, 1e-5, same_scale, false);
    // and run twice: the split sum is deterministic
    optim_out again = optim_run(&split, p0, g, g2, n, n2);
    check_identical(cc, "grad_norm", shape, "split run twice", s.norm, again.norm, 2 * sizeof(float));
    optim_out_free(&again);
    optim_out_free(&r);
    optim_out_free(&w);
    optim_out_free(&s);
    free(p0);
    free(g);
    free(g2);
}

/* ---- token embedding over a Qwen-sized vocabulary ------------------------------------------------------------- */

typedef struct emb_out {
    float *out, *dwte;
} emb_out;

static emb_out emb_run(split_run *r, const int32_t *tok, const float *wte, iopo_dtype wdt, const float *dout,
                       const float *dwte0, int B, int T, int C, int V) {
    int64_t shp_bt[2] = {B, T}, shp_btc[3] = {B, T, C}, shp_wte[2] = {V, C};
    iopo_tensor *tokens = check_tensor(r->ctx, IOPO_I32, tok, 2, shp_bt);
    iopo_tensor *w = check_tensor_as(r->ctx, wdt, wte, 2, shp_wte);
    iopo_tensor *dw = check_tensor(r->ctx, IOPO_F32, dwte0, 2, shp_wte);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_btc);
    iopo_tensor *d = check_tensor(r->ctx, IOPO_F32, dout, 3, shp_btc);
    run_begin(r);
    iopo_embedding_forward(r->ctx, out, tokens, w, NULL, B, T, C, V);
    iopo_embedding_backward(r->ctx, dw, NULL, d, tokens, B, T, C, V);
    run_end(r);
    emb_out o = {check_download(out), check_download(dw)};
    iopo_tensor *all[] = {tokens, w, dw, out, d};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

/* wdt 16-bit: a Qwen-sized bf16/fp16 table, half the bytes per window (C odd: rows on both halves of a word). */
static void split_embedding(check_ctx *cc, iopo_dtype wdt) {
    const int B = 2, T = 24, C = wdt == IOPO_F32 ? 16 : 17, V = QWEN_VOCAB;
    size_t nbt = (size_t)B * T, nwte = (size_t)V * C;
    int32_t *tok = check_randi(cc, nbt, 0, V);
    // ids at both ends of the vocabulary and of a piece, repeated ids (rows collide), out-of-vocabulary ids
    const int32_t special[] = {0, V - 1, 16383, 16384, 16385, -100, V, 7, 7, V - 1};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) tok[i * 3] = special[i];
    float *wte = check_randn(cc, nwte, 1.0f), *dout = check_randn(cc, nbt * C, 1.0f);
    float *dwte0 = check_randn(cc, nwte, 1.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 1 << 20, 0};
    emb_out r = emb_run(&ref, tok, wte, wdt, dout, dwte0, B, T, C, V);
    emb_out w = emb_run(&whole, tok, wte, wdt, dout, dwte0, B, T, C, V);
    emb_out s = emb_run(&split, tok, wte, wdt, dout, dwte0, B, T, C, V);
    char shape[64];
    snprintf(shape, sizeof shape, "B2 T24 C%d V151936 %s limit 1M", C, iopo_dtype_name(wdt));
    split_rows(cc, "embedding_fwd", shape, "out", &whole, &split, w.out, s.out, r.out, nbt * C, 0, 0, true, true);
    split_rows(cc, "embedding_bwd", shape, "dwte +=", &whole, &split, w.dwte, s.dwte, r.dwte, nwte, 1e-5, 1e-5, true,
               false);
    free(r.out), free(r.dwte), free(w.out), free(w.dwte), free(s.out), free(s.dwte);
    free(tok);
    free(wte);
    free(dout);
    free(dwte0);
}

/* The (B,T,C) output and its gradient over the limit too, with learned positions: blocks of positions (forward and
 * dwte, identical) and of whole sequences (dwpe, which sums over them: close). A small vocabulary, still split. */
static void split_embedding_rows(check_ctx *cc) {
    const int B = 3, T = 20, C = 33, V = 50, maxT = 24;
    size_t nbt = (size_t)B * T, nwte = (size_t)V * C, nwpe = (size_t)maxT * C;
    int32_t *tok = check_randi(cc, nbt, -2, V + 2);   // a few out of vocabulary
    float *wte = check_randn(cc, nwte, 1.0f), *wpe = check_randn(cc, nwpe, 1.0f);
    float *dout = check_randn(cc, nbt * C, 1.0f);
    float *dwte0 = check_randn(cc, nwte, 1.0f), *dwpe0 = check_randn(cc, nwpe, 1.0f);
    emb_out o[3];
    float *dwpe[3];
    split_run runs[3] = {{cc->cpu, 0, 0}, {cc->dev, 0, 0}, {cc->dev, 4 << 10, 0}};
    for (int k = 0; k < 3; k++) {
        split_run *r = &runs[k];
        int64_t shp_bt[2] = {B, T}, shp_btc[3] = {B, T, C}, shp_wte[2] = {V, C}, shp_wpe[2] = {maxT, C};
        iopo_tensor *tokens = check_tensor(r->ctx, IOPO_I32, tok, 2, shp_bt);
        iopo_tensor *w = check_tensor(r->ctx, IOPO_F32, wte, 2, shp_wte);
        iopo_tensor *p = check_tensor(r->ctx, IOPO_F32, wpe, 2, shp_wpe);
        iopo_tensor *dw = check_tensor(r->ctx, IOPO_F32, dwte0, 2, shp_wte);
        iopo_tensor *dp = check_tensor(r->ctx, IOPO_F32, dwpe0, 2, shp_wpe);
        iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_btc);
        iopo_tensor *d = check_tensor(r->ctx, IOPO_F32, dout, 3, shp_btc);
        run_begin(r);
        iopo_embedding_forward(r->ctx, out, tokens, w, p, B, T, C, V);
        iopo_embedding_backward(r->ctx, dw, dp, d, tokens, B, T, C, V);
        run_end(r);
        o[k] = (emb_out){check_download(out), check_download(dw)};
        dwpe[k] = check_download(dp);
        iopo_tensor *all[] = {tokens, w, p, dw, dp, out, d};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    }
    const char *shape = "B3 T20 C33 V50 wpe limit 4K";
    split_rows(cc, "embedding_fwd", shape, "out", &runs[1], &runs[2], o[1].out, o[2].out, o[0].out, nbt * C, 1e-6, 1e-6,
               true, true);
    split_rows(cc, "embedding_bwd", shape, "dwte +=", &runs[1], &runs[2], o[1].dwte, o[2].dwte, o[0].dwte, nwte, 1e-5,
               1e-5, true, false);
    split_rows(cc, "embedding_bwd", shape, "dwpe +=", &runs[1], &runs[2], dwpe[1], dwpe[2], dwpe[0], nwpe, 1e-5, 1e-5,
               false, false);
    for (int k = 0; k < 3; k++) free(o[k].out), free(o[k].dwte), free(dwpe[k]);
    free(tok), free(wte), free(wpe), free(dout), free(dwte0), free(dwpe0);
}

/* ---- matmul: the tied LM head (W (V,C)) and a (K,N) layer with a bias ----------------------------------------- */

typedef struct mm_out {
    float *out, *dinp, *dw, *dbias;
} mm_out;

static mm_out mm_run(split_run *r, const float *inp, const float *w, iopo_dtype wdt, const float *bias,
                     const float *dout, const float *dinp0, const float *dw0, int M, int K, int N,
                     iopo_wlayout layout) {
    int64_t shp_in[2] = {M, K}, shp_out[2] = {M, N};
    int64_t shp_w[2] = {layout == IOPO_W_NK ? N : K, layout == IOPO_W_NK ? K : N};
    iopo_tensor *x = check_tensor(r->ctx, IOPO_F32, inp, 2, shp_in);
    iopo_tensor *wt = check_tensor_as(r->ctx, wdt, w, 2, shp_w);
    iopo_tensor *b = bias ? check_tensor_as(r->ctx, wdt, bias, 1, (int64_t[]){N}) : NULL;
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp_out);
    iopo_tensor *d = check_tensor(r->ctx, IOPO_F32, dout, 2, shp_out);
    iopo_tensor *dx = check_tensor(r->ctx, IOPO_F32, dinp0, 2, shp_in);
    iopo_tensor *dw = check_tensor(r->ctx, IOPO_F32, dw0, 2, shp_w);
    iopo_tensor *db = bias ? check_tensor1(r->ctx, IOPO_F32, dw0, N) : NULL;   // starts non-zero: dbias +=
    run_begin(r);
    iopo_matmul_forward(r->ctx, out, x, wt, b, M, K, N, layout);
    iopo_matmul_backward(r->ctx, dx, dw, db, d, x, wt, M, K, N, layout);
    run_end(r);
    mm_out o = {check_download(out), check_download(dx), check_download(dw), db ? check_download(db) : NULL};
    iopo_tensor *all[] = {x, wt, b, out, d, dx, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) iopo_tensor_free(all[i]);
    return o;
}

/* wdt 16-bit: W and the bias are stored in it (dW stays fp32), so W's windows hold twice the elements. */
static void mm_case(check_ctx *cc, int M, int K, int N, iopo_wlayout layout, bool with_bias, size_t limit,
                    const char *shape, bool dinp_exact, bool dw_exact, iopo_dtype wdt) {
    size_t nin = (size_t)M * K, nw = (size_t)K * N, nout = (size_t)M * N;
    float *inp = check_randn(cc, nin, 1.0f), *w = check_randn(cc, nw, 0.1f), *dout = check_randn(cc, nout, 1.0f);
    float *bias = with_bias ? check_randn(cc, (size_t)N, 1.0f) : NULL;
    float *dinp0 = check_randn(cc, nin, 1.0f), *dw0 = check_randn(cc, nw, 1.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, limit, 0};
    mm_out r = mm_run(&ref, inp, w, wdt, bias, dout, dinp0, dw0, M, K, N, layout);
    mm_out wo = mm_run(&whole, inp, w, wdt, bias, dout, dinp0, dw0, M, K, N, layout);
    mm_out s = mm_run(&split, inp, w, wdt, bias, dout, dinp0, dw0, M, K, N, layout);
    // fp32 sums of K (N for dinp, M for dW) products: the rounding grows like the square root of the terms
    split_rows(cc, "matmul_fwd", shape, "out", &whole, &split, wo.out, s.out, r.out, nout, 1e-4, 1e-4, true, true);
    split_rows(cc, "matmul_bwd", shape, "dinp +=", &whole, &split, wo.dinp, s.dinp, r.dinp, nin,
               1e-3 + 1e-5 * sqrt((double)N), 1e-4, dinp_exact, false);
    split_rows(cc, "matmul_bwd", shape, "dw +=", &whole, &split, wo.dw, s.dw, r.dw, nw, 1e-3 + 1e-5 * sqrt((double)M),
               1e-4, dw_exact, false);
    // dbias sums dout over M, per block of rows when dout splits: close, not identical.
    if (with_bias)
        split_rows(cc, "matmul_bwd", shape, "dbias +=", &whole, &split, wo.dbias, s.dbias, r.dbias, (size_t)N,
                   1e-3 + 1e-5 * sqrt((double)M), 1e-4, false, false);
    free(r.out), free(r.dinp), free(r.dw), free(wo.out), free(wo.dinp), free(wo.dw);
    free(s.out), free(s.dinp), free(s.dw), free(r.dbias), free(wo.dbias), free(s.dbias);
    free(inp), free(w), free(dout), free(bias), free(dinp0), free(dw0);
}

static void split_matmul(check_ctx *cc) {
    // The tied LM head, as GPT-2 small meets it: W (V,C) exceeds the limit, the logits (M,V) do not. The forward
    // splits N (identical), dW its rows (identical); dinp sums over V, so it splits along K (close).
    mm_case(cc, 16, 64, QWEN_VOCAB, IOPO_W_NK, false, 16u << 20, "M16 K64 N151936 NK limit 16M", false, true,
            IOPO_F32);
    // A (K,N) layer with a bias, everything but W over a 16 KiB limit: output windows along M with a bias window,
    // dinp along M (identical); dW sums over M, so it splits along K (close).
    mm_case(cc, 300, 40, 50, IOPO_W_KN, true, 16u << 10, "M300 K40 N50 KN bias limit 16K", true, false, IOPO_F32);
    // The same with 16-bit weights: a bf16 tied head of a Qwen-sized vocabulary (W 18.5 MiB, so it still splits, in
    // windows of twice as many rows as fp32's) and an fp16 (K,N) layer with an fp16 bias, odd widths putting rows on
    // both halves of a word.
    mm_case(cc, 16, 64, QWEN_VOCAB, IOPO_W_NK, false, 16u << 20, "M16 K64 N151936 NK bf16 limit 16M", false, true,
            IOPO_BF16);
    mm_case(cc, 300, 41, 51, IOPO_W_KN, true, 16u << 10, "M300 K41 N51 KN f16 bias limit 16K", true, false, IOPO_F16);
}

/* ---- softmax cross-entropy over a Qwen-sized vocabulary ------------------------------------------------------- */

typedef struct sce_out {
    float *loss, *lse, *seq, *dlogits;
} sce_out;

static sce_out sce_run(split_run *r, const float *logits, const int32_t *targets, const float *mask,
                       const float *dloss, int B, int T, int V) {
    int64_t shp_l[3] = {B, T, V}, shp_bt[2] = {B, T};
    iopo_tensor *lg = check_tensor(r->ctx, IOPO_F32, logits, 3, shp_l);
    iopo_tensor *tg = check_tensor(r->ctx, IOPO_I32, targets, 2, shp_bt);
    iopo_tensor *mk = check_tensor(r->ctx, IOPO_F32, mask, 2, shp_bt);
    iopo_tensor *dl = check_tensor(r->ctx, IOPO_F32, dloss, 2, shp_bt);
    iopo_tensor *loss = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp_bt);
    iopo_tensor *lse = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp_bt);
    iopo_tensor *seq = check_tensor1(r->ctx, IOPO_F32, NULL, B);
    iopo_tensor *cnt = check_tensor1(r->ctx, IOPO_F32, NULL, B);
    iopo_tensor *dlg = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_l);
    run_begin(r);
    iopo_softmax_ce_forward(r->ctx, loss, lse, seq, cnt, lg, tg, mk, B, T, V);
    iopo_softmax_ce_backward(r->ctx, dlg, lg, lse, tg, mk, dl, NULL, B, T, V);
    run_end(r);
    sce_out o = {check_download(loss), check_download(lse), check_download(seq), check_download(dlg)};
    iopo_tensor *all[] = {lg, tg, mk, dl, loss, lse, seq, cnt, dlg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

static void split_softmax_ce(check_ctx *cc) {
    const int B = 2, T = 8, V = QWEN_VOCAB;
    size_t nbt = (size_t)B * T, nl = nbt * V;
    float *logits = check_randn(cc, nl, 2.0f), *dloss = check_randn(cc, nbt, 1.0f);
    int32_t *targets = check_randi(cc, nbt, 0, V);
    float *mask = malloc(nbt * sizeof *mask);
    for (size_t i = 0; i < nbt; i++) mask[i] = i % 5 == 2 ? 0.0f : 1.0f;
    targets[2] = -100;   // masked: never read
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 1 << 20, 0};
    sce_out r = sce_run(&ref, logits, targets, mask, dloss, B, T, V);
    sce_out w = sce_run(&whole, logits, targets, mask, dloss, B, T, V);
    sce_out s = sce_run(&split, logits, targets, mask, dloss, B, T, V);
    const char *shape = "B2 T8 V151936 limit 1M";
    split_rows(cc, "softmax_ce_fwd", shape, "loss", &whole, &split, w.loss, s.loss, r.loss, nbt, 1e-5, 1e-5, true,
               true);
    split_rows(cc, "softmax_ce_fwd", shape, "lse", &whole, &split, w.lse, s.lse, r.lse, nbt, 1e-5, 1e-5, true, false);
    split_rows(cc, "softmax_ce_fwd", shape, "seq_logp", &whole, &split, w.seq, s.seq, r.seq, (size_t)B, 1e-4, 1e-5,
               true, false);
    split_rows(cc, "softmax_ce_bwd", shape, "dlogits", &whole, &split, w.dlogits, s.dlogits, r.dlogits, nl, 1e-7,
               1e-4, true, false);
    free(r.loss), free(r.lse), free(r.seq), free(r.dlogits), free(w.loss), free(w.lse), free(w.seq);
    free(w.dlogits), free(s.loss), free(s.lse), free(s.seq), free(s.dlogits);
    free(logits), free(dloss), free(targets), free(mask);
}

/* ---- LayerNorm / RMSNorm, forward then backward, over (N,C) activations ------------------------------------------ */

typedef struct norm_out {
    float *out, *mean, *rstd, *dinp, *dw, *db;
} norm_out;

static norm_out norm_run(split_run *r, bool rms, const float *x, const float *w, const float *b, const float *dout,
                         const float *g0, int N, int C) {
    int64_t shp[2] = {N, C};
    iopo_tensor *xt = check_tensor(r->ctx, IOPO_F32, x, 2, shp), *dy = check_tensor(r->ctx, IOPO_F32, dout, 2, shp);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp), *di = check_tensor(r->ctx, IOPO_F32, g0, 2, shp);
    iopo_tensor *wt = check_tensor1(r->ctx, IOPO_F32, w, C), *bt = check_tensor1(r->ctx, IOPO_F32, b, C);
    iopo_tensor *dw = check_tensor1(r->ctx, IOPO_F32, g0, C), *db = check_tensor1(r->ctx, IOPO_F32, g0 + C, C);
    iopo_tensor *mean = check_tensor1(r->ctx, IOPO_F32, NULL, N), *rstd = check_tensor1(r->ctx, IOPO_F32, NULL, N);
    iopo_tensor_zero(mean);
    run_begin(r);
    if (rms) {
        iopo_rmsnorm_forward(r->ctx, out, rstd, xt, wt, N, C, 1e-5f);
        iopo_rmsnorm_backward(r->ctx, di, dw, dy, xt, wt, rstd, N, C);
    } else {
        iopo_layernorm_forward(r->ctx, out, mean, rstd, xt, wt, bt, N, C, 1e-5f);
        iopo_layernorm_backward(r->ctx, di, dw, db, dy, xt, wt, mean, rstd, N, C);
    }
    run_end(r);
    norm_out o = {check_download(out), check_download(mean), check_download(rstd), check_download(di),
                  check_download(dw), check_download(db)};
    iopo_tensor *all[] = {xt, dy, out, di, wt, bt, dw, db, mean, rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

static void norm_out_free(norm_out *o) {
    free(o->out), free(o->mean), free(o->rstd), free(o->dinp), free(o->dw), free(o->db);
}

/* C odd: the blocks start at unaligned elements of both the (N,C) and the (N) operands (non-zero shifts). */
static void split_norm(check_ctx *cc, bool rms) {
    const int N = 700, C = 67;
    size_t nc = (size_t)N * C;
    float *x = check_randn(cc, nc, 1.0f), *dout = check_randn(cc, nc, 1.0f), *g0 = check_randn(cc, nc, 1.0f);
    float *w = check_randn(cc, (size_t)C, 1.0f), *b = check_randn(cc, (size_t)C, 1.0f);
    for (size_t i = 0; i < nc; i++) x[i] += 0.5f;   // LayerNorm's mean away from 0
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 16 << 10, 0};
    norm_out r = norm_run(&ref, rms, x, w, b, dout, g0, N, C);
    norm_out wo = norm_run(&whole, rms, x, w, b, dout, g0, N, C);
    norm_out so = norm_run(&split, rms, x, w, b, dout, g0, N, C);
    const char *fwd = rms ? "rmsnorm_fwd" : "layernorm_fwd", *bwd = rms ? "rmsnorm_bwd" : "layernorm_bwd";
    const char *shape = "N700 C67 limit 16K";
    split_rows(cc, fwd, shape, "out", &whole, &split, wo.out, so.out, r.out, nc, 1e-5, 1e-5, true, true);
    if (!rms) split_rows(cc, fwd, shape, "mean", &whole, &split, wo.mean, so.mean, r.mean, N, 1e-6, 1e-6, true, false);
    split_rows(cc, fwd, shape, "rstd", &whole, &split, wo.rstd, so.rstd, r.rstd, N, 0, 1e-5, true, false);
    split_rows(cc, bwd, shape, "dinp +=", &whole, &split, wo.dinp, so.dinp, r.dinp, nc, 2e-5, 2e-5, true, false);
    // The column sums add per block of rows (a fixed order, not the unsplit one): close, not identical. Sums of 700
    // terms of size ~1: the float rounding grows like their square root.
    split_rows(cc, bwd, shape, "dw +=", &whole, &split, wo.dw, so.dw, r.dw, (size_t)C, 1e-4, 1e-5, false, false);
    if (!rms)
        split_rows(cc, bwd, shape, "db +=", &whole, &split, wo.db, so.db, r.db, (size_t)C, 1e-4, 1e-5, false, false);
    norm_out again = norm_run(&split, rms, x, w, b, dout, g0, N, C);
    check_identical(cc, bwd, shape, "split dw run twice", so.dw, again.dw, (size_t)C * sizeof(float));
    norm_out_free(&again);
    norm_out_free(&r);
    norm_out_free(&wo);
    norm_out_free(&so);
    free(x), free(dout), free(g0), free(w), free(b);
}

/* ---- RoPE on packed qkv rows: forward out of place and in place, backward -------------------------------------- */

typedef struct rope_out {
    float *out, *inplace, *dinp;
} rope_out;

static rope_out rope_run(split_run *r, const float *x, const float *dout, const float *g0, const int32_t *pos,
                         const float *cs, const float *sn, int B, int T, int NH, int NKV, int hd, int npos) {
    int64_t shp[3] = {B, T, (int64_t)(NH + 2 * NKV) * hd}, shp_bt[2] = {B, T}, shp_tab[2] = {npos, hd / 2};
    iopo_tensor *xt = check_tensor(r->ctx, IOPO_F32, x, 3, shp), *ip = check_tensor(r->ctx, IOPO_F32, x, 3, shp);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp), *dy = check_tensor(r->ctx, IOPO_F32, dout, 3, shp);
    iopo_tensor *di = check_tensor(r->ctx, IOPO_F32, g0, 3, shp), *pt = check_tensor(r->ctx, IOPO_I32, pos, 2, shp_bt);
    iopo_tensor *ct = check_tensor(r->ctx, IOPO_F32, cs, 2, shp_tab);
    iopo_tensor *st = check_tensor(r->ctx, IOPO_F32, sn, 2, shp_tab);
    run_begin(r);
    iopo_rope_forward(r->ctx, out, xt, ct, st, pt, B, T, NH, NKV, hd, npos);
    iopo_rope_forward(r->ctx, ip, ip, ct, st, pt, B, T, NH, NKV, hd, npos);
    iopo_rope_backward(r->ctx, di, dy, ct, st, pt, B, T, NH, NKV, hd, npos);
    run_end(r);
    rope_out o = {check_download(out), check_download(ip), check_download(di)};
    iopo_tensor *all[] = {xt, ip, out, dy, di, pt, ct, st};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

/* Rows of (3+2)*6 = 30 values (120 bytes): blocks of an odd number of tokens start off the 16-byte alignment. */
static void split_rope(check_ctx *cc) {
    const int B = 3, T = 50, NH = 3, NKV = 1, hd = 6, npos = 64;
    size_t n = (size_t)B * T * (NH + 2 * NKV) * hd, nt = (size_t)npos * (hd / 2);
    float *x = check_randn(cc, n, 1.0f), *dout = check_randn(cc, n, 1.0f), *g0 = check_randn(cc, n, 1.0f);
    int32_t *pos = check_randi(cc, (size_t)B * T, -3, npos + 3);   // a few out of range: clamped on both backends
    float *cs = malloc(nt * sizeof *cs), *sn = malloc(nt * sizeof *sn);
    iopo_rope_config cfg = {10000.0f, IOPO_ROPE_DEFAULT, 1.0f, 1.0f, 1.0f, 0};
    iopo_rope_tables(&cfg, hd, npos, cs, sn);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 2 << 10, 0};
    rope_out r = rope_run(&ref, x, dout, g0, pos, cs, sn, B, T, NH, NKV, hd, npos);
    rope_out w = rope_run(&whole, x, dout, g0, pos, cs, sn, B, T, NH, NKV, hd, npos);
    rope_out s = rope_run(&split, x, dout, g0, pos, cs, sn, B, T, NH, NKV, hd, npos);
    const char *shape = "B3 T50 NH3 NKV1 hd6 limit 2K";
    split_rows(cc, "rope_fwd", shape, "out", &whole, &split, w.out, s.out, r.out, n, 1e-6, 1e-6, true, true);
    split_rows(cc, "rope_fwd", shape, "in place", &whole, &split, w.inplace, s.inplace, r.inplace, n, 1e-6, 1e-6, true,
               false);
    split_rows(cc, "rope_bwd", shape, "dinp +=", &whole, &split, w.dinp, s.dinp, r.dinp, n, 1e-6, 1e-6, true, false);
    free(r.out), free(r.inplace), free(r.dinp), free(w.out), free(w.inplace), free(w.dinp);
    free(s.out), free(s.inplace), free(s.dinp);
    free(x), free(dout), free(g0), free(pos), free(cs), free(sn);
}

/* ---- per-head q/k RMSNorm, forward then backward ------------------------------------------------------------ */

typedef struct qk_out {
    float *out, *rstd, *dinp, *dqw, *dkw;
} qk_out;

static qk_out qk_run(split_run *r, const float *x, const float *w, const float *dout, const float *g0, int N, int NH,
                     int NKV, int hd) {
    int64_t shp[2] = {N, (int64_t)(NH + 2 * NKV) * hd}, shp_r[2] = {N, NH + NKV};
    iopo_tensor *xt = check_tensor(r->ctx, IOPO_F32, x, 2, shp), *dy = check_tensor(r->ctx, IOPO_F32, dout, 2, shp);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp), *di = check_tensor(r->ctx, IOPO_F32, g0, 2, shp);
    iopo_tensor *rstd = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp_r);
    iopo_tensor *qw = check_tensor1(r->ctx, IOPO_F32, w, hd), *kw = check_tensor1(r->ctx, IOPO_F32, w + hd, hd);
    iopo_tensor *dqw = check_tensor1(r->ctx, IOPO_F32, g0, hd), *dkw = check_tensor1(r->ctx, IOPO_F32, g0 + hd, hd);
    run_begin(r);
    iopo_qk_rmsnorm_forward(r->ctx, out, rstd, xt, qw, kw, N, NH, NKV, hd, 1e-6f);
    iopo_qk_rmsnorm_backward(r->ctx, di, dqw, dkw, dy, xt, qw, kw, rstd, N, NH, NKV, hd);
    run_end(r);
    qk_out o = {check_download(out), check_download(rstd), check_download(di), check_download(dqw),
                check_download(dkw)};
    iopo_tensor *all[] = {xt, dy, out, di, rstd, qw, kw, dqw, dkw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

static void qk_out_free(qk_out *o) { free(o->out), free(o->rstd), free(o->dinp), free(o->dqw), free(o->dkw); }

/* Tokens of (3+2*2)*6 = 42 values and 5 rstd: blocks of an odd number of tokens start off the alignment in both. */
static void split_qk_norm(check_ctx *cc) {
    const int N = 160, NH = 3, NKV = 2, hd = 6;
    size_t n = (size_t)N * (NH + 2 * NKV) * hd, nr = (size_t)N * (NH + NKV);
    float *x = check_randn(cc, n, 1.0f), *dout = check_randn(cc, n, 1.0f), *g0 = check_randn(cc, n, 1.0f);
    float *w = check_randn(cc, 2 * (size_t)hd, 1.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 2 << 10, 0};
    qk_out r = qk_run(&ref, x, w, dout, g0, N, NH, NKV, hd);
    qk_out wo = qk_run(&whole, x, w, dout, g0, N, NH, NKV, hd);
    qk_out so = qk_run(&split, x, w, dout, g0, N, NH, NKV, hd);
    const char *shape = "N160 NH3 NKV2 hd6 limit 2K";
    split_rows(cc, "qk_rmsnorm_fwd", shape, "out", &whole, &split, wo.out, so.out, r.out, n, 1e-5, 1e-5, true, true);
    split_rows(cc, "qk_rmsnorm_fwd", shape, "rstd", &whole, &split, wo.rstd, so.rstd, r.rstd, nr, 0, 1e-5, true,
               false);
    split_rows(cc, "qk_rmsnorm_bwd", shape, "dinp +=", &whole, &split, wo.dinp, so.dinp, r.dinp, n, 2e-5, 2e-5, true,
               false);
    // Column sums over 480 (q) and 320 (k) head rows, added per block of tokens: close, not identical.
    split_rows(cc, "qk_rmsnorm_bwd", shape, "dqw +=", &whole, &split, wo.dqw, so.dqw, r.dqw, (size_t)hd, 1e-4, 1e-5,
               false, false);
    split_rows(cc, "qk_rmsnorm_bwd", shape, "dkw +=", &whole, &split, wo.dkw, so.dkw, r.dkw, (size_t)hd, 1e-4, 1e-5,
               false, false);
    qk_out again = qk_run(&split, x, w, dout, g0, N, NH, NKV, hd);
    check_identical(cc, "qk_rmsnorm_bwd", shape, "split dqw run twice", so.dqw, again.dqw,
                    (size_t)hd * sizeof(float));
    check_identical(cc, "qk_rmsnorm_bwd", shape, "split dkw run twice", so.dkw, again.dkw, (size_t)hd * sizeof(float));
    qk_out_free(&again);
    qk_out_free(&r);
    qk_out_free(&wo);
    qk_out_free(&so);
    free(x), free(dout), free(g0), free(w);
}

/* ---- causal attention, forward then backward, split by sequence ------------------------------------------------ */

typedef struct att_out {
    float *out, *lse, *dqkv;
} att_out;

static att_out att_run(split_run *r, const float *qkv, const float *dout, const float *g0, const int32_t *len, int B,
                       int T, int NH, int NKV, int hd) {
    int64_t shp_qkv[3] = {B, T, (int64_t)(NH + 2 * NKV) * hd}, shp_o[3] = {B, T, (int64_t)NH * hd};
    int64_t shp_r[3] = {B, NH, T};
    iopo_tensor *x = check_tensor(r->ctx, IOPO_F32, qkv, 3, shp_qkv);
    iopo_tensor *dx = check_tensor(r->ctx, IOPO_F32, g0, 3, shp_qkv);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_o);
    iopo_tensor *dy = check_tensor(r->ctx, IOPO_F32, dout, 3, shp_o);
    iopo_tensor *lse = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_r);
    iopo_tensor *sc = check_tensor(r->ctx, IOPO_F32, NULL, 3, shp_r);
    iopo_tensor *lt = check_tensor1(r->ctx, IOPO_I32, len, B);
    run_begin(r);
    iopo_attention_forward(r->ctx, out, lse, x, lt, B, T, NH, NKV, hd);
    iopo_attention_backward(r->ctx, dx, sc, dy, x, out, lse, lt, B, T, NH, NKV, hd);
    run_end(r);
    att_out o = {check_download(out), check_download(lse), check_download(dx)};
    iopo_tensor *all[] = {x, dx, out, dy, lse, sc, lt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

/* Sequences of 11 tokens of (3+2)*6 = 30 values: 3 per window, blocks starting off the alignment in qkv, out and
 * lse; lengths empty, full, partial and out of range. */
static void split_attention(check_ctx *cc) {
    const int B = 7, T = 11, NH = 3, NKV = 1, hd = 6;
    const int32_t len[7] = {11, 0, 5, 11, 1, 99, 7};
    size_t nqkv = (size_t)B * T * (NH + 2 * NKV) * hd, no = (size_t)B * T * NH * hd, nr = (size_t)B * NH * T;
    float *qkv = check_randn(cc, nqkv, 1.0f), *dout = check_randn(cc, no, 1.0f), *g0 = check_randn(cc, nqkv, 1.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 4 << 10, 0};
    att_out r = att_run(&ref, qkv, dout, g0, len, B, T, NH, NKV, hd);
    att_out w = att_run(&whole, qkv, dout, g0, len, B, T, NH, NKV, hd);
    att_out s = att_run(&split, qkv, dout, g0, len, B, T, NH, NKV, hd);
    const char *shape = "B7 T11 NH3 NKV1 hd6 limit 4K";
    split_rows(cc, "attention_fwd", shape, "out", &whole, &split, w.out, s.out, r.out, no, 1e-5, 1e-5, true, true);
    split_rows(cc, "attention_fwd", shape, "lse", &whole, &split, w.lse, s.lse, r.lse, nr, 1e-5, 1e-5, true, false);
    split_rows(cc, "attention_bwd", shape, "dqkv +=", &whole, &split, w.dqkv, s.dqkv, r.dqkv, nqkv, 1e-5, 1e-4, true,
               false);
    free(r.out), free(r.lse), free(r.dqkv), free(w.out), free(w.lse), free(w.dqkv), free(s.out), free(s.lse);
    free(s.dqkv), free(qkv), free(dout), free(g0);
}

/* ---- one KV-cache decoding step: scatter the new rows, attend, add learned positions ------------------------- */

typedef struct dec_out {
    float *cache, *out, *pos_out;
} dec_out;

static dec_out dec_run(split_run *r, const float *cache0, const float *rows, const int32_t *pos, const int32_t *len,
                       const float *table, const float *x0, const int32_t *idx, int B, int Tmax, int NH, int NKV,
                       int hd, int R, int C) {
    int W = (NH + 2 * NKV) * hd;
    int64_t shp_c[3] = {B, Tmax, W}, shp_r[2] = {B, W}, shp_o[2] = {B, (int64_t)NH * hd}, shp_t[2] = {R, C};
    int64_t shp_x[2] = {B, C};
    iopo_tensor *cache = check_tensor(r->ctx, IOPO_F32, cache0, 3, shp_c);
    iopo_tensor *src = check_tensor(r->ctx, IOPO_F32, rows, 2, shp_r);
    iopo_tensor *pt = check_tensor1(r->ctx, IOPO_I32, pos, B), *lt = check_tensor1(r->ctx, IOPO_I32, len, B);
    iopo_tensor *out = check_tensor(r->ctx, IOPO_F32, NULL, 2, shp_o);
    iopo_tensor *tab = check_tensor_as(r->ctx, IOPO_BF16, table, 2, shp_t);
    iopo_tensor *x = check_tensor(r->ctx, IOPO_F32, x0, 2, shp_x), *it = check_tensor1(r->ctx, IOPO_I32, idx, B);
    run_begin(r);
    iopo_scatter_rows(r->ctx, cache, src, pt, B, Tmax, W);
    iopo_attention_decode(r->ctx, out, cache, lt, B, Tmax, NH, NKV, hd);
    iopo_gather_rows_add(r->ctx, x, tab, it, B, R, C);
    run_end(r);
    dec_out o = {check_download(cache), check_download(out), check_download(x)};
    iopo_tensor *all[] = {cache, src, pt, lt, out, tab, x, it};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return o;
}

/* Sequences of 9 positions of (3+2)*6 = 30 values: 3 per window (blocks off the alignment); a bf16 position table of
 * 300 rows of 33 in 5 row ranges, indices at the ends of the table and of a range, and outside it. */
static void split_decode(check_ctx *cc) {
    const int B = 7, Tmax = 9, NH = 3, NKV = 1, hd = 6, R = 300, C = 33;
    const int32_t pos[7] = {0, 8, -1, 4, 9, 2, 3}, len[7] = {1, 9, 0, 5, 9, 3, 4};
    const int32_t idx[7] = {0, 299, 61, 60, -1, 300, 122};
    size_t nc = (size_t)B * Tmax * (NH + 2 * NKV) * hd, no = (size_t)B * NH * hd, nx = (size_t)B * C;
    float *cache0 = check_randn(cc, nc, 1.0f), *rows = check_randn(cc, (size_t)B * (NH + 2 * NKV) * hd, 1.0f);
    float *table = check_randn(cc, (size_t)R * C, 1.0f), *x0 = check_randn(cc, nx, 1.0f);
    split_run ref = {cc->cpu, 0, 0}, whole = {cc->dev, 0, 0}, split = {cc->dev, 4 << 10, 0};
    dec_out r = dec_run(&ref, cache0, rows, pos, len, table, x0, idx, B, Tmax, NH, NKV, hd, R, C);
    dec_out w = dec_run(&whole, cache0, rows, pos, len, table, x0, idx, B, Tmax, NH, NKV, hd, R, C);
    dec_out s = dec_run(&split, cache0, rows, pos, len, table, x0, idx, B, Tmax, NH, NKV, hd, R, C);
    const char *shape = "B7 T9 NH3 NKV1 hd6 R300 C33 limit 4K";
    split_rows(cc, "scatter_rows", shape, "cache", &whole, &split, w.cache, s.cache, r.cache, nc, 0, 0, true, true);
    split_rows(cc, "attention_decode", shape, "out", &whole, &split, w.out, s.out, r.out, no, 2e-5, 1e-4, true, false);
    split_rows(cc, "gather_rows_add", shape, "out +=", &whole, &split, w.pos_out, s.pos_out, r.pos_out, nx, 0, 0, true,
               false);
    free(r.cache), free(r.out), free(r.pos_out), free(w.cache), free(w.out), free(w.pos_out), free(s.cache);
    free(s.out), free(s.pos_out), free(cache0), free(rows), free(table), free(x0);
}

void check_split(check_ctx *cc) {
    if (!cc->dev) {
        check_row(cc, "split", "-", "no device: nothing splits on the CPU", 0, 0, true);
        return;
    }
    split_eltwise(cc);
    split_optim(cc);
    split_embedding(cc, IOPO_F32);
    split_embedding(cc, IOPO_BF16);
    split_embedding(cc, IOPO_F16);
    split_embedding_rows(cc);
    split_matmul(cc);
    split_softmax_ce(cc);
    split_norm(cc, false);
    split_norm(cc, true);
    split_rope(cc);
    split_qk_norm(cc);
    split_attention(cc);
    split_decode(cc);
}
