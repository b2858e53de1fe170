/* Configuration: the training config JSON (iopo train --config), the same keys as command-line flags, a model
 * directory's config.json and a PEFT adapter_config.json. First input byte mod 4: 0 -> the rest is a training config
 * file; 1 -> the rest is NUL-separated command-line arguments (--key=value or --key value); 2 -> the rest is
 * config.json; 3 -> the rest is adapter_config.json (an accepted one has a rank of at least 1, a dropout in [0, 1), a
 * finite alpha and module names that select modules of a Llama-shaped model or are refused with a message).
 * Invariants: a validated training config gives a finite learning rate within [0, lr] at every step checked; a
 * loaded model config (any family) has positive sizes, kv heads dividing heads, GPT-2's n_embd divisible by n_head,
 * an even head_dim and a theta above 1 for RoPE, a well-formed llama3 scaling, token ids inside the vocabulary and a
 * finite positive norm epsilon. */
#include "fuzz_util.h"
#include "iopo/model.h"
#include "iopo/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_train(const iopo_train_config *c) {
    char err[2048];
    if (!iopo_train_config_validate(c, err, sizeof err)) {
        FZ_CHECK(err[0], "validate refused without a message");
        return;
    }
    const int steps[] = {1, 2, c->warmup_steps, c->warmup_steps + 1, c->steps / 2, c->steps - 1, c->steps};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int s = steps[i];
        if (s < 1 || s > c->steps) continue;
        double lr = iopo_train_lr(c, s);
        FZ_CHECK(isfinite(lr) && lr >= 0 && lr <= c->lr * (1 + 1e-12) + 1e-300, "lr at step %d of %d (warmup %d, %s): %g, "
                 "peak %g", s, c->steps, c->warmup_steps, c->schedule, lr, c->lr);
    }
}

static void train_file(const char *data, size_t size) {
    const char *path = fz_write(1, "train.json", data, size);
    iopo_train_config c;
    iopo_train_config_defaults(&c);
    char err[2048];
    bool ok = iopo_train_config_load_json(&c, path, err, sizeof err);
    unlink(path);
    if (!ok) {
        FZ_CHECK(err[0], "load_json refused without a message");
        return;
    }
    /* The keys validate requires are flags in real use; give them so the values in the file are checked. */
    if (!c.model[0]) snprintf(c.model, sizeof c.model, "m");
    if (!c.data[0]) snprintf(c.data, sizeof c.data, "d");
    if (!c.out[0]) snprintf(c.out, sizeof c.out, "o");
    check_train(&c);
}

static void train_flags(const char *data, size_t size) {
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    int argc = 0, cap = 8;
    char **argv = malloc((size_t)cap * sizeof *argv);
    for (char *p = buf; p <= buf + size; p += strlen(p) + 1) {
        if (argc == cap) argv = realloc(argv, (size_t)(cap *= 2) * sizeof *argv);
        argv[argc++] = p;
    }
    iopo_train_config c;
    iopo_train_config_defaults(&c);
    snprintf(c.model, sizeof c.model, "m");
    snprintf(c.data, sizeof c.data, "d");
    snprintf(c.out, sizeof c.out, "o");
    char err[2048];
    bool ok = true;
    for (int i = 0; ok && i < argc; i++) {
        int before = i;
        ok = iopo_train_config_parse_flag(&c, argc, argv, &i, err, sizeof err);
        FZ_CHECK(ok || err[0], "parse_flag refused without a message");
        FZ_CHECK(i >= before && i < argc, "parse_flag moved the index from %d to %d of %d", before, i, argc);
    }
    if (ok) check_train(&c);
    free(argv);
    free(buf);
}

