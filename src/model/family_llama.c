/* Llama 2 / 3 / 3.1 / 3.2 as transformers' LlamaForCausalLM: RMSNorm, RoPE (llama3 scaling for 3.1 / 3.2), SwiGLU,
 * grouped-query attention, torch Linear weights [out, in], no biases unless attention_bias (then q, k, v and o),
 * LM head tied or not (tie_word_embeddings). */
#include "model/family.h"

static const family_param first[] = {LLAMA_EMBED};
static const family_param layer[] = {
    LLAMA_ATTN_NORM, LLAMA_QKV_W, LLAMA_QKV_B(WHEN_ATTN_BIAS), LLAMA_O_W, LLAMA_O_B, LLAMA_MLP,
};
static const family_param last[] = {LLAMA_LAST};

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
    LLAMA_SHAPED_FAMILY,
    .read_config = llama_like_read_config,
    .write_config = write_config,
    .defaults = defaults,
};
