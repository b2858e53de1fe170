/* Vulkan recorders of the matmul family. Every product goes through one tiled GEMM shader (shaders/matmul.comp, one
 * variant per transpose pair); the matmul forward and backward are GEMMs with the transposes their weight layout needs,
 * the backward accumulating with beta = 1. The bias gradient is a separate deterministic column-sum kernel
 * (shaders/matmul_dbias.comp). B (the weight, in both the forward and the backward's dinp) and the bias may be BF16 or
 * F16: the shader widens them as it stages them (specialization constants 6 and 7 carry their dtypes). */
#include <stdlib.h>

#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* One tiling of C: a workgroup computes a bm x bn tile, staging bk-deep slices of A and B in shared memory; each of
 * its (bm/tm)*(bn/tn) invocations holds tm x tn outputs. */
typedef struct gemm_tiles {
    uint32_t bm, bn, bk, tm, tn;
} gemm_tiles;

/* In order of preference: the square tiles largest first (more outputs per staged element), then two skinny ones for
 * products with a single or a few rows (M = 1 decoding) or columns. All but the first need 64 invocations and under
 * 9 KiB of shared memory, so they fit every conforming device (maxComputeWorkGroupInvocations >= 128,
 * maxComputeSharedMemorySize >= 16 KiB); tiles_fit() still checks each against the device. */
static const gemm_tiles gemm_candidates[] = {
    {128, 128, 8, 8, 8},   /* 256 invocations, 8.1 KiB */
    {64, 64, 16, 8, 8},    /* 64 invocations, 8.3 KiB */
    {32, 32, 16, 4, 4},    /* 64 invocations, 4.2 KiB */
    {8, 64, 16, 1, 8},     /* 64 invocations, 4.7 KiB */
    {64, 8, 16, 8, 1},     /* 64 invocations, 4.7 KiB */
};
#define GEMM_NCANDIDATES ((int)(sizeof gemm_candidates / sizeof gemm_candidates[0]))

static uint32_t tiles_invocations(const gemm_tiles *t) { return (t->bm / t->tm) * (t->bn / t->tn); }

static uint64_t tiles_shared_bytes(const gemm_tiles *t) {
    return (uint64_t)t->bk * ((t->bm + 1) + (t->bn + 1)) * sizeof(float);   /* the +1 pads, as in the shader */
}

static bool tiles_fit(const vk_limits *lim, const gemm_tiles *t) {
    uint32_t inv = tiles_invocations(t);
    return inv <= lim->max_invocations && inv <= lim->max_group_size[0] &&
           tiles_shared_bytes(t) <= lim->max_shared_bytes;
}

/* The first tiling (in preference order) that the device accepts, that yields at least 32 workgroups (fewer would
 * leave most cores of a GPU idle) and that pads C to at most twice its area (edge tiles compute their padding too).
 * When none qualifies the problem is small or skinny: take the one computing the least padded area. The choice
 * depends only on M, N and the device limits, so results stay bit-identical run to run. */
static const gemm_tiles *gemm_pick_tiles(const vk_limits *lim, int M, int N) {
    const gemm_tiles *least = NULL;
    uint64_t least_area = 0;
    for (int i = 0; i < GEMM_NCANDIDATES; i++) {
        const gemm_tiles *t = &gemm_candidates[i];
        if (!tiles_fit(lim, t)) continue;
        uint64_t tm = vk_div_up((uint64_t)M, t->bm), tn = vk_div_up((uint64_t)N, t->bn);
        uint64_t area = tm * t->bm * tn * t->bn;
        if (tm * tn >= 32 && area <= 2 * (uint64_t)M * N) return t;
        if (!least || area < least_area) {
            least = t;
            least_area = area;
        }
    }
    if (!least) abort();   /* unreachable on a conforming device: the small tilings fit the required minimums */
    return least;
}