static void model_config(const char *data, size_t size) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/model", fz_dir());
    mkdir(dir, 0700);
    const char *path = fz_write(1, "model/config.json", data, size);
    iopo_model_config cfg;
    char err[2048];
    bool ok = iopo_model_config_load(&cfg, dir, err, sizeof err);
    unlink(path);
    if (!ok) {
        FZ_CHECK(err[0], "refused without a message");
        return;
    }
    FZ_CHECK(cfg.n_layer > 0 && cfg.n_head > 0 && cfg.n_embd > 0 && cfg.n_ctx > 0 && cfg.vocab_size > 0,
             "accepted sizes n_layer %d n_head %d n_embd %d n_ctx %d vocab %d", cfg.n_layer, cfg.n_head, cfg.n_embd,
             cfg.n_ctx, cfg.vocab_size);
    bool gpt2 = !strcmp(cfg.arch, "gpt2");
    FZ_CHECK(gpt2 || !strcmp(cfg.arch, "llama") || !strcmp(cfg.arch, "qwen2") || !strcmp(cfg.arch, "qwen3"),
             "arch '%s'", cfg.arch);
    FZ_CHECK(cfg.n_kv_head > 0 && cfg.n_head % cfg.n_kv_head == 0 && cfg.head_dim > 0 && cfg.n_ffn > 0,
             "accepted heads %d / kv heads %d, head_dim %d, ffn %d", cfg.n_head, cfg.n_kv_head, cfg.head_dim,
             cfg.n_ffn);
    FZ_CHECK(!gpt2 || (cfg.n_embd % cfg.n_head == 0 && cfg.head_dim * cfg.n_head == cfg.n_embd && cfg.tied),
             "gpt2 with n_embd %d, n_head %d, head_dim %d", cfg.n_embd, cfg.n_head, cfg.head_dim);
    FZ_CHECK(gpt2 || (cfg.head_dim % 2 == 0 && isfinite(cfg.rope.theta) && cfg.rope.theta > 1),
             "RoPE with head_dim %d, theta %g", cfg.head_dim, (double)cfg.rope.theta);
    FZ_CHECK(cfg.rope.scaling != IOPO_ROPE_LLAMA3 ||
                 (cfg.rope.factor > 0 && cfg.rope.high_freq_factor > cfg.rope.low_freq_factor &&
                  cfg.rope.low_freq_factor > 0 && cfg.rope.original_max_position_embeddings > 0),
             "llama3 RoPE scaling with factor %g, low %g, high %g", (double)cfg.rope.factor,
             (double)cfg.rope.low_freq_factor, (double)cfg.rope.high_freq_factor);
    FZ_CHECK(isfinite(cfg.norm_eps) && cfg.norm_eps > 0, "norm epsilon %g accepted", (double)cfg.norm_eps);
    FZ_CHECK(cfg.bos_id < cfg.vocab_size && cfg.eos_id < cfg.vocab_size, "bos %d / eos %d with vocab %d", cfg.bos_id,
             cfg.eos_id, cfg.vocab_size);
}

static void adapter_config(const char *data, size_t size) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/adapter", fz_dir());
    mkdir(dir, 0700);
    const char *path = fz_write(1, "adapter/adapter_config.json", data, size);
    iopo_lora_config lc;
    char err[2048];
    bool ok = iopo_adapter_config_read(dir, &lc, err, sizeof err);
    unlink(path);
    if (!ok) {
        FZ_CHECK(err[0], "refused without a message");
        return;
    }
    FZ_CHECK(lc.rank >= 1 && lc.dropout >= 0 && lc.dropout < 1 && isfinite(lc.alpha) && lc.target[0],
             "accepted rank %d, dropout %g, alpha %g, target '%s'", lc.rank, (double)lc.dropout, (double)lc.alpha,
             lc.target);
    iopo_model_config cfg = {.arch = "llama", .n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 32, .head_dim = 8,
                             .n_ffn = 48, .n_ctx = 16, .vocab_size = 64, .norm_eps = 1e-5f, .lora = lc};
    size_t n = iopo_lora_numel(&cfg, err, sizeof err);
    FZ_CHECK(n > 0 || err[0], "target '%s' selected nothing without a message", lc.target);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    const char *data = (const char *)in + 1;
    switch (in[0] % 4) {
    case 0: train_file(data, size - 1); break;
    case 1: train_flags(data, size - 1); break;
    case 2: model_config(data, size - 1); break;
    default: adapter_config(data, size - 1); break;
    }
    return 0;
}
