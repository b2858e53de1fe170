/* Vulkan recorders of LayerNorm and RMSNorm (shaders/norm_fwd.comp, norm_bwd_rows.comp, norm_bwd_cols.comp).
 *
 * Forward and the input gradient run one workgroup per row (row statistics reduced in shared memory); the weight and
 * bias gradients run a separate column-sum shader, since they reduce over the other axis. Tensors over one storage
 * binding split along rows (docs/ARCHITECTURE.md, "Tensors beyond one binding"). */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* Flags in the push constants; must match shaders/norm.glsl. */
#define NORM_HAS_DW 1u
#define NORM_HAS_DB 2u
/* Columns per workgroup of the column-sum shader. */
#define NORM_COLS 32u
/* Rows one invocation of the column-sum shader sums per dispatch. lavapipe (gallivm) silently ends a shader's loops
 * after 65535 iterations in total per invocation, so longer inputs are split into several dispatches, each adding the
 * column sums of its chunk of rows; the fixed chunking keeps the result deterministic. */
#define NORM_ROWS_PER_INVOCATION 16384u

/* Push constants of shaders/norm.glsl. */
typedef struct norm_push {
    uint32_t N, C;
    float eps;
    uint32_t groups, flags, row0;
    uint32_t rbase, shift[6];   // split: first row of the windows, and binding i's first element in its window
} norm_push;

/* Largest power of two <= cap that the device allows as a workgroup holding the two shared float arrays of
 * shaders/norm.glsl. The tree reductions need a power of two. */
static uint32_t norm_group_size(iopo_ctx *ctx, uint32_t cap) { return vk_group_size(ctx, cap, 2 * sizeof(float)); }

/* Workgroup size cap for both kinds of norm shader: four subgroups, between 32 and 256 invocations. Every barrier of
 * the tree costs more as the workgroup grows (on CPU implementations such as lavapipe, each one is a pass over all
 * invocations), while a few subgroups per row already keep a GPU's loads in flight; rows (or column blocks) supply the
 * parallelism across workgroups. Any power of two is correct; this choice is only about speed. */
static uint32_t norm_cap(iopo_ctx *ctx) {
    uint32_t cap = 4 * vk_get_limits(ctx)->subgroup_size;
    if (cap < 32) cap = 32;
    if (cap > 256) cap = 256;
    return cap;
}

/* Row shaders: no more invocations than the row has columns (rounded up to a power of two), so that short rows do not
 * leave most of the workgroup idle through every barrier. Each invocation loops about 3*C/workgroup-size times, far
 * below lavapipe's 65535-iteration limit for any realistic width (C < 600k at 32 invocations). */
static uint32_t norm_row_group_size(iopo_ctx *ctx, int C) {
    uint32_t cap = 1, max = norm_cap(ctx);
    while (cap < (uint32_t)C && cap < max) cap *= 2;
    return norm_group_size(ctx, cap);
}

/* The shaders index with 32-bit unsigned ints. */
static void norm_check_shape(const char *op, int N, int C) {
    op_require((uint64_t)N * (uint64_t)C <= UINT32_MAX, op, "N*C exceeds 32-bit indexing");
}

/* Tensors over one binding: the rows go in blocks (vk_rows_per_window), each dispatch binding its block's rows of
 * the (N,C) and (N) operands as windows (row_elems C and 1; the (C) weights and dummies whole, 0). */
static void norm_dispatch_rows(iopo_ctx *ctx, const char *shader, const vk_arg *args, const uint64_t *row_elems,
                               int nargs, int N, int C, float eps) {
    uint32_t spec[2] = {norm_row_group_size(ctx, C), 0};   // 1: WINDOWED (shaders/common.glsl)
    norm_push pc = {(uint32_t)N, (uint32_t)C, eps, (uint32_t)N, 0, 0, 0, {0}};
    uint64_t per = vk_rows_per_window(ctx, shader, args, row_elems, nargs);
    if (!per) {
        vk_dispatch_1d(ctx, shader, spec, 2, args, nargs, &pc, sizeof pc, (uint64_t)N);
        return;
    }
    spec[1] = 1;
    /* Rows are independent (a workgroup reads and writes only its own), so every value is computed as unsplit. */
    for (uint64_t r0 = 0; r0 < (uint64_t)N; r0 += per) {
        uint64_t r1 = (uint64_t)N - r0 < per ? (uint64_t)N : r0 + per;
        vk_arg part[6];
        vk_row_windows(ctx, args, row_elems, nargs, r0, r1, part, pc.shift);
        pc.N = pc.groups = (uint32_t)(r1 - r0);
        vk_dispatch_1d(ctx, shader, spec, 2, part, nargs, &pc, sizeof pc, r1 - r0);
    }
}

/* The column sums add chunk after chunk into dw (and db), in increasing rows: chunks of NORM_ROWS_PER_INVOCATION rows
 * per invocation, and, with tensors over one binding, blocks of the rows a window holds, each cut into such chunks.
 * Deterministic either way; a split run adds at different boundaries, so it rounds differently from unsplit. */
