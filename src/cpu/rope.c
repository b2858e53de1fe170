/* CPU reference of rotary position embeddings: the host-side cos/sin tables (as Hugging Face computes them) and the
 * rotate-half rotation of the q and k heads of a packed qkv row, forward and backward.
 *
 * The tables reproduce transformers' fp32 arithmetic step by step (see iopo_rope_tables in include/iopo/ops.h): every
 * intermediate is rounded to float where torch's fp32 tensor ops round it, so a model loaded from Hugging Face rotates
 * by the same angles. Only pow, cos and sin are taken in double and rounded once, i.e. correctly rounded, where torch
 * uses its own vectorised fp32 routines (within an ulp of those). */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

/* transformers computes `2 * math.pi / inv_freq` and `old_context_len / wavelen` as tensor.__rtruediv__, which is
 * reciprocal(tensor) * scalar, the Python scalar first rounded to float. */
static float rtruediv(double scalar, float t) { return (1.0f / t) * (float)scalar; }

static float rope_inv_freq(const iopo_rope_config *cfg, int hd, int i) {
    // inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim)): an fp32 exponent, fp32 power, fp32 reciprocal.
    float e = (float)(2 * i) / (float)hd;
    float pw = (float)pow((double)(float)cfg->theta, (double)e);
    float inv = 1.0f / pw;
    if (cfg->scaling != IOPO_ROPE_LLAMA3) return inv;

    // _compute_llama3_parameters: the Python-side wavelength bounds are doubles, compared against fp32 tensors.
    double orig = (double)cfg->original_max_position_embeddings;
    float low_wavelen = (float)(orig / (double)cfg->low_freq_factor);
    float high_wavelen = (float)(orig / (double)cfg->high_freq_factor);
    float factor = cfg->factor;
    float wavelen = rtruediv(2.0 * M_PI, inv);
    float inv_llama = wavelen > low_wavelen ? inv / factor : inv;
    float smooth = (rtruediv(orig, wavelen) - cfg->low_freq_factor) /
                   (float)((double)cfg->high_freq_factor - (double)cfg->low_freq_factor);
    float smoothed = (1.0f - smooth) * inv_llama / factor + smooth * inv_llama;
    bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    return medium ? smoothed : inv_llama;
}

void cpu_rope_tables(const iopo_rope_config *cfg, int hd, int npos, float *cos_t, float *sin_t) {
    // cos_t, sin_t (npos, hd/2)
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        float inv = rope_inv_freq(cfg, hd, i);
        for (int p = 0; p < npos; p++) {
            float angle = (float)p * inv;   // freqs = inv_freq @ position_ids in fp32: one rounded product
            cos_t[(size_t)p * half + i] = (float)cos((double)angle);
            sin_t[(size_t)p * half + i] = (float)sin((double)angle);
        }
    }
}

static inline int rope_pos(const int32_t *positions, size_t n, int npos) {
    int p = positions[n];
    return p < 0 ? 0 : p >= npos ? npos - 1 : p;
}

void cpu_rope_forward(float *out, const float *inp, const float *cos_t, const float *sin_t, const int32_t *positions,
                      int B, int T, int NH, int NKV, int hd, int npos) {
    // out (B,T,W), inp (B,T,W) with W = (NH+2*NKV)*hd, cos_t, sin_t (npos, hd/2), positions (B,T); out may be inp
    size_t N = (size_t)B * T, W = (size_t)(NH + 2 * NKV) * hd;
    int half = hd / 2, rotated = NH + NKV;
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * W;
        float *o = out + n * W;
        const float *c = cos_t + (size_t)rope_pos(positions, n, npos) * half;
        const float *s = sin_t + (size_t)rope_pos(positions, n, npos) * half;
        for (int h = 0; h < rotated; h++) {
            const float *xh = x + (size_t)h * hd;
            float *oh = o + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float x0 = xh[i], x1 = xh[i + half];   // both read before either is written: in place is safe
                oh[i] = x0 * c[i] - x1 * s[i];
                oh[i + half] = x1 * c[i] + x0 * s[i];
            }
        }
        if (o != x) memcpy(o + (size_t)rotated * hd, x + (size_t)rotated * hd, (size_t)NKV * hd * sizeof(float));
    }
}

/* The rotation is orthogonal, so its transpose is the rotation by -angle:
 *   dinp[i] += dout[i]*c + dout[i+half]*s ; dinp[i+half] += dout[i+half]*c - dout[i]*s. */
void cpu_rope_backward(float *dinp, const float *dout, const float *cos_t, const float *sin_t,
                       const int32_t *positions, int B, int T, int NH, int NKV, int hd, int npos) {
    // dinp (B,T,W) +=, dout (B,T,W), cos_t, sin_t (npos, hd/2), positions (B,T)
    size_t N = (size_t)B * T, W = (size_t)(NH + 2 * NKV) * hd;
    int half = hd / 2, rotated = NH + NKV;
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *dy = dout + n * W;
        float *dx = dinp + n * W;
        const float *c = cos_t + (size_t)rope_pos(positions, n, npos) * half;
        const float *s = sin_t + (size_t)rope_pos(positions, n, npos) * half;
        for (int h = 0; h < rotated; h++) {
            const float *gh = dy + (size_t)h * hd;
            float *xh = dx + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                xh[i] += gh[i] * c[i] + gh[i + half] * s[i];
                xh[i + half] += gh[i + half] * c[i] - gh[i] * s[i];
            }
        }
        for (size_t j = (size_t)rotated * hd; j < W; j++) dx[j] += dy[j];
    }
}
