/* CPU reference of the fused softmax + cross-entropy. Sums over V run in double (in index order), so the reference
 * is more accurate than the device and deterministic. */
#include <float.h>
#include <math.h>

#include "cpu/cpu_ops.h"

/* A target outside [0, V) on a row that counts (mask != 0) is a caller bug; as on the Vulkan backend
 * (shaders/softmax_ce.glsl) it is clamped into the row so nothing outside it is read, forward and backward alike. */
static int sce_clamp_target(int32_t t, int V) { return t < 0 ? 0 : t >= V ? V - 1 : t; }

void cpu_softmax_ce_forward(float *loss, float *lse, float *seq_logp, float *seq_count, const float *logits,
                            const int32_t *targets, const float *mask, int B, int T, int V) {
    // loss (B,T), lse (B,T), seq_logp (B), seq_count (B), logits (B,T,V), targets (B,T), mask (B,T)
    int rows = B * T;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * V;
        float mx = -FLT_MAX;
        for (int i = 0; i < V; i++)
            if (x[i] > mx) mx = x[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
        double l = mx + log(sum);
        lse[r] = (float)l;
        float lo = 0.0f;
        if (mask[r] != 0.0f) lo = mask[r] * (float)(l - x[sce_clamp_target(targets[r], V)]);
        loss[r] = lo;
    }
    for (int b = 0; b < B; b++) {
        double lp = 0.0, cnt = 0.0;
        for (int t = 0; t < T; t++) {
            lp -= loss[b * T + t];   /* loss = -mask * log p(target) */
            cnt += mask[b * T + t];
        }
        seq_logp[b] = (float)lp;
        seq_count[b] = (float)cnt;
    }
}

void cpu_softmax_ce_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                             const float *mask, const float *dloss, const float *dseq_logp, int B, int T, int V) {
    // dlogits (B,T,V), logits (B,T,V), lse (B,T), targets (B,T), mask (B,T), dloss (B,T) or NULL, dseq_logp (B) or NULL
    // dlogits may equal logits: each element is read before it is written, and nothing else reads it.
    int rows = B * T;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * V;
        float *d = dlogits + (size_t)r * V;
        float mk = mask[r];
        if (mk == 0.0f) {   /* the target may be -100: not read */
            for (int i = 0; i < V; i++) d[i] = 0.0f;
            continue;
        }
        float up = 0.0f;
        if (dloss) up = dloss[r];
        if (dseq_logp) up -= dseq_logp[r / T];
        float g = mk * up;
        float l = lse[r];
        int t = sce_clamp_target(targets[r], V);
        for (int i = 0; i < V; i++) {
            float p = expf(x[i] - l);
            d[i] = g * (i == t ? p - 1.0f : p);
        }
    }
}