typedef struct gemm_push {
    uint32_t M, N, K;
    float alpha, beta;
    uint32_t has_bias, tiles_n, ntiles;
    uint32_t lda, ldb, ldc;
    uint32_t a_shift, b_shift, c_shift, bias_shift;
} gemm_push;

/* One sub-product: c[m0:m0+M, n0:n0+N] = alpha * op(a)[m0:, k0:k0+K] @ op(b)[k0:, n0:] + beta * c + bias[n0:], each
 * operand bound as the window of its stored elements that the block spans (all of it when whole). */
typedef struct gemm_block {
    uint64_t m0, n0, k0;
    uint32_t M, N, K;
} gemm_block;

/* The window of a stored (rows, ld) operand spanning rows [r0, r0+nr) and columns [c0, c0+nc). */
static vk_window gemm_window(iopo_ctx *ctx, const iopo_tensor *t, bool write, uint64_t ld, uint64_t r0, uint64_t nr,
                             uint64_t c0, uint64_t nc) {
    uint64_t begin = r0 * ld + c0;
    return vk_window_of(ctx, t, write, begin, begin + (nr - 1) * ld + nc);
}

static void record_gemm_block(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b,
                              const iopo_tensor *bias, int M, int N, int K, bool trans_a, bool trans_b, float alpha,
                              float beta, const gemm_block *blk, bool whole) {
    static const char *const names[2][2] = {{"matmul_nn", "matmul_nt"}, {"matmul_tn", "matmul_tt"}};
    const gemm_tiles *t = gemm_pick_tiles(vk_get_limits(ctx), (int)blk->M, (int)blk->N);
    uint32_t spec[8] = {tiles_invocations(t), t->bm, t->bn, t->bk, t->tm, t->tn, (uint32_t)b->dtype,
                        bias ? (uint32_t)bias->dtype : (uint32_t)IOPO_F32};
    uint32_t tiles_m = vk_div_up(blk->M, t->bm), tiles_n = vk_div_up(blk->N, t->bn);
    uint32_t lda = (uint32_t)(trans_a ? M : K), ldb = (uint32_t)(trans_b ? K : N), ldc = (uint32_t)N;
    gemm_push push = {blk->M, blk->N, blk->K, alpha, beta, bias != NULL, tiles_n, tiles_m * tiles_n,
                      lda, ldb, ldc, 0, 0, 0, 0};
    vk_arg args[4] = {VK_W(c), VK_R(a), VK_R(b), VK_R(bias ? bias : vk_dummy(ctx))};
    if (!whole) {
        uint32_t kk = blk->K ? blk->K : 1;   // an empty block's A and B windows are not bound
        vk_window wa = trans_a ? gemm_window(ctx, a, false, lda, blk->k0, kk, blk->m0, blk->M)
                               : gemm_window(ctx, a, false, lda, blk->m0, blk->M, blk->k0, kk);
        vk_window wb = trans_b ? gemm_window(ctx, b, false, ldb, blk->n0, blk->N, blk->k0, kk)
                               : gemm_window(ctx, b, false, ldb, blk->k0, kk, blk->n0, blk->N);
        vk_window wc = gemm_window(ctx, c, true, ldc, blk->m0, blk->M, blk->n0, blk->N);
        args[0] = wc.arg;
        args[1] = blk->K ? wa.arg : VK_R(vk_dummy(ctx));   // K = 0: the shader reads neither
        args[2] = blk->K ? wb.arg : VK_R(vk_dummy(ctx));
        push.a_shift = wa.shift;
        push.b_shift = wb.shift;
        push.c_shift = wc.shift;
        if (bias) {
            vk_window wbias = vk_window_of(ctx, bias, false, blk->n0, blk->n0 + blk->N);
            args[3] = wbias.arg;
            push.bias_shift = wbias.shift;
        }
    }
    vk_dispatch_1d(ctx, names[trans_a][trans_b], spec, 8, args, 4, &push, sizeof push, (uint64_t)tiles_m * tiles_n);
}

