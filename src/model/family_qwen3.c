/* Qwen3 dense as transformers' Qwen3ForCausalLM: Llama's block with a per-head RMSNorm on q and k (q_norm, k_norm,
 * [head_dim]) after the projections and before RoPE, no q/k/v bias (unless attention_bias), and a head_dim of its
 * own in config.json that need not be hidden_size / num_attention_heads. */
#include "model/family.h"

static const family_param first[] = {LLAMA_EMBED};
static const family_param layer[] = {
    LLAMA_ATTN_NORM, LLAMA_QKV_W, LLAMA_QKV_B(WHEN_ATTN_BIAS),
    {R_Q_NORM, WHEN_ALWAYS, {"model.layers.%d.self_attn.q_norm.weight"}},
    {R_K_NORM, WHEN_ALWAYS, {"model.layers.%d.self_attn.k_norm.weight"}},
    LLAMA_O_W, LLAMA_O_B, LLAMA_MLP,
};
static const family_param last[] = {LLAMA_LAST};

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
    LLAMA_SHAPED_FAMILY,
    .qk_norm = true,
    .read_config = llama_like_read_config,
    .write_config = write_config,
    .defaults = defaults,
};
