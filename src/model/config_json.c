/* config.json values: typed readers shared by every family, and the keys the Llama-shaped families (llama, qwen2,
 * qwen3) have in common. Every failure names the file and the key. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iopo/jsonutil.h"
#include "model/family.h"

bool cfg_int(const cJSON *root, const char *key, long lo, long hi, int *out, const char *path, char *err,
             size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a number", path, key);
        return false;
    }
    long x;
    iopo_num_status st = iopo_num_to_long(v->valuedouble, lo, hi, &x);
    if (st != IOPO_NUM_OK) {
        char what[128];
        iopo_num_describe(what, sizeof what, v->valuedouble, lo, hi, st);
        snprintf(err, errlen, "%s: \"%s\" = %s", path, key, what);
        return false;
    }
    *out = (int)x;
    return true;
}

/* Range (lo, hi]: every float key here is a positive quantity. */
bool cfg_float(const cJSON *root, const char *key, double lo, double hi, float *out, const char *path, char *err,
               size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    /* Checked before the float conversion: a double beyond float's range does not convert. */
    if (!cJSON_IsNumber(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a number", path, key);
        return false;
    }
    if (!(v->valuedouble > lo && v->valuedouble <= hi)) {
        snprintf(err, errlen, "%s: \"%s\" = %g is out of range (%g, %g]", path, key, v->valuedouble, lo, hi);
        return false;
    }
    *out = (float)v->valuedouble;
    return true;
}

bool cfg_bool(const cJSON *root, const char *key, bool *out, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be true or false", path, key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

bool cfg_string_in(const cJSON *root, const char *key, const char *const *allowed, const char *path, char *err,
                   size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (cJSON_IsString(v))
        for (int i = 0; allowed[i]; i++)
            if (strcmp(v->valuestring, allowed[i]) == 0) return true;
    char list[256] = "";
    for (int i = 0; allowed[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", allowed[i]);
    snprintf(err, errlen, "%s: \"%s\" %s%s%s is not supported (supported: %s)", path, key,
             cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "(not a string)",
             cJSON_IsString(v) ? "\"" : "", list);
    return false;
}

/* RoPE from transformers 4's rope_theta + rope_scaling or transformers 5's rope_parameters (which holds the theta
 * too). Types other than default and llama3 (linear, dynamic, yarn, longrope) change the positions' meaning: refused. */
static bool read_rope(iopo_model_config *c, const cJSON *root, const char *path, char *err, size_t errlen) {
    iopo_rope_config *r = &c->rope;
    r->scaling = IOPO_ROPE_DEFAULT;
    if (!cfg_float(root, "rope_theta", 0, 1e12, &r->theta, path, err, errlen)) return false;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    const char *key = "rope_parameters";
    if (!sc || cJSON_IsNull(sc)) {
        sc = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        key = "rope_scaling";
    }
    if (!sc || cJSON_IsNull(sc)) return true;
    if (!cJSON_IsObject(sc)) {
        snprintf(err, errlen, "%s: \"%s\" must be an object or null", path, key);
        return false;
    }
    char sub[4200];
    snprintf(sub, sizeof sub, "%s: %s", path, key);
    if (!cfg_float(sc, "rope_theta", 0, 1e12, &r->theta, sub, err, errlen)) return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sc, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(sc, "type");
    if (!type || (cJSON_IsString(type) && strcmp(type->valuestring, "default") == 0)) return true;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "llama3") != 0) {
        snprintf(err, errlen, "%s: RoPE type %s%s%s is not supported (supported: \"default\", \"llama3\")", sub,
                 cJSON_IsString(type) ? "\"" : "", cJSON_IsString(type) ? type->valuestring : "(not a string)",
                 cJSON_IsString(type) ? "\"" : "");
        return false;
    }
    r->scaling = IOPO_ROPE_LLAMA3;
    r->factor = r->low_freq_factor = r->high_freq_factor = 0;
    r->original_max_position_embeddings = 0;
    if (!cfg_float(sc, "factor", 0, 1e6, &r->factor, sub, err, errlen) ||
        !cfg_float(sc, "low_freq_factor", 0, 1e6, &r->low_freq_factor, sub, err, errlen) ||
        !cfg_float(sc, "high_freq_factor", 0, 1e6, &r->high_freq_factor, sub, err, errlen) ||
        !cfg_int(sc, "original_max_position_embeddings", 1, 1 << 24, &r->original_max_position_embeddings, sub, err,
                 errlen))
        return false;
    const char *missing = !r->factor ? "factor" : !r->low_freq_factor ? "low_freq_factor"
                        : !r->high_freq_factor ? "high_freq_factor"
                        : !r->original_max_position_embeddings ? "original_max_position_embeddings" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: llama3 RoPE scaling without \"%s\"", sub, missing);
        return false;
    }
    if (!(r->high_freq_factor > r->low_freq_factor)) {
        snprintf(err, errlen, "%s: high_freq_factor %g must exceed low_freq_factor %g", sub, r->high_freq_factor,
                 r->low_freq_factor);
        return false;
    }
    return true;
}

