/* CPU reference of the DPO / IOPO losses on per-sequence log-probs (formulas: include/iopo/ops.h, REFERENCE.md §1). */
#include <math.h>

#include "cpu/cpu_ops.h"

/* log(sigmoid(x)) without overflow: -softplus(-x). */
static double log_sigmoid(double x) { return -(fmax(-x, 0.0) + log1p(exp(-fabs(x)))); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

void cpu_pref_loss(float *loss, float *z, float *dseq_logp, const float *seq_logp, const float *ref_logp,
                   const float *seq_count, int E, const iopo_pref_params *p) {
    // loss (E), z (E), dseq_logp (E*G), seq_logp (E*G), ref_logp (E*G), seq_count (E*G); G = p->group
    const int G = p->group;
    /* The margin's sign per sequence: DPO (+c, -r); IOPO (+x1y1, -x1y2, +x2y2, -x2y1). The chosen sequences (+)
     * also carry the SFT term. */
    static const double sign[4] = {1, -1, 1, -1};
    const double beta = p->beta, eps = p->label_smoothing, gamma = p->pref_ftx;
#pragma omp parallel for schedule(static)
    for (int e = 0; e < E; e++) {
        const float *lp = seq_logp + (size_t)e * G, *rp = ref_logp + (size_t)e * G, *cnt = seq_count + (size_t)e * G;
        double zz = 0;
        for (int k = 0; k < G; k++) zz += sign[k] * ((double)lp[k] - (double)rp[k]);
        double bz = beta * zz, l, dz;
        switch (G == 4 ? IOPO_PREF_SIGMOID : p->type) {
        case IOPO_PREF_IPO: {
            double d = zz - 1.0 / (2.0 * beta);
            l = d * d;
            dz = 2.0 * d;
            break;
        }
        case IOPO_PREF_HINGE:
            l = fmax(0.0, 1.0 - bz);
            dz = 1.0 - bz > 0 ? -beta : 0.0;
            break;
        case IOPO_PREF_ROBUST:
            l = (-(1 - eps) * log_sigmoid(bz) + eps * log_sigmoid(-bz)) / (1 - 2 * eps);
            dz = (-(1 - eps) * beta * sigmoid(-bz) - eps * beta * sigmoid(bz)) / (1 - 2 * eps);
            break;
        default:
            l = -(1 - eps) * log_sigmoid(bz) - eps * log_sigmoid(-bz);
            dz = -(1 - eps) * beta * sigmoid(-bz) + eps * beta * sigmoid(bz);
            break;
        }
        for (int k = 0; k < G; k++) {
            double d = sign[k] * dz;
            if (gamma != 0 && sign[k] > 0 && cnt[k] > 0) {
                l += gamma * -(double)lp[k] / cnt[k];
                d += -gamma / cnt[k];
            }
            dseq_logp[(size_t)e * G + k] = (float)(p->scale * d);
        }
        loss[e] = (float)l;
        z[e] = (float)zz;
    }
}