/* Elements a block of nr rows and nc columns of a stored operand with row stride ld spans. */
static uint64_t gemm_span(uint64_t nr, uint64_t nc, uint64_t ld) { return (nr - 1) * ld + nc; }

/* Shrinks the block sizes (bm, bn, bk) until every operand's window fits one binding: for an operand over the limit,
 * halve the block along its stored rows (what its span grows with), along its columns once a single row is too long.
 * The caps are in elements of each operand's own dtype (a 16-bit B spans half the bytes). */
static void gemm_plan(iopo_ctx *ctx, int M, int N, int K, bool trans_a, bool trans_b, const iopo_tensor *b,
                      const iopo_tensor *bias, uint64_t *bm, uint64_t *bn, uint64_t *bk) {
    bool has_bias = bias != NULL;
    uint64_t f32_cap = vk_window_elems(ctx, IOPO_F32);
    uint64_t caps[4] = {f32_cap, vk_window_elems(ctx, b->dtype), f32_cap,
                        vk_window_elems(ctx, bias ? bias->dtype : IOPO_F32)};
    uint64_t lda = (uint64_t)(trans_a ? M : K), ldb = (uint64_t)(trans_b ? K : N), ldc = (uint64_t)N;
    *bm = (uint64_t)M, *bn = (uint64_t)N, *bk = (uint64_t)K;
    for (;;) {
        uint64_t *ar = trans_a ? bk : bm, *ac = trans_a ? bm : bk;   // A's stored rows and columns
        uint64_t *br = trans_b ? bn : bk, *bc = trans_b ? bk : bn;
        uint64_t **shrink = NULL;
        uint64_t *rows_cols[4][2] = {{ar, ac}, {br, bc}, {bm, bn}, {NULL, bn}};
        uint64_t lds[4] = {lda, ldb, ldc, 0};
        for (int i = 0; i < 4 && !shrink; i++) {
            if (i == 3 && !has_bias) break;
            uint64_t nr = rows_cols[i][0] ? *rows_cols[i][0] : 1;
            if (gemm_span(nr, *rows_cols[i][1], lds[i]) > caps[i])
                shrink = nr > 1 ? &rows_cols[i][0] : &rows_cols[i][1];
        }
        if (!shrink) return;
        **shrink = (**shrink + 1) / 2;
    }
}

/* c (M,N) = alpha * op(a) @ op(b) + beta * c + bias (N); a is (M,K) or (K,M) with trans_a, b (K,N) or (N,K) with
 * trans_b; bias may be NULL. Operands over one binding split the product into blocks (gemm_plan): blocks along M and
 * N compute each output exactly as unsplit (every output sums its K products in increasing k order, whatever the
 * tiling); blocks along K (when a row of K elements cannot be bound whole) run in increasing k, each adding its
 * partial product to C (beta = 1 after the first), a fixed order but not the unsplit rounding. */
static void record_gemm(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b,
                        const iopo_tensor *bias, int M, int N, int K, bool trans_a, bool trans_b, float alpha,
                        float beta) {
    if (vk_fits(ctx, c) && vk_fits(ctx, a) && vk_fits(ctx, b) && (!bias || vk_fits(ctx, bias))) {
        gemm_block all = {0, 0, 0, (uint32_t)M, (uint32_t)N, (uint32_t)K};
        record_gemm_block(ctx, c, a, b, bias, M, N, K, trans_a, trans_b, alpha, beta, &all, true);
        return;
    }
    if (M == 0 || N == 0) return;
    uint64_t bm, bn, bk;
    gemm_plan(ctx, M, N, K, trans_a, trans_b, b, bias, &bm, &bn, &bk);
    for (uint64_t m0 = 0; m0 < (uint64_t)M; m0 += bm)
        for (uint64_t n0 = 0; n0 < (uint64_t)N; n0 += bn) {
            uint64_t k0 = 0;
            do {   // at least once: K = 0 still scales C and adds the bias
                gemm_block blk = {m0, n0, k0, (uint32_t)((uint64_t)M - m0 < bm ? (uint64_t)M - m0 : bm),
                                  (uint32_t)((uint64_t)N - n0 < bn ? (uint64_t)N - n0 : bn),
                                  (uint32_t)((uint64_t)K - k0 < bk ? (uint64_t)K - k0 : bk)};
                bool first = k0 == 0;
                record_gemm_block(ctx, c, a, b, first ? bias : NULL, M, N, K, trans_a, trans_b, alpha,
                                  first ? beta : 1.0f, &blk, false);
                k0 += bk;
            } while (k0 < (uint64_t)K);
        }
}

