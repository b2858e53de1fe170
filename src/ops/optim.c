/* Dispatch of the optimizer ops (global gradient norm with clip scale, AdamW) to the CPU or Vulkan backend. */
#include <stdint.h>
#include <stdlib.h>

#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

/* Workgroups of the Vulkan norm's first pass for one tensor (shaders/optim_norm.comp): one per 8192 elements, at most
 * 1024, so big tensors fill a GPU while the partials stay few. It depends on the size alone (not on the device), so
 * the scratch size below is the same for both backends; the CPU backend does not touch the scratch. */
size_t optim_norm_groups(size_t numel);
size_t optim_norm_groups(size_t numel) {
    size_t g = (numel + 8191) / 8192;
    return g < 1024 ? g : 1024;
}

/* At least 1, so that a caller can always allocate the scratch, even for an empty list. */
size_t iopo_grad_norm_scratch_elems(int n, iopo_tensor *const *grads) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += optim_norm_groups(grads[i]->numel);
    return total ? total : 1;
}

void iopo_grad_norm(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *partials, iopo_tensor *const *grads, int n,
                    float max_norm) {
    const char *op = "grad_norm";
    op_require(n >= 0 && (n == 0 || grads != NULL), op, "bad gradient list");
    op_check(ctx, op, "out", out, IOPO_F32, 2, false);
    for (int i = 0; i < n; i++) {
        op_require(grads[i] != NULL, op, "a gradient in the list is NULL");
        op_check(ctx, op, "grads[i]", grads[i], IOPO_F32, grads[i]->numel, false);
        op_require(grads[i]->numel < ((size_t)1 << 31), op, "a gradient has 2^31 elements or more");
    }
    op_check_min(ctx, op, "partials", partials, IOPO_F32, iopo_grad_norm_scratch_elems(n, grads), false);
    if (op_on_cpu(ctx)) {
        const float **ptrs = malloc((size_t)(n ? n : 1) * sizeof *ptrs);
        size_t *numels = malloc((size_t)(n ? n : 1) * sizeof *numels);
        op_require(ptrs && numels, op, "out of host memory");
        for (int i = 0; i < n; i++) {
            ptrs[i] = op_f32(grads[i]);
            numels[i] = grads[i]->numel;
        }
        cpu_grad_norm(op_f32(out), ptrs, numels, n, max_norm);
        free(ptrs);
        free(numels);
    } else {
        vkop_grad_norm(ctx, out, partials, grads, n, max_norm);
    }
}

void iopo_adamw_update(iopo_ctx *ctx, iopo_tensor *param, const iopo_tensor *grad, iopo_tensor *m, iopo_tensor *v,
                       const iopo_tensor *scale, size_t N, const iopo_adamw_params *p) {
    const char *op = "adamw_update";
    op_require(p != NULL && p->step >= 1, op, "parameters missing or step < 1 (steps are 1-based)");
    op_require(N < ((size_t)1 << 31), op, "N must be below 2^31");
    op_check(ctx, op, "param", param, IOPO_F32, N, false);
    op_check(ctx, op, "grad", grad, IOPO_F32, N, false);
    op_check(ctx, op, "m", m, IOPO_F32, N, false);
    op_check(ctx, op, "v", v, IOPO_F32, N, false);
    op_check(ctx, op, "scale", scale, IOPO_F32, 2, true);
    if (op_on_cpu(ctx)) cpu_adamw_update(op_f32(param), op_f32(grad), op_f32(m), op_f32(v), op_f32(scale), N, p);
    else vkop_adamw_update(ctx, param, grad, m, v, scale, N, p);
}
