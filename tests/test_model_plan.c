/* The decoder driver's bookkeeping, for every family on both backends:
 *  - the memory plan is the allocation: iopo_model_activation_bytes(cfg, B, T) equals the bytes the model's
 *    activations take on the context once (B, T) is reserved; smaller batches then allocate nothing (they are
 *    views), a larger one grows the allocation to the larger of each dimension;
 *  - the parameter count of a config equals the built model's; parameters and gradients are views of per-decay-class
 *    arenas, aligned and without overlap;
 *  - the checkpoint names: fused q/k/v become q_proj, k_proj, v_proj of the right shapes, a tied head is not written,
 *    an untied one is; save then load gives back every tensor bit for bit;
 *  - the LM head in chunks of sequences or pieces of one (a small logits budget) gives the unchunked head's
 *    log-probs and gradients, and allocates what its plan says;
 *  - recomputation (gradient checkpointing) gives the same gradients bit for bit and allocates what its plan says;
 *  - a forward and backward on the Vulkan device give what the CPU backend gives (loose tolerance; the ops checks and
 *    the Hugging Face peer tests hold the values to account).
 * Usage: test_model_plan WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/context.h"
#include "iopo/fileio.h"
#include "iopo/model.h"

#include "test_check.h"

typedef struct family_case {
    const char *label;
    iopo_model_config cfg;
    const char *must_have[4];     /* checkpoint names that must be exported */
    const char *must_not[2];      /* and ones that must not */
} family_case;

static void fill_batch(iopo_batch *b, int B, int T, int V, int seed) {
    int32_t *tok = malloc((size_t)B * T * 4), *tgt = malloc((size_t)B * T * 4), *len = malloc((size_t)B * 4);
    float *mask = malloc((size_t)B * T * 4);
    for (int i = 0; i < B; i++) {
        len[i] = T - (i * 3) % T;   /* right padding differs per row */
        for (int t = 0; t < T; t++) {
            tok[i * T + t] = (seed * 7 + i * 13 + t * 5) % V;
            tgt[i * T + t] = (seed * 3 + i * 11 + t * 7 + 1) % V;
            mask[i * T + t] = t < len[i] - 1 ? 1.0f : 0.0f;
        }
    }
    iopo_tensor_upload(b->tokens, tok);
    iopo_tensor_upload(b->targets, tgt);
    iopo_tensor_upload(b->mask, mask);
    iopo_tensor_upload(b->lengths, len);
    free(tok), free(tgt), free(len), free(mask);
}

/* Forward + backward of a (B, T) batch; returns the host copy of the gradients (exported) in *g. */
static int step(iopo_model *m, iopo_ctx *ctx, int B, int T, int seed, iopo_st_entry **g, float *loss_sum) {
    iopo_batch b;
    iopo_batch_init(&b, ctx, B, T);
    fill_batch(&b, B, T, iopo_model_get_config(m)->vocab_size, seed);
    iopo_model_zero_grad(m);
    iopo_model_forward(m, &b);
    /* The gradient of the label log-probs weighted by sequence, (b+1) for sequence b, so that a sum or a gradient
     * credited to the wrong sequence shows. */
    iopo_tensor *ones = iopo_tensor_new1(ctx, IOPO_F32, B);
    float *h1 = malloc((size_t)B * 4);
    for (int i = 0; i < B; i++) h1[i] = (float)(i + 1);
    iopo_tensor_upload(ones, h1);
    free(h1);
    iopo_model_backward(m, &b, NULL, ones);
    iopo_tensor_free(ones);
    float *lp = malloc((size_t)B * 4);
    iopo_tensor_download(iopo_model_seq_logp(m), lp);
    *loss_sum = 0;
    for (int i = 0; i < B; i++) *loss_sum += (float)(i + 1) * lp[i];
    free(lp);
    iopo_batch_free(&b);
    return iopo_model_export(m, true, g);
}

static const iopo_st_entry *find(const iopo_st_entry *e, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return &e[i];
    return NULL;
}

