/* Qwen2 and Qwen2.5 as transformers' Qwen2ForCausalLM: Llama's block with biases on the q, k and v projections
 * (always; o_proj has none), rope_theta 1e6 for the released models, the head tied for the small sizes. */
#include "model/family.h"

static const family_param first[] = {LLAMA_EMBED};
static const family_param layer[] = {
    LLAMA_ATTN_NORM, LLAMA_QKV_W, LLAMA_QKV_B(WHEN_ALWAYS), LLAMA_O_W, LLAMA_MLP,
};
static const family_param last[] = {LLAMA_LAST};

static bool read_config(iopo_model_config *c, const cJSON *root, const char *path, char *err, size_t errlen) {
    if (!llama_like_read_config(c, root, path, err, errlen)) return false;
    /* Qwen2's o_proj has no bias whatever the config says; its q/k/v biases are in the parameter list above. */
    c->attn_bias = false;
    return true;
}

static void write_config(const iopo_model_config *c, cJSON *root) {
    llama_like_write_config(c, root);
    cJSON_AddBoolToObject(root, "use_sliding_window", false);
}

static void defaults(iopo_model_config *c) {
    c->norm_eps = 1e-6f;
    c->rope.theta = 1000000.0f;
}

const model_family family_qwen2 = {
    .name = "qwen2",
    .architecture = "Qwen2ForCausalLM",
    LLAMA_SHAPED_FAMILY,
    .read_config = read_config,
    .write_config = write_config,
    .defaults = defaults,
};