static void norm_dispatch_cols(iopo_ctx *ctx, const char *shader, const vk_arg *args, const uint64_t *row_elems,
                               int nargs, int N, int C, uint32_t flags) {
    uint32_t wg = norm_group_size(ctx, norm_cap(ctx));
    uint32_t cols = wg < NORM_COLS ? wg : NORM_COLS;
    uint32_t spec[3] = {wg, cols, 0};   // 2: WINDOWED (shaders/common.glsl)
    uint64_t groups = vk_div_up((uint64_t)C, cols);
    uint64_t chunk = (uint64_t)(wg / cols) * NORM_ROWS_PER_INVOCATION;
    uint64_t per = vk_rows_per_window(ctx, shader, args, row_elems, nargs);
    if (!per) per = (uint64_t)N;
    else spec[2] = 1;
    for (uint64_t b0 = 0; b0 < (uint64_t)N; b0 += per) {
        uint64_t b1 = (uint64_t)N - b0 < per ? (uint64_t)N : b0 + per;
        norm_push pc = {0, (uint32_t)C, 0.0f, (uint32_t)groups, flags, 0, 0, {0}};
        vk_arg part[6];
        const vk_arg *bound = args;
        if (per < (uint64_t)N) {
            vk_row_windows(ctx, args, row_elems, nargs, b0, b1, part, pc.shift);
            pc.rbase = (uint32_t)b0;
            bound = part;
        }
        for (uint64_t row0 = b0; row0 < b1; row0 += chunk) {
            uint64_t row1 = row0 + chunk < b1 ? row0 + chunk : b1;
            pc.N = (uint32_t)row1;
            pc.row0 = (uint32_t)row0;
            vk_dispatch_1d(ctx, shader, spec, 3, bound, nargs, &pc, sizeof pc, groups);
        }
    }
}

void vkop_layernorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd,
                            const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *b, int N, int C, float eps) {
    // out (N,C), mean (N), rstd (N), inp (N,C), w (C), b (C)
    norm_check_shape("layernorm_forward", N, C);
    if (N == 0) return;
    vk_arg args[] = {VK_W(out), VK_W(mean), VK_W(rstd), VK_R(inp), VK_R(w), VK_R(b)};
    const uint64_t re[] = {(uint64_t)C, 1, 1, (uint64_t)C, 0, 0};
    norm_dispatch_rows(ctx, "norm_layernorm_fwd", args, re, 6, N, C, eps);
}

void vkop_layernorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *db,
                             const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                             const iopo_tensor *mean, const iopo_tensor *rstd, int N, int C) {
    // dinp (N,C) +=, dw (C) +=, db (C) +=, dout (N,C), inp (N,C), w (C), mean (N), rstd (N); NULL gradients are skipped
    norm_check_shape("layernorm_backward", N, C);
    if (N == 0) return;
    if (dinp) {
        vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(inp), VK_R(w), VK_R(mean), VK_R(rstd)};
        const uint64_t re[] = {(uint64_t)C, (uint64_t)C, (uint64_t)C, 0, 1, 1};
        norm_dispatch_rows(ctx, "norm_layernorm_bwd_rows", args, re, 6, N, C, 0.0f);
    }
    if (dw || db) {
        uint32_t flags = (dw ? NORM_HAS_DW : 0) | (db ? NORM_HAS_DB : 0);
        vk_arg args[] = {dw ? VK_W(dw) : VK_R(vk_dummy(ctx)), db ? VK_W(db) : VK_R(vk_dummy(ctx)), VK_R(dout),
                         VK_R(inp), VK_R(mean), VK_R(rstd)};
        const uint64_t re[] = {0, 0, (uint64_t)C, (uint64_t)C, 1, 1};
        norm_dispatch_cols(ctx, "norm_layernorm_bwd_cols", args, re, 6, N, C, flags);
    }
}

void vkop_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                          const iopo_tensor *w, int N, int C, float eps) {
    // out (N,C), rstd (N), inp (N,C), w (C)
    norm_check_shape("rmsnorm_forward", N, C);
    if (N == 0) return;
    vk_arg args[] = {VK_W(out), VK_W(rstd), VK_R(inp), VK_R(w)};
    const uint64_t re[] = {(uint64_t)C, 1, (uint64_t)C, 0};
    norm_dispatch_rows(ctx, "norm_rmsnorm_fwd", args, re, 4, N, C, eps);
}

void vkop_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, const iopo_tensor *dout,
                           const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *rstd, int N, int C) {
    // dinp (N,C) +=, dw (C) +=, dout (N,C), inp (N,C), w (C), rstd (N); NULL gradients are skipped
    norm_check_shape("rmsnorm_backward", N, C);
    if (N == 0) return;
    if (dinp) {
        vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(inp), VK_R(w), VK_R(rstd)};
        const uint64_t re[] = {(uint64_t)C, (uint64_t)C, (uint64_t)C, 0, 1};
        norm_dispatch_rows(ctx, "norm_rmsnorm_bwd_rows", args, re, 5, N, C, 0.0f);
    }
    if (dw) {
        vk_arg args[] = {VK_W(dw), VK_R(dout), VK_R(inp), VK_R(rstd)};
        const uint64_t re[] = {0, (uint64_t)C, (uint64_t)C, 1};
        norm_dispatch_cols(ctx, "norm_rmsnorm_bwd_cols", args, re, 4, N, C, NORM_HAS_DW);
    }
}
