/* CPU reference of the element-wise ops: GELU (tanh form), SiLU, SwiGLU, residual add and gradient accumulation. */
#include <math.h>

#include "cpu/cpu_ops.h"

#define GELU_SCALE 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

/* Split by sign so that exp never overflows: exp(-|x|) is at most 1. */
static inline float sigmoidf(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

void cpu_gelu_forward(float *out, const float *inp, size_t N) {
    // out (N), inp (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

void cpu_gelu_backward(float *dinp, const float *dout, const float *inp, size_t N) {
    // dinp (N), dout (N), inp (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
        float t = tanhf(u);
        // 1 - t^2 = sech^2(u) without the cancellation of 1 - t*t when |t| is near 1
        float e = expf(-2.0f * fabsf(u));
        float sech2 = 4.0f * e / ((1.0f + e) * (1.0f + e));
        float du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);
        float g = 0.5f * (1.0f + t) + 0.5f * x * sech2 * du;
        dinp[i] += g * dout[i];
    }
}

void cpu_silu_forward(float *out, const float *inp, size_t N) {
    // out (N), inp (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = inp[i] * sigmoidf(inp[i]);
}

void cpu_silu_backward(float *dinp, const float *dout, const float *inp, size_t N) {
    // dinp (N), dout (N), inp (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i], s = sigmoidf(x);
        dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
    }
}

void cpu_swiglu_forward(float *out, const float *gate, const float *up, size_t N) {
    // out (N), gate (N), up (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = gate[i] * sigmoidf(gate[i]) * up[i];
}

void cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t N) {
    // dgate (N), dup (N), dout (N), gate (N), up (N); either gradient may be NULL
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float g = gate[i], s = sigmoidf(g);
        if (dgate) dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
        if (dup) dup[i] += dout[i] * g * s;
    }
}

void cpu_add(float *out, const float *a, const float *b, size_t N) {
    // out (N), a (N), b (N); out may be a or b: each element is read before it is written
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void cpu_accumulate(float *dst, const float *src, size_t N) {
    // dst (N), src (N)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) dst[i] += src[i];
}
