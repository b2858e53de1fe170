/* Vulkan recorders of causal grouped-query attention (shaders/attention_fwd.comp, shaders/attention_bwd.comp). */
#include <math.h>
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct att_push {
    uint32_t nrows, B, T, NH, NKV, hd, group;
    float scale;
} att_push;


// Workgroup size for a row kernel spreading n items (keys; channels in the kv pass) over its invocations: about one
// each up to 128 (more loop), a power of two for the tree reduction, within the device's limits (shared memory holds
// two floats per invocation: the reduction and the tile of probabilities / d(scores)).
static uint32_t att_wg(iopo_ctx *ctx, int n) {
    uint32_t want = 32;
    while (want < 128 && want < (uint32_t)n) want *= 2;
    return vk_group_size(ctx, want, 2 * sizeof(float));
}

static att_push att_push_make(uint64_t nrows, int B, int T, int NH, int NKV, int hd) {
    op_require((uint64_t)B * NH * T * T <= UINT32_MAX && (uint64_t)B * T * (NH + 2 * NKV) * hd <= UINT32_MAX,
               "attention", "tensors over 2^32 elements are not supported on Vulkan");
    att_push pc = {.nrows = (uint32_t)nrows, .B = (uint32_t)B, .T = (uint32_t)T, .NH = (uint32_t)NH,
                   .NKV = (uint32_t)NKV, .hd = (uint32_t)hd, .group = (uint32_t)(NH / NKV),
                   .scale = 1.0f / sqrtf((float)hd)};   // the same float the CPU reference computes
    return pc;
}

void vkop_attention_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *att, const iopo_tensor *qkv,
                            const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd) {
    // out (B,T,NH*hd), att (B,NH,T,T), qkv (B,T,(NH+2*NKV)*hd), lengths (B) i32
    uint64_t rows = (uint64_t)B * NH * T;   // one workgroup per query row
    att_push pc = att_push_make(rows, B, T, NH, NKV, hd);
    uint32_t wg = att_wg(ctx, T);
    vk_arg args[] = {VK_W(out), VK_W(att), VK_R(qkv), VK_R(lengths)};
    vk_dispatch_1d(ctx, "attention_fwd", &wg, 1, args, 4, &pc, sizeof pc, rows);
}

void vkop_attention_backward(iopo_ctx *ctx, iopo_tensor *dqkv, iopo_tensor *scratch, const iopo_tensor *dout,
                             const iopo_tensor *qkv, const iopo_tensor *att, const iopo_tensor *lengths, int B, int T,
                             int NH, int NKV, int hd) {
    // dqkv (B,T,(NH+2*NKV)*hd) +=, scratch (B,NH,T,T), dout (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd),
    // att (B,NH,T,T), lengths (B) i32
    uint64_t qrows = (uint64_t)B * NH * T;    // pass 1: one workgroup per query row
    att_push pq = att_push_make(qrows, B, T, NH, NKV, hd);
    uint32_t wg = att_wg(ctx, T);
    vk_arg qargs[] = {VK_W(dqkv), VK_W(scratch), VK_R(dout), VK_R(qkv), VK_R(att), VK_R(lengths)};
    vk_dispatch_1d(ctx, "attention_bwd_q", &wg, 1, qargs, 6, &pq, sizeof pq, qrows);

    uint64_t kvrows = (uint64_t)B * NKV * T;  // pass 2: one workgroup per key row, an invocation per channel
    att_push pkv = att_push_make(kvrows, B, T, NH, NKV, hd);
    uint32_t wg2 = att_wg(ctx, hd);
    vk_arg kvargs[] = {VK_W(dqkv), VK_R(scratch), VK_R(dout), VK_R(qkv), VK_R(att), VK_R(lengths)};
    vk_dispatch_1d(ctx, "attention_bwd_kv", &wg2, 1, kvargs, 6, &pkv, sizeof pkv, kvrows);
}
