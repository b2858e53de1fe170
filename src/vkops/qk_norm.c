/* Vulkan recorders of the per-head q/k RMSNorm (shaders/qk_norm_rows.comp, qk_norm_bwd_cols.comp).
 *
 * Forward and the input gradient deal the (token, head) slots, v heads included (they are copied or passed through),
 * to segments of a few invocations each, several heads per workgroup, so one dispatch writes every value of the
 * output. The weight gradients run the column-sum shader once for q (qw) and once for k (kw), in row chunks as
 * src/vkops/norm.c does. Tensors over one storage binding split along tokens, as norm.c's do. */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* Columns per workgroup of the column-sum shader, and head rows one of its invocations sums per dispatch (lavapipe
 * ends a shader's loops after 65535 iterations per invocation; fixed chunks keep the sums deterministic). */
#define QK_COLS 32u
#define QK_ROWS_PER_INVOCATION 16384u

/* Push constants of shaders/qk_norm.glsl. */
typedef struct qk_push {
    uint32_t N, NH, NKV, hd;
    float eps;
    uint32_t groups, row0, row1, h0, nheads;
    uint32_t nbase, shift[6];   // split: first token of the windows, and binding i's first element in its window
} qk_push;

/* Workgroup cap, as norm_cap in src/vkops/norm.c: four subgroups, between 32 and 256 invocations. */
static uint32_t qk_cap(iopo_ctx *ctx) {
    uint32_t cap = 4 * vk_get_limits(ctx)->subgroup_size;
    if (cap < 32) cap = 32;
    if (cap > 256) cap = 256;
    return cap;
}

/* Largest power of two the device allows with reduce.glsl's two shared float arrays, at most want. */
static uint32_t qk_group_size(iopo_ctx *ctx, uint32_t want) { return vk_group_size(ctx, want, 2 * sizeof(float)); }

/* Row shader: LANES invocations per head, the largest power of two <= hd/16 (at least 1, at most the workgroup), so
 * that each invocation takes about 16 values per pass and a workgroup holds several heads; each invocation loops about
 * 3*hd/LANES times, far below lavapipe's 65535-iteration limit. */
static void qk_row_spec(iopo_ctx *ctx, int hd, uint32_t spec[2]) {
    uint32_t wg = qk_group_size(ctx, qk_cap(ctx)), lanes = 1;
    while (lanes * 2 <= (uint32_t)hd / 16 && lanes * 2 <= wg) lanes *= 2;
    spec[0] = wg;
    spec[1] = lanes;
}

static void qk_check_shape(const char *op, int N, int NH, int NKV, int hd) {
    op_require((uint64_t)N * (uint64_t)(NH + 2 * NKV) * (uint64_t)hd <= UINT32_MAX, op,
               "N*(NH+2*NKV)*hd exceeds 32-bit indexing");
}

/* Tensors over one binding: blocks of tokens (vk_rows_per_window over re, each operand's values per token; the
 * weights 0), bound as windows. Heads are independent, so every value is computed as unsplit. */
static void qk_dispatch_rows(iopo_ctx *ctx, const char *shader, const vk_arg *args, const uint64_t *re, int nargs,
                             int N, int NH, int NKV, int hd, float eps) {
    uint32_t spec[3];   // 2: WINDOWED (shaders/common.glsl)
    qk_row_spec(ctx, hd, spec);
    uint64_t per = vk_rows_per_window(ctx, shader, args, re, nargs);
    if (!per) per = (uint64_t)N;
    spec[2] = per < (uint64_t)N;
    for (uint64_t n0 = 0; n0 < (uint64_t)N; n0 += per) {
        uint64_t n1 = (uint64_t)N - n0 < per ? (uint64_t)N : n0 + per;
        uint64_t slots = (n1 - n0) * (uint64_t)(NH + 2 * NKV);
        uint64_t groups = vk_div_up(slots, spec[0] / spec[1]);
        qk_push pc = {(uint32_t)(n1 - n0), (uint32_t)NH, (uint32_t)NKV, (uint32_t)hd, eps, (uint32_t)groups,
                      0, 0, 0, 0, 0, {0}};
        vk_arg part[6];
        const vk_arg *bound = args;
        if (per < (uint64_t)N) {
            vk_row_windows(ctx, args, re, nargs, n0, n1, part, pc.shift);
            bound = part;
        }
        vk_dispatch_1d(ctx, shader, spec, 3, bound, nargs, &pc, sizeof pc, groups);
    }
}

/* dw += column sums over the head rows (token n, head h0 + j), j < nheads: in chunks of rows, and, with tensors over
 * one binding, blocks of tokens bound as windows, each cut into such chunks; added in increasing rows either way
 * (deterministic; a split run adds at other boundaries, so it rounds differently from unsplit). */
static void qk_dispatch_cols(iopo_ctx *ctx, iopo_tensor *dw, const iopo_tensor *dout, const iopo_tensor *inp,
                             const iopo_tensor *rstd, int N, int NH, int NKV, int hd, int h0, int nheads) {
    uint32_t wg = qk_group_size(ctx, qk_cap(ctx));
    uint32_t cols = wg < QK_COLS ? wg : QK_COLS;
    uint32_t spec[3] = {wg, cols, 0};   // 2: WINDOWED (shaders/common.glsl)
    uint64_t groups = vk_div_up((uint64_t)hd, cols);
    uint64_t chunk = (uint64_t)(wg / cols) * QK_ROWS_PER_INVOCATION;
    vk_arg args[] = {VK_W(dw), VK_R(dout), VK_R(inp), VK_R(rstd)};
    uint64_t width = (uint64_t)(NH + 2 * NKV) * (uint64_t)hd;
    const uint64_t re[] = {0, width, width, (uint64_t)(NH + NKV)};
    uint64_t per = vk_rows_per_window(ctx, "qk_norm_bwd_cols", args, re, 4);
    if (!per) per = (uint64_t)N;
    spec[2] = per < (uint64_t)N;
    for (uint64_t n0 = 0; n0 < (uint64_t)N; n0 += per) {
        uint64_t n1 = (uint64_t)N - n0 < per ? (uint64_t)N : n0 + per;
        qk_push pc = {(uint32_t)N, (uint32_t)NH, (uint32_t)NKV, (uint32_t)hd, 0.0f, (uint32_t)groups,
                      0, 0, (uint32_t)h0, (uint32_t)nheads, 0, {0}};
        vk_arg part[4];
        const vk_arg *bound = args;
        if (per < (uint64_t)N) {
            vk_row_windows(ctx, args, re, 4, n0, n1, part, pc.shift);
            pc.nbase = (uint32_t)n0;
            bound = part;
        }
        uint64_t rows = n1 * (uint64_t)nheads;
        for (uint64_t row0 = n0 * (uint64_t)nheads; row0 < rows; row0 += chunk) {
            pc.row0 = (uint32_t)row0;
            pc.row1 = (uint32_t)(row0 + chunk < rows ? row0 + chunk : rows);
            vk_dispatch_1d(ctx, "qk_norm_bwd_cols", spec, 3, bound, 4, &pc, sizeof pc, groups);
        }
    }
}

void vkop_qk_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                             const iopo_tensor *qw, const iopo_tensor *kw, int N, int NH, int NKV, int hd, float eps) {
    // out (N,W), rstd (N,NH+NKV), inp (N,W), qw (hd), kw (hd)
    qk_check_shape("qk_rmsnorm_forward", N, NH, NKV, hd);
    if (N == 0) return;
    vk_arg args[] = {VK_W(out), VK_W(rstd), VK_R(inp), VK_R(qw), VK_R(kw)};
    uint64_t width = (uint64_t)(NH + 2 * NKV) * (uint64_t)hd;
    const uint64_t re[] = {width, (uint64_t)(NH + NKV), width, 0, 0};
    qk_dispatch_rows(ctx, "qk_norm_fwd", args, re, 5, N, NH, NKV, hd, eps);
}

void vkop_qk_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dqw, iopo_tensor *dkw,
                              const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *qw,
                              const iopo_tensor *kw, const iopo_tensor *rstd, int N, int NH, int NKV, int hd) {
    // dinp (N,W) +=, dqw (hd) +=, dkw (hd) +=, dout (N,W), inp (N,W), qw, kw (hd), rstd (N,NH+NKV); NULL ones skipped
    qk_check_shape("qk_rmsnorm_backward", N, NH, NKV, hd);
    if (N == 0) return;
    if (dinp) {
        vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(inp), VK_R(qw), VK_R(kw), VK_R(rstd)};
        uint64_t width = (uint64_t)(NH + 2 * NKV) * (uint64_t)hd;
        const uint64_t re[] = {width, width, width, 0, 0, (uint64_t)(NH + NKV)};
        qk_dispatch_rows(ctx, "qk_norm_bwd_rows", args, re, 6, N, NH, NKV, hd, 0.0f);
    }
    if (dqw) qk_dispatch_cols(ctx, dqw, dout, inp, rstd, N, NH, NKV, hd, 0, NH);
    if (dkw) qk_dispatch_cols(ctx, dkw, dout, inp, rstd, N, NH, NKV, hd, NH, NKV);
}