static size_t numel(const iopo_st_entry *e) {
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static void run_case(const family_case *fc, const char *work) {
    char err[1024];
    iopo_ctx *cpu = iopo_ctx_create(&(iopo_ctx_options){.backend = IOPO_BACKEND_CPU}, err, sizeof err);
    iopo_ctx_options vo;
    iopo_ctx_options_parse(&vo, NULL, err, sizeof err);
    iopo_ctx *vk = iopo_ctx_create(&vo, err, sizeof err);
    CHECK(cpu && vk, "%s: contexts: %s", fc->label, err);
    if (!cpu || !vk) return;
    iopo_model *m = iopo_model_create(cpu, &fc->cfg, 7, err, sizeof err);
    CHECK(m, "%s: create: %s", fc->label, err);
    if (!m) return;
    CHECK(iopo_model_numel(m) == iopo_model_config_numel(&fc->cfg), "%s: numel %zu, config says %zu", fc->label,
          iopo_model_numel(m), iopo_model_config_numel(&fc->cfg));

    /* The arenas: every parameter's value and gradient are views of its segment, 64-element aligned, in order without
     * overlap, each segment one decay class. */
    int nseg = iopo_model_segment_count(m);
    CHECK(nseg >= 1 && nseg <= 2, "%s: %d parameter segments for a small model (one per decay class expected)",
          fc->label, nseg);
    size_t end[8] = {0};
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        iopo_param *p = iopo_model_param(m, i);
        const iopo_param_segment *sg = p->segment < nseg ? iopo_model_segment(m, p->segment) : NULL;
        CHECK(sg && p->value->view_of == sg->value && p->grad->view_of == sg->grad && p->offset % 64 == 0 &&
                  p->offset >= end[p->segment] && p->offset + p->value->numel <= sg->value->numel &&
                  sg->decay == p->decay,
              "%s: %s is not a view in its segment's arena (segment %d, offset %zu)", fc->label, p->name, p->segment,
              p->offset);
        if (sg) end[p->segment] = p->offset + p->value->numel;
    }

    /* Names and shapes of what a checkpoint holds. */
    iopo_st_entry *e;
    int n = iopo_model_export(m, false, &e);
    for (int i = 0; i < 4 && fc->must_have[i]; i++)
        CHECK(find(e, n, fc->must_have[i]), "%s: the checkpoint lacks %s", fc->label, fc->must_have[i]);
    for (int i = 0; i < 2 && fc->must_not[i]; i++)
        CHECK(!find(e, n, fc->must_not[i]), "%s: the checkpoint holds %s", fc->label, fc->must_not[i]);
    const iopo_st_entry *k = find(e, n, "model.layers.0.self_attn.k_proj.weight");
    if (k)
        CHECK(k->ndim == 2 && k->shape[0] == (int64_t)fc->cfg.n_kv_head * fc->cfg.head_dim &&
                  k->shape[1] == fc->cfg.n_embd,
              "%s: k_proj.weight is (%lld, %lld)", fc->label, (long long)k->shape[0], (long long)k->shape[1]);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += numel(&e[i]);
    CHECK(total == iopo_model_numel(m), "%s: exported %zu elements of %zu", fc->label, total,
          iopo_model_numel(m));

    /* Save, load: every tensor back bit for bit, on the other backend. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", work, fc->label);
    CHECK(iopo_model_save(m, dir, err, sizeof err), "%s: save: %s", fc->label, err);
    iopo_model *mv = iopo_model_load(vk, dir, err, sizeof err);
    CHECK(mv, "%s: load: %s", fc->label, err);
    if (!mv) {
        iopo_model_export_free(e, n);
        iopo_model_free(m);
        return;
    }
    iopo_st_entry *e2;
    int n2 = iopo_model_export(mv, false, &e2);
    CHECK(n2 == n, "%s: %d tensors after loading, %d before", fc->label, n2, n);
    for (int i = 0; i < n && i < n2; i++)
        CHECK(strcmp(e[i].name, e2[i].name) == 0 && memcmp(e[i].data, e2[i].data, numel(&e[i]) * 4) == 0,
              "%s: %s differs after save and load", fc->label, e[i].name);
    iopo_model_export_free(e2, n2);
    iopo_model_export_free(e, n);

    /* The plan is the allocation: reserved once for the largest shape, smaller batches allocate nothing more, a
     * larger one grows it to the larger of each dimension. On both backends. */
    int shapes[2][2] = {{3, 8}, {2, 13}};
    iopo_model *ms[2] = {m, mv};
    iopo_ctx *cs[2] = {cpu, vk};
    iopo_st_entry *g[2][2];
    int ng[2][2];
    float ls[2][2];
    for (int d = 0; d < 2; d++) {
        const char *dn = d ? "vulkan" : "cpu";
        size_t base = iopo_ctx_tensor_bytes(cs[d]), plan = iopo_model_activation_bytes(&fc->cfg, 3, 13);
        iopo_model_reserve(ms[d], 3, 13);
        size_t held = iopo_ctx_tensor_bytes(cs[d]) - base;
        CHECK(held == plan && iopo_model_activation_bytes_allocated(ms[d]) == plan,
              "%s (%s): reserving (3, 13) planned %zu activation bytes, allocated %zu", fc->label, dn, plan, held);
        for (int s = 0; s < 2; s++) {
            ng[s][d] = step(ms[d], cs[d], shapes[s][0], shapes[s][1], s, &g[s][d], &ls[s][d]);
            CHECK(iopo_ctx_tensor_bytes(cs[d]) - base == plan, "%s (%s): a (%d, %d) batch after reserving (3, 13) "
                  "changed the bytes held from %zu to %zu", fc->label, dn, shapes[s][0], shapes[s][1], plan,
                  iopo_ctx_tensor_bytes(cs[d]) - base);
        }
        iopo_st_entry *gg;
        float lg;
        int ngg = step(ms[d], cs[d], 4, 9, 2, &gg, &lg);
        iopo_model_export_free(gg, ngg);
        plan = iopo_model_activation_bytes(&fc->cfg, 4, 13);
        CHECK(iopo_ctx_tensor_bytes(cs[d]) - base == plan && iopo_model_activation_bytes_allocated(ms[d]) == plan,
              "%s (%s): a (4, 9) batch should grow the activations to (4, 13): %zu bytes, allocated %zu", fc->label,
              dn, plan, iopo_ctx_tensor_bytes(cs[d]) - base);
    }
    /* The chunked LM head: with a budget of two sequences' logits, a (5, 7) batch runs the head in chunks of 2, 2
     * and 1 sequences; with a budget of 3 rows, every sequence in pieces of 3, 3 and 1 positions. Its log-probs and
     * gradients match the unchunked head's, the plan still equals the allocation and the logits are the chunk's, not
     * the batch's. */
    for (int k = 0; k < 4; k++) {
        int d = k % 2;
        size_t budget = (size_t)(k < 2 ? 2 * 7 : 3) * fc->cfg.vocab_size * 4;
        const char *dn = k == 0 ? "cpu, chunks of sequences" : k == 1 ? "vulkan, chunks of sequences"
                                                                      : k == 2 ? "cpu, pieces of sequences"
                                                                               : "vulkan, pieces of sequences";
        iopo_st_entry *gu, *gc;
        float lu, lc;
        iopo_model_set_logits_budget(ms[d], 0);
        int nu = step(ms[d], cs[d], 5, 7, 3, &gu, &lu);
        CHECK(iopo_model_logits(ms[d]) != NULL, "%s (%s): the unchunked head has no logits", fc->label, dn);
        iopo_model_set_logits_budget(ms[d], budget);
        iopo_model_config small = fc->cfg;
        small.logits_budget = budget;
        size_t base = iopo_ctx_tensor_bytes(cs[d]);
        int nc = step(ms[d], cs[d], 5, 7, 3, &gc, &lc);
        size_t held = iopo_ctx_tensor_bytes(cs[d]) - base, plan = iopo_model_activation_bytes(&small, 5, 7);
        CHECK(held == plan && plan < iopo_model_activation_bytes(&fc->cfg, 5, 7),
              "%s (%s): chunked head planned %zu bytes, allocated %zu (unchunked plan %zu)", fc->label, dn, plan, held,
              iopo_model_activation_bytes(&fc->cfg, 5, 7));
        CHECK(iopo_model_logits(ms[d]) == NULL, "%s (%s): a chunked head offers whole-batch logits", fc->label, dn);
        CHECK(fabsf(lu - lc) <= 1e-5f * fabsf(lu), "%s (%s): summed log-probs unchunked %.9g, chunked %.9g", fc->label,
              dn, lu, lc);
        for (int i = 0; i < nu && i < nc; i++) {
            const float *a = gu[i].data, *b = gc[i].data;
            double maxa = 0, maxd = 0;
            for (size_t j = 0; j < numel(&gu[i]); j++) {
                maxa = fmax(maxa, fabs(a[j]));
                maxd = fmax(maxd, fabs(a[j] - b[j]));
            }
            CHECK(maxd <= 1e-5 * maxa + 1e-9, "%s (%s): gradient of %s: chunked head differs by %g (max %g)",
                  fc->label, dn, gu[i].name, maxd, maxa);
        }
        iopo_model_export_free(gu, nu);
        iopo_model_export_free(gc, nc);
        iopo_model_set_logits_budget(ms[d], 0);
    }
    /* Recomputation (gradient checkpointing): one set of block activations for every block, the same gradients bit
     * for bit (each block's forward runs again on the same inputs), and the plan still the allocation. */
    for (int d = 0; d < 2; d++) {
        const char *dn = d ? "vulkan" : "cpu";
        iopo_st_entry *gk, *gr;
        float lk, lr;
        iopo_model_set_recompute(ms[d], false);
        int nk = step(ms[d], cs[d], 3, 11, 4, &gk, &lk);
        iopo_model_set_recompute(ms[d], true);
        iopo_model_config rc = fc->cfg;
        rc.recompute = true;
        size_t base = iopo_ctx_tensor_bytes(cs[d]);
        int nr = step(ms[d], cs[d], 3, 11, 4, &gr, &lr);
        size_t held = iopo_ctx_tensor_bytes(cs[d]) - base, plan = iopo_model_activation_bytes(&rc, 3, 11);
        size_t full = iopo_model_activation_bytes(&fc->cfg, 3, 11);
        CHECK(held == plan && (fc->cfg.n_layer == 1 || plan < full),
              "%s (%s): recomputation planned %zu bytes, allocated %zu (without: %zu)", fc->label, dn, plan, held, full);
        CHECK(lk == lr, "%s (%s): summed log-probs %.9g without recomputation, %.9g with", fc->label, dn, lk, lr);
        for (int i = 0; i < nk && i < nr; i++)
            CHECK(memcmp(gk[i].data, gr[i].data, numel(&gk[i]) * 4) == 0, "%s (%s): gradient of %s differs with "
                  "recomputation", fc->label, dn, gk[i].name);
        iopo_model_export_free(gk, nk);
        iopo_model_export_free(gr, nr);
        iopo_model_set_recompute(ms[d], false);
    }
    /* Vulkan against the CPU backend. */
    for (int s = 0; s < 2; s++) {
        CHECK(fabsf(ls[s][0] - ls[s][1]) <= 1e-4f * fabsf(ls[s][0]) + 1e-4f, "%s: summed log-prob cpu %g, vulkan %g",
              fc->label, ls[s][0], ls[s][1]);
        for (int i = 0; i < ng[s][0]; i++) {
            const float *a = g[s][0][i].data, *b = g[s][1][i].data;
            double maxa = 0, maxd = 0;
            for (size_t j = 0; j < numel(&g[s][0][i]); j++) {
                maxa = fmax(maxa, fabs(a[j]));
                maxd = fmax(maxd, fabs(a[j] - b[j]));
            }
            CHECK(maxd <= 1e-3 * maxa + 1e-6, "%s: gradient of %s: cpu and vulkan differ by %g (max %g)", fc->label,
                  g[s][0][i].name, maxd, maxa);
            CHECK(maxa > 0 || strstr(g[s][0][i].name, "wpe") || strstr(g[s][0][i].name, "embed"),
                  "%s: gradient of %s is all zero", fc->label, g[s][0][i].name);
        }
        for (int d = 0; d < 2; d++) iopo_model_export_free(g[s][d], ng[s][d]);
    }
    printf("%s: plan = allocation, save/load exact, vulkan = cpu\n", fc->label);
    iopo_model_free(mv);
    iopo_model_free(m);
    iopo_ctx_destroy(vk);
    iopo_ctx_destroy(cpu);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_model_plan WORK_DIR\n");
        return 2;
    }
    char err[512];
    if (!iopo_mkdirs(argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    family_case cases[] = {
        {"gpt2", {.arch = "gpt2", .n_layer = 2, .n_head = 2, .n_kv_head = 2, .n_embd = 16, .head_dim = 8,
                  .n_ffn = 64, .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-5f, .tied = true, .bos_id = -1,
                  .eos_id = -1},
         {"wte.weight", "wpe.weight", "h.1.attn.c_attn.weight", NULL}, {"lm_head.weight", NULL}},
        {"llama", {.arch = "llama", .n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 16, .head_dim = 4,
                   .n_ffn = 24, .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-5f, .tied = false, .attn_bias = true,
                   .rope = {.theta = 10000, .scaling = IOPO_ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                            .high_freq_factor = 4, .original_max_position_embeddings = 8},
                   .bos_id = -1, .eos_id = -1},
         {"lm_head.weight", "model.layers.1.self_attn.o_proj.bias", "model.layers.0.self_attn.v_proj.bias",
          "model.layers.0.mlp.gate_proj.weight"},
         {"model.layers.0.self_attn.qkv_proj.weight", NULL}},
        {"qwen2", {.arch = "qwen2", .n_layer = 1, .n_head = 4, .n_kv_head = 1, .n_embd = 16, .head_dim = 4,
                   .n_ffn = 20, .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-6f, .tied = true,
                   .rope = {.theta = 1e6f}, .bos_id = -1, .eos_id = -1},
         {"model.layers.0.self_attn.q_proj.bias", "model.embed_tokens.weight", NULL},
         {"lm_head.weight", "model.layers.0.self_attn.o_proj.bias"}},
        {"qwen3", {.arch = "qwen3", .n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 16, .head_dim = 6,
                   .n_ffn = 24, .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-6f, .tied = false,
                   .rope = {.theta = 1e6f}, .bos_id = -1, .eos_id = -1},
         {"model.layers.1.self_attn.q_norm.weight", "model.layers.1.self_attn.k_norm.weight", "lm_head.weight", NULL},
         {"model.layers.0.self_attn.q_proj.bias", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], argv[1]);
    if (iopo_validation_message_count()) {
        printf("FAIL: %llu Vulkan validation messages\n", (unsigned long long)iopo_validation_message_count());
        fails++;
    }
    printf("model_plan: %d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
