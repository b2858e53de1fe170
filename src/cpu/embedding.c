/* CPU reference of the token + position embedding (see include/iopo/ops.h). */
#include "cpu/cpu_ops.h"
#include "util/half.h"

void cpu_embedding_forward(float *out, const int32_t *tokens, const void *wte, iopo_dtype wte_dt, const void *wpe,
                           iopo_dtype wpe_dt, int B, int T, int C, int V) {
    // out (B,T,C), tokens (B,T), wte (V,C), wpe (maxT,C) or NULL; the tables f32, bf16 or f16 (widened exactly, as
    // the shader does, then added in fp32)
#pragma omp parallel for
    for (int bt = 0; bt < B * T; bt++) {
        int t = bt % T;
        int32_t tok = tokens[bt];
        float *o = out + (size_t)bt * C;
        // an id outside the vocabulary (e.g. a -100 padding label used as input) must not read out of bounds
        if (tok >= 0 && tok < V) iopo_widen_f32(o, wte, wte_dt, (size_t)tok * C, (size_t)C);
        else
            for (int c = 0; c < C; c++) o[c] = 0.0f;
        if (wpe)
            for (int c = 0; c < C; c++) o[c] += iopo_load_f32(wpe, wpe_dt, (size_t)t * C + c);
    }
}

void cpu_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B, int T, int C,
                            int V) {
    // dwte (V,C), dwpe (maxT,C), dout (B,T,C), tokens (B,T)
    if (dwte) {
        // Repeated tokens make rows collide, so threads split the channels instead of the positions: each channel is
        // owned by one thread, which visits the positions in order (deterministic, no atomics).
        const int CB = 16;   // channels per task: a cache line of dout per position
#pragma omp parallel for schedule(static)
        for (int c0 = 0; c0 < C; c0 += CB) {
            int c1 = c0 + CB < C ? c0 + CB : C;
            for (int bt = 0; bt < B * T; bt++) {
                int32_t tok = tokens[bt];
                if (tok < 0 || tok >= V) continue;
                const float *g = dout + (size_t)bt * C;
                float *d = dwte + (size_t)tok * C;
                for (int c = c0; c < c1; c++) d[c] += g[c];
            }
        }
    }
    if (dwpe) {
#pragma omp parallel for
        for (int tc = 0; tc < T * C; tc++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * T * C + tc];
            dwpe[tc] += s;
        }
    }
}
