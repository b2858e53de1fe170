/* Vulkan recorders of the element-wise ops (shaders/eltwise.comp, one variant per op). */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* Elements per invocation; must match EPT in shaders/eltwise.comp. */
#define ELTWISE_EPT 4u
#define SWIGLU_HAS_DGATE 1u
#define SWIGLU_HAS_DUP 2u

typedef struct eltwise_push {
    uint32_t n, groups, flags;
} eltwise_push;

static uint32_t eltwise_group_size(iopo_ctx *ctx) {
    return vk_group_size(ctx, 256, 0);
}

static void eltwise_record(iopo_ctx *ctx, const char *shader, const vk_arg *args, int nargs, size_t N,
                           uint32_t flags) {
    uint32_t wg = eltwise_group_size(ctx);
    // The shader indexes with 32-bit unsigned ints, including the padding of the last workgroup.
    op_require(N <= (size_t)UINT32_MAX - (size_t)wg * ELTWISE_EPT, shader, "more elements than 32-bit indexing allows");
    uint64_t groups = vk_div_up(N, (uint64_t)wg * ELTWISE_EPT);
    eltwise_push pc = {(uint32_t)N, (uint32_t)groups, flags};
    uint32_t spec[1] = {wg};
    vk_dispatch_1d(ctx, shader, spec, 1, args, nargs, &pc, sizeof pc, groups);
}

/* Tensors over one binding run in pieces of max_binding bytes: each piece binds the same elements of every operand,
 * starting on an aligned byte, so the shader sees a shorter vector and computes each element as unsplit. */
static void eltwise_dispatch(iopo_ctx *ctx, const char *shader, const vk_arg *args, int nargs, size_t N,
                             uint32_t flags) {
    if (N == 0) return;
    bool split = false;
    for (int i = 0; i < nargs; i++) split = split || !vk_fits(ctx, args[i].t);
    if (!split) {
        eltwise_record(ctx, shader, args, nargs, N, flags);
        return;
    }
    const iopo_tensor *dummy = vk_dummy(ctx);
    size_t piece = (size_t)(vk_get_limits(ctx)->max_binding / 4);
    for (size_t begin = 0; begin < N; begin += piece) {
        size_t end = N - begin < piece ? N : begin + piece;
        vk_arg part[VK_MAX_ARGS];
        for (int i = 0; i < nargs; i++)
            part[i] = args[i].t == dummy ? args[i] : vk_window_of(ctx, args[i].t, args[i].write, begin, end).arg;
        eltwise_record(ctx, shader, part, nargs, end - begin, flags);
    }
}

void vkop_gelu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N) {
    // out (N), inp (N)
    vk_arg args[] = {VK_W(out), VK_R(inp)};
    eltwise_dispatch(ctx, "eltwise_gelu_fwd", args, 2, N, 0);
}

void vkop_gelu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N) {
    // dinp (N) +=, dout (N), inp (N)
    vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(inp)};
    eltwise_dispatch(ctx, "eltwise_gelu_bwd", args, 3, N, 0);
}

void vkop_silu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N) {
    // out (N), inp (N)
    vk_arg args[] = {VK_W(out), VK_R(inp)};
    eltwise_dispatch(ctx, "eltwise_silu_fwd", args, 2, N, 0);
}

void vkop_silu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N) {
    // dinp (N) +=, dout (N), inp (N)
    vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(inp)};
    eltwise_dispatch(ctx, "eltwise_silu_bwd", args, 3, N, 0);
}

void vkop_swiglu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *gate, const iopo_tensor *up, size_t N) {
    // out (N), gate (N), up (N)
    vk_arg args[] = {VK_W(out), VK_R(gate), VK_R(up)};
    eltwise_dispatch(ctx, "eltwise_swiglu_fwd", args, 3, N, 0);
}

void vkop_swiglu_backward(iopo_ctx *ctx, iopo_tensor *dgate, iopo_tensor *dup, const iopo_tensor *dout,
                          const iopo_tensor *gate, const iopo_tensor *up, size_t N) {
    // dgate (N) +=, dup (N) +=, dout (N), gate (N), up (N); a NULL gradient is bound as the dummy and left alone
    if (!dgate && !dup) return;
    uint32_t flags = (dgate ? SWIGLU_HAS_DGATE : 0) | (dup ? SWIGLU_HAS_DUP : 0);
    vk_arg args[] = {dgate ? VK_W(dgate) : VK_R(vk_dummy(ctx)), dup ? VK_W(dup) : VK_R(vk_dummy(ctx)), VK_R(dout),
                     VK_R(gate), VK_R(up)};
    eltwise_dispatch(ctx, "eltwise_swiglu_bwd", args, 5, N, flags);
}

/* Whether two tensors are the same storage (the same tensor, or two handles of one sub-allocation). */
static bool same_storage(const iopo_tensor *x, const iopo_tensor *y) {
    if (x == y) return true;
    return x->vk && y->vk && x->vk->buffer == y->vk->buffer && x->vk->offset == y->vk->offset;
}

void vkop_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *a, const iopo_tensor *b, size_t N) {
    // out (N), a (N), b (N). In place (out is a or b), the op is an accumulation of the other operand; recording it
    // as one keeps a tensor from being bound to two descriptors of a dispatch, one of them written.
    bool in_a = same_storage(out, a), in_b = same_storage(out, b);
    if (in_a && in_b) {
        vk_arg args[] = {VK_W(out)};
        eltwise_dispatch(ctx, "eltwise_double", args, 1, N, 0);
    } else if (in_a || in_b) {
        vk_arg args[] = {VK_W(out), VK_R(in_a ? b : a)};
        eltwise_dispatch(ctx, "eltwise_accumulate", args, 2, N, 0);
    } else {
        vk_arg args[] = {VK_W(out), VK_R(a), VK_R(b)};
        eltwise_dispatch(ctx, "eltwise_add", args, 3, N, 0);
    }
}

void vkop_accumulate(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N) {
    // dst (N) += src (N); dst == src doubles dst in place
    if (same_storage(dst, src)) {
        vk_arg args[] = {VK_W(dst)};
        eltwise_dispatch(ctx, "eltwise_double", args, 1, N, 0);
    } else {
        vk_arg args[] = {VK_W(dst), VK_R(src)};
        eltwise_dispatch(ctx, "eltwise_accumulate", args, 2, N, 0);
    }
}
