/* Llama 2 / 3 / 3.1 / 3.2 as transformers' LlamaForCausalLM: RMSNorm, RoPE (llama3 scaling for 3.1 / 3.2), SwiGLU,
 * grouped-query attention, torch Linear weights [out, in], no biases unless attention_bias (then q, k, v and o),
 * LM head tied or not (tie_word_embeddings). */
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
    cJSON_AddBoolToObject(root, "mlp_bias", false);
}

static void defaults(iopo_model_config *c) {
    c->norm_eps = 1e-5f;
    c->rope.theta = 500000.0f;   /* Llama 3 */
}

const model_family family_llama = {
    .name = "llama",
    .architecture = "LlamaForCausalLM",
    .norm = NORM_RMS,
    .mlp = MLP_SWIGLU,
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
