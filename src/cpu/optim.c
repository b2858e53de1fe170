/* CPU reference of the optimizer ops: global gradient norm (double accumulation) and AdamW. */
#include <math.h>
#include <stdlib.h>

#include "core/context_internal.h"
#include "cpu/cpu_ops.h"

/* Elements per block of the norm: blocks are summed in parallel, then added in block order, so the result does not
 * depend on the thread count or on how OpenMP would combine a reduction clause. */
#define NORM_BLOCK 65536

void cpu_grad_norm(float *out, const float *const *grads, const size_t *numels, int n, float max_norm) {
    // out (2) = {norm, scale}; grads[i] (numels[i])
    /* Every block of every tensor in one parallel loop: a model has hundreds of small tensors, and one fork/join per
     * tensor would cost more than their sums. */
    size_t nblocks = 0;
    for (int k = 0; k < n; k++) nblocks += (numels[k] + NORM_BLOCK - 1) / NORM_BLOCK;
    double *part = malloc((nblocks ? nblocks : 1) * sizeof *part);
    const float **bx = malloc((nblocks ? nblocks : 1) * sizeof *bx);
    size_t *blen = malloc((nblocks ? nblocks : 1) * sizeof *blen);
    if (!part || !bx || !blen) iopo_fail("out of host memory: the gradient norm's %zu blocks", nblocks);
    size_t nb = 0;
    for (int k = 0; k < n; k++)
        for (size_t lo = 0; lo < numels[k]; lo += NORM_BLOCK, nb++) {
            bx[nb] = grads[k] + lo;
            blen[nb] = numels[k] - lo < NORM_BLOCK ? numels[k] - lo : NORM_BLOCK;
        }
#pragma omp parallel for schedule(static) if (nblocks > 1)
    for (size_t b = 0; b < nblocks; b++) {
        double s = 0.0;
        for (size_t i = 0; i < blen[b]; i++) s += (double)bx[b][i] * bx[b][i];
        part[b] = s;
    }
    double total = 0.0;
    for (size_t b = 0; b < nblocks; b++) total += part[b];
    free(part);
    free(bx);
    free(blen);
    float norm = (float)sqrt(total);
    out[0] = norm;
    out[1] = (max_norm > 0.0f && norm > max_norm) ? (float)((double)max_norm / ((double)norm + 1e-6)) : 1.0f;
}

void cpu_adamw_update(float *param, const float *grad, float *m, float *v, const float *scale, size_t N,
                      const iopo_adamw_params *p) {
    // param (N), grad (N), m (N), v (N), scale (2) or NULL
    /* Constants as in vkop_adamw_update (src/vkops/optim.c): computed in double, rounded once. */
    float b1 = p->beta1, omb1 = (float)(1.0 - (double)p->beta1);
    float b2 = p->beta2, omb2 = (float)(1.0 - (double)p->beta2);
    float decay = (float)(1.0 - (double)p->lr * (double)p->weight_decay);
    float step_size = (float)((double)p->lr / (1.0 - pow((double)p->beta1, p->step)));
    float bc2_sqrt = (float)sqrt(1.0 - pow((double)p->beta2, p->step));
    float eps = p->eps;
    float s = scale ? scale[1] : 1.0f;
    bool has_scale = scale != NULL;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float g = grad[i];
        if (has_scale) g *= s;
        float mi = b1 * m[i] + omb1 * g;
        float vi = b2 * v[i] + omb2 * (g * g);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = param[i] * decay - step_size * (mi / denom);
    }
}
