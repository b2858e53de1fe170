/* Checks of the fused softmax + cross-entropy: the CPU forward against a naive double-precision log-softmax, the CPU
 * backward against finite differences of the CPU forward, the device against the CPU (forward and backward, out of
 * place and in place on the logits buffer), device determinism, and the overwrite semantics of the backward
 * (dlogits starts as NaN: anything that adds to it or skips a row shows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"

typedef struct sce_shape {
    int B, T, V;
    bool dloss, dseq;   // which upstream gradients are passed (the others are NULL)
    bool fd;            // run the finite-difference check (small V only: the gradients of a huge V are ~1/V)
    bool oob;           // one counted position gets a target outside [0, V) (clamped by both backends)
} sce_shape;

typedef struct sce_inputs {
    float *logits;      // (B,T,V)
    int32_t *targets;   // (B,T)
    float *mask;        // (B,T)
    float *dloss;       // (B,T)
    float *dseq;        // (B)
} sce_inputs;

typedef struct sce_result {
    float *loss, *lse, *seq_logp, *seq_count;   // (B,T), (B,T), (B), (B)
    float *dlogits;                             // (B,T,V)
} sce_result;

static void sce_result_free(sce_result *r) {
    free(r->loss);
    free(r->lse);
    free(r->seq_logp);
    free(r->seq_count);
    free(r->dlogits);
}

static sce_inputs sce_make_inputs(check_ctx *cc, const sce_shape *s) {
    size_t BT = (size_t)s->B * s->T;
    sce_inputs in;
    // std 3: rows range from peaked to flat, so the target's probability spans many magnitudes.
    in.logits = check_randn(cc, BT * s->V, 3.0f);
    in.targets = check_randi(cc, BT, 0, s->V);
    in.mask = check_randu(cc, BT, 0.0f, 1.0f);
    for (size_t i = 0; i < BT; i++) {
        float u = in.mask[i];
        // Mostly 1, some 0 (target -100, which must never be read), some fractional weights.
        in.mask[i] = u < 0.2f ? 0.0f : u < 0.3f ? 0.5f : 1.0f;
        if (s->B > 1 && (int)(i / s->T) == s->B - 1) in.mask[i] = 0.0f;   // a fully masked sequence
        if (in.mask[i] == 0.0f) in.targets[i] = -100;
    }
    if (s->oob) {
        in.mask[1] = 1.0f;
        in.targets[1] = s->V + 3;
        in.mask[2] = 1.0f;
        in.targets[2] = -7;
    }
    in.dloss = check_randn(cc, BT, 1.0f);
    in.dseq = check_randn(cc, (size_t)s->B, 1.0f);
    return in;
}

static void sce_inputs_free(sce_inputs *in) {
    free(in->logits);
    free(in->targets);
    free(in->mask);
    free(in->dloss);
    free(in->dseq);
}

// Forward then backward on ctx through the public ops. in_place: the backward writes into the logits tensor itself.
// dlogits starts as NaN: the backward must overwrite every element.
static sce_result sce_run(iopo_ctx *ctx, const sce_shape *s, const sce_inputs *in, bool in_place) {
    size_t BT = (size_t)s->B * s->T, n = BT * s->V;
    int64_t shp_bt[2] = {s->B, s->T}, shp_btv[3] = {s->B, s->T, s->V};
    iopo_tensor *logits = check_tensor(ctx, IOPO_F32, in->logits, 3, shp_btv);
    iopo_tensor *targets = check_tensor(ctx, IOPO_I32, in->targets, 2, shp_bt);
    iopo_tensor *mask = check_tensor(ctx, IOPO_F32, in->mask, 2, shp_bt);
    iopo_tensor *loss = check_tensor(ctx, IOPO_F32, NULL, 2, shp_bt);
    iopo_tensor *lse = check_tensor(ctx, IOPO_F32, NULL, 2, shp_bt);
    iopo_tensor *seq_logp = check_tensor1(ctx, IOPO_F32, NULL, s->B);
    iopo_tensor *seq_count = check_tensor1(ctx, IOPO_F32, NULL, s->B);
    iopo_tensor *dloss = s->dloss ? check_tensor(ctx, IOPO_F32, in->dloss, 2, shp_bt) : NULL;
    iopo_tensor *dseq = s->dseq ? check_tensor1(ctx, IOPO_F32, in->dseq, s->B) : NULL;
    iopo_tensor *dlogits = NULL;
    if (!in_place) {
        float *nan = malloc(n * sizeof *nan);
        for (size_t i = 0; i < n; i++) nan[i] = NAN;
        dlogits = check_tensor(ctx, IOPO_F32, nan, 3, shp_btv);
        free(nan);
    }

    iopo_softmax_ce_forward(ctx, loss, lse, seq_logp, seq_count, logits, targets, mask, s->B, s->T, s->V);
    iopo_softmax_ce_backward(ctx, in_place ? logits : dlogits, logits, lse, targets, mask, dloss, dseq, s->B, s->T,
                             s->V);
    sce_result r = {check_download(loss), check_download(lse), check_download(seq_logp), check_download(seq_count),
                    check_download(in_place ? logits : dlogits)};

    iopo_tensor *all[] = {logits, targets, mask, loss, lse, seq_logp, seq_count, dloss, dseq, dlogits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) iopo_tensor_free(all[i]);
    return r;
}

// The forward computed the obvious way in double, straight from the definition in ops.h (targets clamped as
// documented in src/ops/softmax_ce.c): checks the CPU reference itself.
static void sce_naive_forward(const sce_shape *s, const sce_inputs *in, float *loss, float *lse, float *seq_logp) {
    for (int b = 0; b < s->B; b++) {
        double lp = 0;
        for (int t = 0; t < s->T; t++) {
            int r = b * s->T + t;
            const float *x = in->logits + (size_t)r * s->V;
            double mx = x[0];
            for (int i = 1; i < s->V; i++) mx = x[i] > mx ? x[i] : mx;
            double sum = 0;
            for (int i = 0; i < s->V; i++) sum += exp(x[i] - mx);
            double l = mx + log(sum);
            lse[r] = (float)l;
            double lo = 0;
            if (in->mask[r] != 0) {
                int tg = in->targets[r] < 0 ? 0 : in->targets[r] >= s->V ? s->V - 1 : in->targets[r];
                lo = in->mask[r] * (l - x[tg]);
            }
            loss[r] = (float)lo;
            lp -= lo;
        }
        seq_logp[b] = (float)lp;
    }
}

typedef struct sce_fd {
    const sce_shape *s;
    const sce_inputs *in;
    float *loss, *lse, *seq_logp, *seq_count;   // scratch outputs of the forward
} sce_fd;

// L = <loss, dloss> + <seq_logp, dseq> (each term only when that gradient is passed), so the backward with those
// upstream gradients is dL/dlogits.
static double sce_loss(void *user) {
    sce_fd *f = user;
    const sce_shape *s = f->s;
    cpu_softmax_ce_forward(f->loss, f->lse, f->seq_logp, f->seq_count, f->in->logits, f->in->targets, f->in->mask,
                           s->B, s->T, s->V);
    double L = 0;
    if (s->dloss) L += check_dot(f->loss, f->in->dloss, (size_t)s->B * s->T);
    if (s->dseq) L += check_dot(f->seq_logp, f->in->dseq, (size_t)s->B);
    return L;
}

static void sce_case(check_ctx *cc, const sce_shape *s) {
    const char *op = "softmax_ce";
    char shape[64], what[64];
    snprintf(shape, sizeof shape, "B=%d T=%d V=%d", s->B, s->T, s->V);
    const char *grads = s->dloss && s->dseq ? "dloss+dseq" : s->dloss ? "dloss" : s->dseq ? "dseq" : "no upstream";
    size_t BT = (size_t)s->B * s->T, n = BT * s->V;
    sce_inputs in = sce_make_inputs(cc, s);

    // The CPU reference against the definition.
    float *nl = malloc(BT * sizeof *nl), *nlse = malloc(BT * sizeof *nlse), *nseq = malloc(s->B * sizeof *nseq);
    sce_naive_forward(s, &in, nl, nlse, nseq);
    sce_result cpu = sce_run(cc->cpu, s, &in, false);
    check_close(cc, op, shape, "cpu fwd loss vs naive double", cpu.loss, nl, BT, 1e-6, 1e-6);
    check_close(cc, op, shape, "cpu fwd lse vs naive double", cpu.lse, nlse, BT, 1e-6, 1e-6);
    check_close(cc, op, shape, "cpu fwd seq_logp vs naive double", cpu.seq_logp, nseq, s->B, 1e-5, 1e-6);
    free(nl);
    free(nlse);
    free(nseq);

    // In place on the CPU: same bits as out of place.
    sce_result cpu_ip = sce_run(cc->cpu, s, &in, true);
    snprintf(what, sizeof what, "cpu bwd in place == out of place");
    check_identical(cc, op, shape, what, cpu_ip.dlogits, cpu.dlogits, n * sizeof(float));
    sce_result_free(&cpu_ip);

    if (s->fd) {
        sce_fd f = {s, &in, malloc(BT * sizeof(float)), malloc(BT * sizeof(float)), malloc(s->B * sizeof(float)),
                    malloc(s->B * sizeof(float))};
        snprintf(what, sizeof what, "cpu bwd vs fd (%s)", grads);
        // h = 2e-2 balances truncation (h^2 * third derivative of log-softmax) against fp32 rounding of the loss
        // outputs divided by 2h; both stay near 1e-4 while the gradients are O(0.1..1).
        check_fd(cc, op, shape, what, in.logits, n, cpu.dlogits, sce_loss, &f, 60, 2e-2f, 5e-4, 5e-3);
        free(f.loss);
        free(f.lse);
        free(f.seq_logp);
        free(f.seq_count);
    }

    if (cc->dev) {
        sce_result dev = sce_run(cc->dev, s, &in, false);
        // Device exp/log are accurate to a few ulp and the sums run in fp32: lse/loss agree to ~1e-7 relative on
        // lavapipe; the margin is for GPUs with less accurate exp.
        check_close(cc, op, shape, "dev fwd loss vs cpu", dev.loss, cpu.loss, BT, 1e-5, 5e-6);
        check_close(cc, op, shape, "dev fwd lse vs cpu", dev.lse, cpu.lse, BT, 1e-5, 5e-6);
        check_close(cc, op, shape, "dev fwd seq_logp vs cpu", dev.seq_logp, cpu.seq_logp, s->B, 1e-4, 1e-5);
        check_close(cc, op, shape, "dev fwd seq_count vs cpu", dev.seq_count, cpu.seq_count, s->B, 0, 0);
        snprintf(what, sizeof what, "dev bwd vs cpu (%s)", grads);
        // exp is within 3 + 2|x| ulp on Vulkan: up to ~1e-5 relative far in the tail, where the values are tiny.
        check_close(cc, op, shape, what, dev.dlogits, cpu.dlogits, n, 1e-7, 5e-5);

        sce_result dev2 = sce_run(cc->dev, s, &in, false);
        bool same = memcmp(dev.loss, dev2.loss, BT * 4) == 0 && memcmp(dev.lse, dev2.lse, BT * 4) == 0 &&
                    memcmp(dev.seq_logp, dev2.seq_logp, s->B * 4) == 0;
        check_row(cc, op, shape, "dev fwd run twice identical", same ? 0 : 1, 0, same);
        check_identical(cc, op, shape, "dev bwd run twice identical", dev.dlogits, dev2.dlogits, n * sizeof(float));
        sce_result_free(&dev2);

        sce_result dev_ip = sce_run(cc->dev, s, &in, true);
        check_identical(cc, op, shape, "dev bwd in place == out of place", dev_ip.dlogits, dev.dlogits,
                        n * sizeof(float));
        sce_result_free(&dev_ip);
        sce_result_free(&dev);
    }
    sce_result_free(&cpu);
    sce_inputs_free(&in);
}

void check_softmax_ce(check_ctx *cc) {
    static const sce_shape shapes[] = {
        {3, 5, 7, true, true, true, false},
        {2, 4, 1, true, true, true, false},          // one class: loss 0, gradient 0
        {2, 7, 33, true, false, true, true},         // dseq_logp NULL; targets outside [0,V) on counted rows
        {1, 9, 257, false, true, true, false},       // dloss NULL (the DPO/IOPO path)
        {2, 2, 5, false, false, true, false},        // both NULL: dlogits all 0
        {4, 17, 3001, true, true, false, false},     // several workgroups per row in the backward, last one partial
        {3, 3, 50257, true, true, false, false},     // GPT-2's vocabulary
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) sce_case(cc, &shapes[i]);
}