/* dbias (N) += column sums of dout (M,N). A dout over one binding splits into blocks of rows bound as windows, each
 * dispatch adding its block's sums in increasing rows: deterministic, but rounded differently from unsplit (the
 * blocks' sums are added one after the other, not each column's slices over all M rows). */
static void record_dbias(iopo_ctx *ctx, iopo_tensor *dbias, const iopo_tensor *dout, int M, int N) {
    const vk_limits *lim = vk_get_limits(ctx);
    uint32_t wg = 256;
    while (wg > lim->max_invocations || wg > lim->max_group_size[0]) wg /= 2;
    uint32_t cb = wg < 32 ? wg : 32;
    uint32_t spec[3] = {wg, cb, wg / cb};
    uint32_t ngroups = vk_div_up((uint64_t)N, cb);
    vk_arg args[2] = {VK_W(dbias), VK_R(dout)};
    const uint64_t re[2] = {0, (uint64_t)N};
    uint64_t per = vk_rows_per_window(ctx, "matmul_dbias", args, re, 2);
    if (!per) {
        uint32_t push[4] = {(uint32_t)M, (uint32_t)N, ngroups, 0};
        vk_dispatch_1d(ctx, "matmul_dbias", spec, 3, args, 2, push, sizeof push, ngroups);
        return;
    }
    for (uint64_t m0 = 0; m0 < (uint64_t)M; m0 += per) {
        uint64_t m1 = (uint64_t)M - m0 < per ? (uint64_t)M : m0 + per;
        vk_arg part[2];
        uint32_t shift[2];
        vk_row_windows(ctx, args, re, 2, m0, m1, part, shift);
        uint32_t push[4] = {(uint32_t)(m1 - m0), (uint32_t)N, ngroups, shift[1]};
        vk_dispatch_1d(ctx, "matmul_dbias", spec, 3, part, 2, push, sizeof push, ngroups);
    }
}

void vkop_gemm(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b, int M, int N, int K,
               bool trans_a, bool trans_b, float alpha, float beta) {
    record_gemm(ctx, c, a, b, NULL, M, N, K, trans_a, trans_b, alpha, beta);
}

void vkop_matmul_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *w,
                         const iopo_tensor *bias, int M, int K, int N, iopo_wlayout layout) {
    /* out (M,N) = inp (M,K) @ W; W (N,K) is read transposed. */
    record_gemm(ctx, out, inp, w, bias, M, N, K, false, layout == IOPO_W_NK, 1.0f, 0.0f);
}

void vkop_matmul_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *dbias,
                          const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w, int M, int K, int N,
                          iopo_wlayout layout) {
    /* dinp (M,K) += dout (M,N) @ W^T: W^T is (N,K), which W (N,K) already is and W (K,N) is transposed. */
    if (dinp) record_gemm(ctx, dinp, dout, w, NULL, M, K, N, false, layout == IOPO_W_KN, 1.0f, 1.0f);
    if (dw) {
        if (layout == IOPO_W_KN) record_gemm(ctx, dw, inp, dout, NULL, K, N, M, true, false, 1.0f, 1.0f);   /* (K,N) */
        else record_gemm(ctx, dw, dout, inp, NULL, N, K, M, true, false, 1.0f, 1.0f);                        /* (N,K) */
    }
    if (dbias) record_dbias(ctx, dbias, dout, M, N);
}
