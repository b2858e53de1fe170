/* GPT-2 as Hugging Face's GPT2LMHeadModel: token + learned position embeddings, pre-LayerNorm blocks, Conv1D weights
 * stored [in, out], q|k|v from one c_attn, gelu_new MLP 4x wide, final ln_f, LM head tied to wte. */
#include <math.h>
#include <stdio.h>

#include "model/family.h"

static const family_param first[] = {
    {R_TOK_EMB, WHEN_ALWAYS, {"wte.weight"}},
    {R_POS_EMB, WHEN_ALWAYS, {"wpe.weight"}},
};
static const family_param layer[] = {
    {R_ATTN_NORM_W, WHEN_ALWAYS, {"h.%d.ln_1.weight"}},
    {R_ATTN_NORM_B, WHEN_ALWAYS, {"h.%d.ln_1.bias"}},
    {R_QKV_W, WHEN_ALWAYS, {"h.%d.attn.c_attn.weight"}},
    {R_QKV_B, WHEN_ALWAYS, {"h.%d.attn.c_attn.bias"}},
    {R_O_W, WHEN_ALWAYS, {"h.%d.attn.c_proj.weight"}},
    {R_O_B, WHEN_ALWAYS, {"h.%d.attn.c_proj.bias"}},
    {R_MLP_NORM_W, WHEN_ALWAYS, {"h.%d.ln_2.weight"}},
    {R_MLP_NORM_B, WHEN_ALWAYS, {"h.%d.ln_2.bias"}},
    {R_UP_W, WHEN_ALWAYS, {"h.%d.mlp.c_fc.weight"}},
    {R_UP_B, WHEN_ALWAYS, {"h.%d.mlp.c_fc.bias"}},
    {R_DOWN_W, WHEN_ALWAYS, {"h.%d.mlp.c_proj.weight"}},
    {R_DOWN_B, WHEN_ALWAYS, {"h.%d.mlp.c_proj.bias"}},
};
static const family_param last[] = {
    {R_NORM_F_W, WHEN_ALWAYS, {"ln_f.weight"}},
    {R_NORM_F_B, WHEN_ALWAYS, {"ln_f.bias"}},
};

static const char *const ignored[] = {".attn.bias", ".attn.masked_bias", NULL};

static bool read_config(iopo_model_config *c, const cJSON *root, const char *path, char *err, size_t errlen) {
    /* Bounds far above any real GPT-2 and low enough that every size derived from them fits the int and size_t
     * arithmetic of the model code. */
    if (!cfg_int(root, "n_layer", 1, 1024, &c->n_layer, path, err, errlen) ||
        !cfg_int(root, "n_head", 1, 4096, &c->n_head, path, err, errlen) ||
        !cfg_int(root, "n_embd", 1, 65536, &c->n_embd, path, err, errlen) ||
        !cfg_int(root, "n_ctx", 1, 1 << 20, &c->n_ctx, path, err, errlen) ||
        !cfg_int(root, "n_positions", 1, 1 << 20, &c->n_ctx, path, err, errlen))
        return false;
    const char *missing = !c->n_layer ? "n_layer" : !c->n_head ? "n_head" : !c->n_embd ? "n_embd"
                        : !c->n_ctx   ? "n_positions" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: missing \"%s\"", path, missing);
        return false;
    }
    /* n_inner null or absent means 4 * n_embd, the only MLP width GPT-2 has here. */
    c->n_ffn = 4 * c->n_embd;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    int n_inner = c->n_ffn;
    if (inner && !cJSON_IsNull(inner) && !cfg_int(root, "n_inner", 1, 4 * 65536, &n_inner, path, err, errlen))
        return false;
    if (n_inner != c->n_ffn) {
        snprintf(err, errlen, "%s: \"n_inner\" = %d is not supported (only 4 * n_embd = %d)", path, n_inner, c->n_ffn);
        return false;
    }
    c->norm_eps = 1e-5f;
    if (!cfg_float(root, "layer_norm_epsilon", 0, 1, &c->norm_eps, path, err, errlen)) return false;
    static const char *const acts[] = {"gelu_new", "gelu_pytorch_tanh", NULL};
    if (!cfg_string_in(root, "activation_function", acts, path, err, errlen)) return false;
    c->n_kv_head = c->n_head;
    c->head_dim = c->n_embd % c->n_head == 0 ? c->n_embd / c->n_head : 0;
    c->tied = true;
    return true;
}

static void write_config(const iopo_model_config *c, cJSON *root) {
    cJSON_AddStringToObject(root, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(root, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(root, "n_head", c->n_head);
    cJSON_AddNumberToObject(root, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(root, "n_positions", c->n_ctx);
    cJSON_AddNumberToObject(root, "n_ctx", c->n_ctx);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "layer_norm_epsilon", c->norm_eps);
    cJSON_AddNumberToObject(root, "n_inner", c->n_ffn);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", true);
    /* Training runs without dropout; transformers must not add any when it loads the result. */
    cJSON_AddNumberToObject(root, "resid_pdrop", 0);
    cJSON_AddNumberToObject(root, "embd_pdrop", 0);
    cJSON_AddNumberToObject(root, "attn_pdrop", 0);
}

static void defaults(iopo_model_config *c) {
    c->norm_eps = 1e-5f;
    c->n_kv_head = c->n_head;
    c->n_ffn = 4 * c->n_embd;
    c->tied = true;
}

/* GPT-2's init: normal(0, 0.02) for weights and embeddings, the residual projections (attn.c_proj, mlp.c_proj) scaled
 * by 1/sqrt(2L), biases 0, LayerNorm weights 1. */
static init_kind init(const iopo_model_config *c, param_role r, float *std) {
    switch (r) {
    case R_ATTN_NORM_W: case R_MLP_NORM_W: case R_NORM_F_W: return INIT_ONES;
    case R_TOK_EMB: case R_POS_EMB: case R_QKV_W: case R_UP_W: *std = 0.02f; return INIT_NORMAL;
    case R_O_W: case R_DOWN_W: *std = 0.02f / sqrtf(2.0f * (float)c->n_layer); return INIT_NORMAL;
    default: return INIT_ZEROS;
    }
}

const model_family family_gpt2 = {
    .name = "gpt2",
    .module_prefix = "transformer.",
    .architecture = "GPT2LMHeadModel",
    .norm = NORM_LAYER,
    .mlp = MLP_GELU,
    .learned_pos = true,
    .layout = IOPO_W_KN,
    .first = first, .nfirst = sizeof first / sizeof first[0],
    .layer = layer, .nlayer = sizeof layer / sizeof layer[0],
    .last = last, .nlast = sizeof last / sizeof last[0],
    .ignored = ignored,
    .read_config = read_config,
    .write_config = write_config,
    .defaults = defaults,
    .init = init,
};