const char *const llama_like_ignored[] = {".rotary_emb.inv_freq", NULL};

bool llama_like_read_config(iopo_model_config *c, const cJSON *root, const char *path, char *err, size_t errlen) {
    if (!cfg_int(root, "num_hidden_layers", 1, 1024, &c->n_layer, path, err, errlen) ||
        !cfg_int(root, "num_attention_heads", 1, 4096, &c->n_head, path, err, errlen) ||
        !cfg_int(root, "hidden_size", 1, 65536, &c->n_embd, path, err, errlen) ||
        !cfg_int(root, "intermediate_size", 1, 1 << 20, &c->n_ffn, path, err, errlen) ||
        !cfg_int(root, "max_position_embeddings", 1, 1 << 24, &c->n_ctx, path, err, errlen))
        return false;
    const char *missing = !c->n_layer ? "num_hidden_layers" : !c->n_head ? "num_attention_heads"
                        : !c->n_embd  ? "hidden_size" : !c->n_ffn ? "intermediate_size"
                        : !c->n_ctx   ? "max_position_embeddings" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: missing \"%s\"", path, missing);
        return false;
    }
    c->n_kv_head = c->n_head;
    c->head_dim = c->n_embd % c->n_head == 0 ? c->n_embd / c->n_head : 0;
    c->norm_eps = 1e-6f;
    c->rope.theta = 10000.0f;
    c->tied = false;
    c->attn_bias = false;
    bool mlp_bias = false, sliding = false;
    if (!cfg_int(root, "num_key_value_heads", 1, 4096, &c->n_kv_head, path, err, errlen) ||
        !cfg_int(root, "head_dim", 1, 4096, &c->head_dim, path, err, errlen) ||
        !cfg_float(root, "rms_norm_eps", 0, 1, &c->norm_eps, path, err, errlen) ||
        !cfg_bool(root, "tie_word_embeddings", &c->tied, path, err, errlen) ||
        !cfg_bool(root, "attention_bias", &c->attn_bias, path, err, errlen) ||
        !cfg_bool(root, "mlp_bias", &mlp_bias, path, err, errlen) ||
        !cfg_bool(root, "use_sliding_window", &sliding, path, err, errlen) || !read_rope(c, root, path, err, errlen))
        return false;
    static const char *const acts[] = {"silu", NULL};
    if (!cfg_string_in(root, "hidden_act", acts, path, err, errlen)) return false;
    if (mlp_bias) {
        snprintf(err, errlen, "%s: \"mlp_bias\": true is not supported (no released Llama has MLP biases)", path);
        return false;
    }
    if (sliding) {
        snprintf(err, errlen, "%s: \"use_sliding_window\": true is not supported (full causal attention only)", path);
        return false;
    }
    if (!c->head_dim) {
        snprintf(err, errlen, "%s: hidden_size %d is not a multiple of num_attention_heads %d and \"head_dim\" is absent",
                 path, c->n_embd, c->n_head);
        return false;
    }
    return true;
}

void llama_like_write_config(const iopo_model_config *c, cJSON *root) {
    cJSON_AddNumberToObject(root, "hidden_size", c->n_embd);
    cJSON_AddNumberToObject(root, "intermediate_size", c->n_ffn);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(root, "num_key_value_heads", c->n_kv_head);
    cJSON_AddNumberToObject(root, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->n_ctx);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "rms_norm_eps", c->norm_eps);
    cJSON_AddNumberToObject(root, "rope_theta", c->rope.theta);
    if (c->rope.scaling == IOPO_ROPE_LLAMA3) {
        cJSON *s = cJSON_AddObjectToObject(root, "rope_scaling");
        cJSON_AddStringToObject(s, "rope_type", "llama3");
        cJSON_AddNumberToObject(s, "factor", c->rope.factor);
        cJSON_AddNumberToObject(s, "low_freq_factor", c->rope.low_freq_factor);
        cJSON_AddNumberToObject(s, "high_freq_factor", c->rope.high_freq_factor);
        cJSON_AddNumberToObject(s, "original_max_position_embeddings", c->rope.original_max_position_embeddings);
    } else {
        cJSON_AddNullToObject(root, "rope_scaling");
    }
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tied);
    cJSON_AddStringToObject(root, "hidden_act", "silu");
    cJSON_AddNumberToObject(root, "initializer_range", 0.02);
    /* Training runs without dropout; transformers must not add any when it loads the result. */
    cJSON_AddNumberToObject(root, "attention_dropout", 0);
}

init_kind llama_like_init(const iopo_model_config *c, param_role r, float *std) {
    (void)c;
    switch (r) {
    case R_ATTN_NORM_W: case R_MLP_NORM_W: case R_NORM_F_W: case R_Q_NORM: case R_K_NORM: return INIT_ONES;
    case R_TOK_EMB: case R_LM_HEAD: case R_QKV_W: case R_O_W: case R_UP_W: case R_GATE_W: case R_DOWN_W:
        *std = 0.02f;
        return INIT_NORMAL;
    default: return INIT_ZEROS;
    }
}
