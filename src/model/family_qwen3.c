/* Qwen3 dense as transformers' Qwen3ForCausalLM: Llama's block with a per-head RMSNorm on q and k (q_norm, k_norm,
 * [head_dim]) after the projections and before RoPE, no q/k/v bias (unless attention_bias), and a head_dim of its
 * own in config.json that need not be hidden_size / num_attention_heads. */
#include "model/family.h"

static const char *const ignored[] = {".rotary_emb.inv_freq", NULL};

static const family_param first[] = {
    {R_TOK_EMB, WHEN_ALWAYS, {"model.embed_tokens.weight"}},
};
static const family_param layer[] = {
    {R_ATTN_NORM_W, WHEN_ALWAYS, {"model.layers.%d.input_layernorm.weight"}},
    {R_QKV_W, WHEN_ALWAYS,
     {"model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
      "model.layers.%d.self_attn.v_proj.weight"}},
    {R_QKV_B, WHEN_ATTN_BIAS,
     {"model.layers.%d.self_attn.q_proj.bias", "model.layers.%d.self_attn.k_proj.bias",
      "model.layers.%d.self_attn.v_proj.bias"}},
    {R_Q_NORM, WHEN_ALWAYS, {"model.layers.%d.self_attn.q_norm.weight"}},
    {R_K_NORM, WHEN_ALWAYS, {"model.layers.%d.self_attn.k_norm.weight"}},
    {R_O_W, WHEN_ALWAYS, {"model.layers.%d.self_attn.o_proj.weight"}},
    {R_O_B, WHEN_ATTN_BIAS, {"model.layers.%d.self_attn.o_proj.bias"}},
    {R_MLP_NORM_W, WHEN_ALWAYS, {"model.layers.%d.post_attention_layernorm.weight"}},
    {R_GATE_W, WHEN_ALWAYS, {"model.layers.%d.mlp.gate_proj.weight"}},
    {R_UP_W, WHEN_ALWAYS, {"model.layers.%d.mlp.up_proj.weight"}},
    {R_DOWN_W, WHEN_ALWAYS, {"model.layers.%d.mlp.down_proj.weight"}},
};
static const family_param last[] = {
    {R_NORM_F_W, WHEN_ALWAYS, {"model.norm.weight"}},
    {R_LM_HEAD, WHEN_UNTIED, {"lm_head.weight"}},
};

static void write_config(const iopo_model_config *c, cJSON *root) {
    llama_like_write_config(c, root);
    cJSON_AddBoolToObject(root, "attention_bias", c->attn_bias);
    cJSON_AddBoolToObject(root, "use_sliding_window", false);
}

static void defaults(iopo_model_config *c) {
    c->norm_eps = 1e-6f;
    c->rope.theta = 1000000.0f;
}

const model_family family_qwen3 = {
    .name = "qwen3",
    .architecture = "Qwen3ForCausalLM",
    .norm = NORM_RMS,
    .mlp = MLP_SWIGLU,
    .qk_norm = true,
    .layout = IOPO_W_NK,
    .first = first, .nfirst = sizeof first / sizeof first[0],
    .layer = layer, .nlayer = sizeof layer / sizeof layer[0],
    .last = last, .nlast = sizeof last / sizeof last[0],
    .ignored = ignored,
    .read_config = llama_like_read_config,
    .write_config = write_config,
    .defaults = defaults,
    .init = llama_like_init,
};
