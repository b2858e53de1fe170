/* GPT-2 exactly as Hugging Face's GPT2LMHeadModel: token + learned position embeddings, pre-LayerNorm blocks
 * (x += attn(ln_1(x)); x += mlp(ln_2(x))), Conv1D weights stored [in, out], q|k|v from c_attn, gelu_new, final ln_f and
 * an LM head tied to wte. Every computation is an op from include/iopo/ops.h, so the same code runs on both backends. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/model.h"
#include "iopo/ops.h"
#include "iopo/rng.h"
#include "iopo/safetensors.h"

/* Parameter slots of one block, in Hugging Face order. */
enum {
    P_LN1_W, P_LN1_B, P_QKV_W, P_QKV_B, P_ATTPROJ_W, P_ATTPROJ_B, P_LN2_W, P_LN2_B, P_FC_W, P_FC_B, P_FCPROJ_W,
    P_FCPROJ_B, P_PER_LAYER
};

typedef struct layer_acts {
    iopo_tensor *ln1, *ln1_mean, *ln1_rstd;   /* (BT,C), (BT), (BT) */
    iopo_tensor *qkv;                         /* (BT,3C) */
    iopo_tensor *att;                         /* (B,NH,T,T) */
    iopo_tensor *atty;                        /* (BT,C) attention output before c_proj */
    iopo_tensor *x_mid;                       /* (BT,C) residual after the attention branch */
    iopo_tensor *ln2, *ln2_mean, *ln2_rstd;   /* (BT,C), (BT), (BT) */
    iopo_tensor *fch, *fch_gelu;              /* (BT,4C) */
} layer_acts;

struct iopo_model {
    iopo_ctx *ctx;
    iopo_model_config cfg;
    iopo_param *params;
    int nparams;
    /* activations for the current (B, T) */
    int B, T;
    iopo_tensor **residual;                   /* L+1 of (BT,C): the input of each block, then the final stream */
    layer_acts *layers;
    iopo_tensor *lnf, *lnf_mean, *lnf_rstd;   /* (BT,C), (BT), (BT) */
    iopo_tensor *logits;                      /* (BT,V) */
    iopo_tensor *loss, *lse;                  /* (BT) */
    iopo_tensor *seq_logp, *seq_count;        /* (B) */
    iopo_tensor *tmp;                         /* (BT,C) projection output of a branch */
    /* backward scratch */
    iopo_tensor *dres, *dln, *datty;          /* (BT,C) */
    iopo_tensor *dqkv;                        /* (BT,3C) */
    iopo_tensor *dfch, *dfch_gelu;            /* (BT,4C) */
    iopo_tensor *datt;                        /* (B,NH,T,T) */
};

static iopo_param *P(iopo_model *m, int layer, int slot) { return &m->params[2 + layer * P_PER_LAYER + slot]; }
static iopo_param *P_WTE(iopo_model *m) { return &m->params[0]; }
static iopo_param *P_WPE(iopo_model *m) { return &m->params[1]; }
static iopo_param *P_LNF_W(iopo_model *m) { return &m->params[m->nparams - 2]; }
static iopo_param *P_LNF_B(iopo_model *m) { return &m->params[m->nparams - 1]; }

static void add_param(iopo_model *m, const char *name, int ndim, int64_t d0, int64_t d1, bool decay) {
    iopo_param *p = &m->params[m->nparams++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->decay = decay;
    p->value = iopo_tensor_new(m->ctx, IOPO_F32, ndim, p->shape);
    p->grad = iopo_tensor_new(m->ctx, IOPO_F32, ndim, p->shape);
}

static bool config_valid(const iopo_model_config *c, char *err, size_t errlen) {
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->n_ctx < 1 || c->vocab_size < 1) {
        snprintf(err, errlen, "model config: n_layer, n_head, n_embd, n_positions and vocab_size must be positive");
        return false;
    }
    if (c->n_embd % c->n_head != 0) {
        snprintf(err, errlen, "model config: n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
        return false;
    }
    if (!(c->ln_eps > 0)) {
        snprintf(err, errlen, "model config: layer_norm_epsilon must be positive");
        return false;
    }
    return true;
}

static iopo_model *model_alloc(iopo_ctx *ctx, const iopo_model_config *cfg) {
    iopo_model *m = calloc(1, sizeof *m);
    m->ctx = ctx;
    m->cfg = *cfg;
    int L = cfg->n_layer, C = cfg->n_embd;
    m->params = calloc((size_t)(2 + L * P_PER_LAYER + 2), sizeof *m->params);
    add_param(m, "wte.weight", 2, cfg->vocab_size, C, true);
    add_param(m, "wpe.weight", 2, cfg->n_ctx, C, true);
    for (int l = 0; l < L; l++) {
        char n[96];
#define LAYER_PARAM(suffix, ndim, d0, d1, decay)                                                                      \
    snprintf(n, sizeof n, "h.%d.%s", l, suffix);                                                                      \
    add_param(m, n, ndim, d0, d1, decay)
        LAYER_PARAM("ln_1.weight", 1, C, 0, false);
        LAYER_PARAM("ln_1.bias", 1, C, 0, false);
        LAYER_PARAM("attn.c_attn.weight", 2, C, 3 * C, true);
        LAYER_PARAM("attn.c_attn.bias", 1, 3 * C, 0, false);
        LAYER_PARAM("attn.c_proj.weight", 2, C, C, true);
        LAYER_PARAM("attn.c_proj.bias", 1, C, 0, false);
        LAYER_PARAM("ln_2.weight", 1, C, 0, false);
        LAYER_PARAM("ln_2.bias", 1, C, 0, false);
        LAYER_PARAM("mlp.c_fc.weight", 2, C, 4 * C, true);
        LAYER_PARAM("mlp.c_fc.bias", 1, 4 * C, 0, false);
        LAYER_PARAM("mlp.c_proj.weight", 2, 4 * C, C, true);
        LAYER_PARAM("mlp.c_proj.bias", 1, C, 0, false);
#undef LAYER_PARAM
    }
    add_param(m, "ln_f.weight", 1, C, 0, false);
    add_param(m, "ln_f.bias", 1, C, 0, false);
    return m;
}

/* An integer of config.json in [lo, hi]; a missing key gives fallback. false + "PATH: \"key\" = ..." otherwise. */
static bool json_int(const cJSON *root, const char *key, int fallback, long lo, long hi, int *out, const char *path,
                     char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = fallback;
    if (!v) return true;
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

bool iopo_model_config_load(iopo_model_config *cfg, const char *dir, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char ferr[512];
    char *text = iopo_read_file(path, &len, ferr, sizeof ferr);
    if (!text) {
        snprintf(err, errlen, "%s", ferr);
        return false;
    }
    cJSON *root = iopo_json_parse(path, text, len, err, errlen);
    free(text);
    if (!root) return false;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(root);
        return false;
    }
    memset(cfg, 0, sizeof *cfg);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "gpt2") != 0) {
        snprintf(err, errlen, "%s: model_type %s%s%s is not supported (supported: \"gpt2\")", path,
                 cJSON_IsString(type) ? "\"" : "", cJSON_IsString(type) ? type->valuestring : "(missing)",
                 cJSON_IsString(type) ? "\"" : "");
        cJSON_Delete(root);
        return false;
    }
    snprintf(cfg->arch, sizeof cfg->arch, "gpt2");
    /* Bounds far above any real GPT-2 and low enough that every size derived from them fits the int and size_t
     * arithmetic of the model code. */
    bool ok = json_int(root, "n_layer", 0, 1, 1024, &cfg->n_layer, path, err, errlen) &&
              json_int(root, "n_head", 0, 1, 4096, &cfg->n_head, path, err, errlen) &&
              json_int(root, "n_embd", 0, 1, 65536, &cfg->n_embd, path, err, errlen) &&
              json_int(root, "n_ctx", 0, 1, 1 << 20, &cfg->n_ctx, path, err, errlen) &&
              json_int(root, "n_positions", cfg->n_ctx, 1, 1 << 20, &cfg->n_ctx, path, err, errlen) &&
              json_int(root, "vocab_size", 0, 1, 1 << 24, &cfg->vocab_size, path, err, errlen);
    if (!ok) {
        cJSON_Delete(root);
        return false;
    }
    const char *missing = !cfg->n_layer ? "n_layer" : !cfg->n_head ? "n_head" : !cfg->n_embd ? "n_embd"
                        : !cfg->n_ctx   ? "n_positions" : !cfg->vocab_size ? "vocab_size" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: missing \"%s\"", path, missing);
        cJSON_Delete(root);
        return false;
    }
    /* n_inner null or absent means 4 * n_embd, the only MLP width this model code has. */
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    int n_inner = 4 * cfg->n_embd;
    if (inner && !cJSON_IsNull(inner) &&
        !json_int(root, "n_inner", 0, 1, 4 * 65536, &n_inner, path, err, errlen)) {
        cJSON_Delete(root);
        return false;
    }
    if (n_inner != 4 * cfg->n_embd) {
        snprintf(err, errlen, "%s: \"n_inner\" = %d is not supported (only 4 * n_embd = %d)", path, n_inner,
                 4 * cfg->n_embd);
        cJSON_Delete(root);
        return false;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    cfg->ln_eps = 1e-5f;
    if (cJSON_IsNull(eps)) eps = NULL;   /* null: the default, as for a missing key */
    if (eps) {
        /* Checked before the float conversion: a double beyond float's range does not convert. */
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble <= 1)) {
            if (cJSON_IsNumber(eps))
                snprintf(err, errlen, "%s: \"layer_norm_epsilon\" = %g is out of range (0, 1]", path, eps->valuedouble);
            else
                snprintf(err, errlen, "%s: \"layer_norm_epsilon\" must be a number", path);
            cJSON_Delete(root);
            return false;
        }
        cfg->ln_eps = (float)eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") != 0 &&
                                         strcmp(act->valuestring, "gelu_pytorch_tanh") != 0))) {
        snprintf(err, errlen, "%s: activation_function must be \"gelu_new\" (the tanh GELU)", path);
        cJSON_Delete(root);
        return false;
    }
    cJSON_Delete(root);
    char cerr[256];
    if (!config_valid(cfg, cerr, sizeof cerr)) {
        snprintf(err, errlen, "%s: %s", path, cerr);
        return false;
    }
    return true;
}

iopo_model *iopo_model_create(iopo_ctx *ctx, const iopo_model_config *cfg, uint64_t seed, char *err, size_t errlen) {
    if (!config_valid(cfg, err, errlen)) return NULL;
    iopo_model *m = model_alloc(ctx, cfg);
    iopo_rng rng;
    iopo_rng_seed(&rng, seed);
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    for (int i = 0; i < m->nparams; i++) {
        iopo_param *p = &m->params[i];
        size_t n = p->value->numel;
        float *h = calloc(n, sizeof *h);
        const char *name = p->name;
        size_t nl = strlen(name);
        bool is_weight = nl > 7 && strcmp(name + nl - 7, ".weight") == 0;
        bool is_norm = strstr(name, "ln_") != NULL;
        if (is_norm && is_weight) {
            for (size_t k = 0; k < n; k++) h[k] = 1.0f;
        } else if (is_weight) {
            bool residual_proj = strstr(name, "c_proj.weight") != NULL;
            iopo_rng_fill_normal(&rng, h, n, 0.0f, residual_proj ? resid_std : 0.02f);
        }
        iopo_tensor_upload(p->value, h);
        free(h);
    }
    return m;
}

iopo_model *iopo_model_load(iopo_ctx *ctx, const char *dir, char *err, size_t errlen) {
    iopo_model_config cfg;
    if (!iopo_model_config_load(&cfg, dir, err, errlen)) return NULL;
    iopo_safetensors *st = iopo_st_open(dir, err, errlen);
    if (!st) return NULL;
    iopo_model *m = model_alloc(ctx, &cfg);
    bool ok = true;
    for (int i = 0; i < m->nparams && ok; i++) {
        iopo_param *p = &m->params[i];
        float *h = malloc(p->value->numel * sizeof *h + 4);
        ok = iopo_st_load_f32(st, p->name, p->ndim, p->shape, h, err, errlen);
        if (ok) iopo_tensor_upload(p->value, h);
        free(h);
    }
    iopo_st_close(st);
    if (!ok) {
        iopo_model_free(m);
        return NULL;
    }
    return m;
}

bool iopo_model_save(iopo_model *m, const char *dir, char *err, size_t errlen) {
    if (!iopo_mkdirs(dir, err, errlen)) return false;
    const iopo_model_config *c = &m->cfg;
    cJSON *root = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(root, "model_type", "gpt2");
    cJSON_AddStringToObject(root, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(root, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(root, "n_head", c->n_head);
    cJSON_AddNumberToObject(root, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(root, "n_positions", c->n_ctx);
    cJSON_AddNumberToObject(root, "n_ctx", c->n_ctx);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "layer_norm_epsilon", c->ln_eps);
    cJSON_AddNumberToObject(root, "n_inner", 4 * c->n_embd);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", true);
    /* Training runs without dropout; transformers must not add any when it loads the result. */
    cJSON_AddNumberToObject(root, "resid_pdrop", 0);
    cJSON_AddNumberToObject(root, "embd_pdrop", 0);
    cJSON_AddNumberToObject(root, "attn_pdrop", 0);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t jl = strlen(json);
    json = realloc(json, jl + 2);
    json[jl] = '\n';
    json[jl + 1] = 0;
    bool ok = iopo_write_file_atomic(path, json, jl + 1, err, errlen);
    free(json);
    if (!ok) return false;

    iopo_st_entry *entries = calloc((size_t)m->nparams, sizeof *entries);
    for (int i = 0; i < m->nparams; i++) {
        iopo_param *p = &m->params[i];
        float *h = malloc(p->value->numel * sizeof *h + 4);
        iopo_tensor_download(p->value, h);
        entries[i].name = p->name;
        entries[i].data = h;
        entries[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) entries[i].shape[d] = p->shape[d];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "pt", NULL};
    ok = iopo_st_write(path, entries, m->nparams, meta, err, errlen);
    for (int i = 0; i < m->nparams; i++) free((void *)entries[i].data);
    free(entries);
    return ok;
}

static void free_acts(iopo_model *m) {
    if (!m->layers) return;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_acts *a = &m->layers[l];
        iopo_tensor *ts[] = {a->ln1, a->ln1_mean, a->ln1_rstd, a->qkv, a->att, a->atty, a->x_mid,
                             a->ln2, a->ln2_mean, a->ln2_rstd, a->fch, a->fch_gelu};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) iopo_tensor_free(ts[i]);
    }
    for (int l = 0; l <= m->cfg.n_layer; l++) iopo_tensor_free(m->residual[l]);
    free(m->layers);
    free(m->residual);
    iopo_tensor *ts[] = {m->lnf, m->lnf_mean, m->lnf_rstd, m->logits, m->loss, m->lse, m->seq_logp, m->seq_count,
                         m->tmp, m->dres, m->dln, m->datty, m->dqkv, m->dfch, m->dfch_gelu, m->datt};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) iopo_tensor_free(ts[i]);
    m->layers = NULL;
    m->residual = NULL;
    m->B = m->T = 0;
}

size_t iopo_model_activation_bytes(const iopo_model_config *c, int B, int T) {
    size_t BT = (size_t)B * T, C = (size_t)c->n_embd, NH = (size_t)c->n_head, V = (size_t)c->vocab_size;
    size_t per_layer = BT * C * 5 + BT * 4 + BT * 3 * C + (size_t)B * NH * T * T + BT * 8 * C;
    size_t total = per_layer * (size_t)c->n_layer + BT * C * (size_t)(c->n_layer + 1) /* residual */
                   + BT * C + BT * 2 + BT * V + BT * 2 + (size_t)B * 2 + BT * C          /* head */
                   + BT * C * 3 + BT * 3 * C + BT * 8 * C + (size_t)B * NH * T * T;     /* backward scratch */
    return total * 4;
}

static void ensure_acts(iopo_model *m, int B, int T) {
    if (m->layers && m->B == B && m->T == T) return;
    free_acts(m);
    iopo_ctx *x = m->ctx;
    int64_t BT = (int64_t)B * T, C = m->cfg.n_embd, NH = m->cfg.n_head, V = m->cfg.vocab_size;
    m->B = B;
    m->T = T;
    m->layers = calloc((size_t)m->cfg.n_layer, sizeof *m->layers);
    m->residual = calloc((size_t)m->cfg.n_layer + 1, sizeof *m->residual);
    for (int l = 0; l <= m->cfg.n_layer; l++) m->residual[l] = iopo_tensor_new2(x, IOPO_F32, BT, C);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_acts *a = &m->layers[l];
        a->ln1 = iopo_tensor_new2(x, IOPO_F32, BT, C);
        a->ln1_mean = iopo_tensor_new1(x, IOPO_F32, BT);
        a->ln1_rstd = iopo_tensor_new1(x, IOPO_F32, BT);
        a->qkv = iopo_tensor_new2(x, IOPO_F32, BT, 3 * C);
        a->att = iopo_tensor_new(x, IOPO_F32, 4, (int64_t[]){B, NH, T, T});
        a->atty = iopo_tensor_new2(x, IOPO_F32, BT, C);
        a->x_mid = iopo_tensor_new2(x, IOPO_F32, BT, C);
        a->ln2 = iopo_tensor_new2(x, IOPO_F32, BT, C);
        a->ln2_mean = iopo_tensor_new1(x, IOPO_F32, BT);
        a->ln2_rstd = iopo_tensor_new1(x, IOPO_F32, BT);
        a->fch = iopo_tensor_new2(x, IOPO_F32, BT, 4 * C);
        a->fch_gelu = iopo_tensor_new2(x, IOPO_F32, BT, 4 * C);
    }
    m->lnf = iopo_tensor_new2(x, IOPO_F32, BT, C);
    m->lnf_mean = iopo_tensor_new1(x, IOPO_F32, BT);
    m->lnf_rstd = iopo_tensor_new1(x, IOPO_F32, BT);
    m->logits = iopo_tensor_new2(x, IOPO_F32, BT, V);
    m->loss = iopo_tensor_new2(x, IOPO_F32, B, T);
    m->lse = iopo_tensor_new2(x, IOPO_F32, B, T);
    m->seq_logp = iopo_tensor_new1(x, IOPO_F32, B);
    m->seq_count = iopo_tensor_new1(x, IOPO_F32, B);
    m->tmp = iopo_tensor_new2(x, IOPO_F32, BT, C);
    m->dres = iopo_tensor_new2(x, IOPO_F32, BT, C);
    m->dln = iopo_tensor_new2(x, IOPO_F32, BT, C);
    m->datty = iopo_tensor_new2(x, IOPO_F32, BT, C);
    m->dqkv = iopo_tensor_new2(x, IOPO_F32, BT, 3 * C);
    m->dfch = iopo_tensor_new2(x, IOPO_F32, BT, 4 * C);
    m->dfch_gelu = iopo_tensor_new2(x, IOPO_F32, BT, 4 * C);
    m->datt = iopo_tensor_new(x, IOPO_F32, 4, (int64_t[]){B, NH, T, T});
}

void iopo_model_free(iopo_model *m) {
    if (!m) return;
    free_acts(m);
    for (int i = 0; i < m->nparams; i++) {
        iopo_tensor_free(m->params[i].value);
        iopo_tensor_free(m->params[i].grad);
    }
    free(m->params);
    free(m);
}

const iopo_model_config *iopo_model_get_config(const iopo_model *m) { return &m->cfg; }
iopo_ctx *iopo_model_ctx(const iopo_model *m) { return m->ctx; }
int iopo_model_param_count(const iopo_model *m) { return m->nparams; }
iopo_param *iopo_model_param(iopo_model *m, int i) { return &m->params[i]; }
size_t iopo_model_numel(const iopo_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++) n += m->params[i].value->numel;
    return n;
}
iopo_tensor *iopo_model_token_loss(iopo_model *m) { return m->loss; }
iopo_tensor *iopo_model_seq_logp(iopo_model *m) { return m->seq_logp; }
iopo_tensor *iopo_model_seq_count(iopo_model *m) { return m->seq_count; }
iopo_tensor *iopo_model_logits(iopo_model *m) { return m->logits; }

void iopo_batch_init(iopo_batch *b, iopo_ctx *ctx, int B, int T) {
    b->B = B;
    b->T = T;
    b->tokens = iopo_tensor_new2(ctx, IOPO_I32, B, T);
    b->targets = iopo_tensor_new2(ctx, IOPO_I32, B, T);
    b->mask = iopo_tensor_new2(ctx, IOPO_F32, B, T);
    b->lengths = iopo_tensor_new1(ctx, IOPO_I32, B);
}

void iopo_batch_free(iopo_batch *b) {
    iopo_tensor_free(b->tokens);
    iopo_tensor_free(b->targets);
    iopo_tensor_free(b->mask);
    iopo_tensor_free(b->lengths);
    memset(b, 0, sizeof *b);
}

void iopo_model_forward(iopo_model *m, const iopo_batch *b) {
    int B = b->B, T = b->T, C = m->cfg.n_embd, NH = m->cfg.n_head, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    int BT = B * T;
    float eps = m->cfg.ln_eps;
    if (T > m->cfg.n_ctx) {
        fprintf(stderr, "iopo: internal error: sequence length %d exceeds the model's n_positions %d\n", T, m->cfg.n_ctx);
        abort();
    }
    ensure_acts(m, B, T);
    iopo_ctx *x = m->ctx;
    iopo_embedding_forward(x, m->residual[0], b->tokens, P_WTE(m)->value, P_WPE(m)->value, B, T, C, V);
    for (int l = 0; l < L; l++) {
        layer_acts *a = &m->layers[l];
        iopo_layernorm_forward(x, a->ln1, a->ln1_mean, a->ln1_rstd, m->residual[l], P(m, l, P_LN1_W)->value,
                               P(m, l, P_LN1_B)->value, BT, C, eps);
        iopo_matmul_forward(x, a->qkv, a->ln1, P(m, l, P_QKV_W)->value, P(m, l, P_QKV_B)->value, BT, C, 3 * C,
                            IOPO_W_KN);
        iopo_attention_forward(x, a->atty, a->att, a->qkv, b->lengths, B, T, NH, NH, C / NH);
        iopo_matmul_forward(x, m->tmp, a->atty, P(m, l, P_ATTPROJ_W)->value, P(m, l, P_ATTPROJ_B)->value, BT, C, C,
                            IOPO_W_KN);
        iopo_add(x, a->x_mid, m->residual[l], m->tmp, (size_t)BT * C);
        iopo_layernorm_forward(x, a->ln2, a->ln2_mean, a->ln2_rstd, a->x_mid, P(m, l, P_LN2_W)->value,
                               P(m, l, P_LN2_B)->value, BT, C, eps);
        iopo_matmul_forward(x, a->fch, a->ln2, P(m, l, P_FC_W)->value, P(m, l, P_FC_B)->value, BT, C, 4 * C,
                            IOPO_W_KN);
        iopo_gelu_forward(x, a->fch_gelu, a->fch, (size_t)BT * 4 * C);
        iopo_matmul_forward(x, m->tmp, a->fch_gelu, P(m, l, P_FCPROJ_W)->value, P(m, l, P_FCPROJ_B)->value, BT,
                            4 * C, C, IOPO_W_KN);
        iopo_add(x, m->residual[l + 1], a->x_mid, m->tmp, (size_t)BT * C);
    }
    iopo_layernorm_forward(x, m->lnf, m->lnf_mean, m->lnf_rstd, m->residual[L], P_LNF_W(m)->value, P_LNF_B(m)->value,
                           BT, C, eps);
    /* Tied LM head: logits = lnf @ wte^T, wte being (V, C) = torch Linear's [out, in]. */
    iopo_matmul_forward(x, m->logits, m->lnf, P_WTE(m)->value, NULL, BT, C, V, IOPO_W_NK);
    iopo_softmax_ce_forward(x, m->loss, m->lse, m->seq_logp, m->seq_count, m->logits, b->targets, b->mask, B, T, V);
}

void iopo_model_zero_grad(iopo_model *m) {
    for (int i = 0; i < m->nparams; i++) iopo_tensor_zero(m->params[i].grad);
}

void iopo_model_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss, const iopo_tensor *dseq_logp) {
    int B = b->B, T = b->T, C = m->cfg.n_embd, NH = m->cfg.n_head, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    int BT = B * T;
    iopo_ctx *x = m->ctx;
    /* In place: the logits buffer becomes dlogits (no second (BT, V) buffer). */
    iopo_softmax_ce_backward(x, m->logits, m->logits, m->lse, b->targets, b->mask, dloss, dseq_logp, B, T, V);
    iopo_tensor_zero(m->dln);
    iopo_matmul_backward(x, m->dln, P_WTE(m)->grad, NULL, m->logits, m->lnf, P_WTE(m)->value, BT, C, V, IOPO_W_NK);
    iopo_tensor_zero(m->dres);
    iopo_layernorm_backward(x, m->dres, P_LNF_W(m)->grad, P_LNF_B(m)->grad, m->dln, m->residual[L], P_LNF_W(m)->value,
                            m->lnf_mean, m->lnf_rstd, BT, C);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &m->layers[l];
        /* dres holds d(block output); the MLP branch adds its share into it, which then is d(x_mid). */
        iopo_tensor_zero(m->dfch_gelu);
        iopo_matmul_backward(x, m->dfch_gelu, P(m, l, P_FCPROJ_W)->grad, P(m, l, P_FCPROJ_B)->grad, m->dres,
                             a->fch_gelu, P(m, l, P_FCPROJ_W)->value, BT, 4 * C, C, IOPO_W_KN);
        iopo_tensor_zero(m->dfch);
        iopo_gelu_backward(x, m->dfch, m->dfch_gelu, a->fch, (size_t)BT * 4 * C);
        iopo_tensor_zero(m->dln);
        iopo_matmul_backward(x, m->dln, P(m, l, P_FC_W)->grad, P(m, l, P_FC_B)->grad, m->dfch, a->ln2,
                             P(m, l, P_FC_W)->value, BT, C, 4 * C, IOPO_W_KN);
        iopo_layernorm_backward(x, m->dres, P(m, l, P_LN2_W)->grad, P(m, l, P_LN2_B)->grad, m->dln, a->x_mid,
                                P(m, l, P_LN2_W)->value, a->ln2_mean, a->ln2_rstd, BT, C);
        /* Attention branch: dres is d(x_mid) and becomes d(block input). */
        iopo_tensor_zero(m->datty);
        iopo_matmul_backward(x, m->datty, P(m, l, P_ATTPROJ_W)->grad, P(m, l, P_ATTPROJ_B)->grad, m->dres, a->atty,
                             P(m, l, P_ATTPROJ_W)->value, BT, C, C, IOPO_W_KN);
        iopo_tensor_zero(m->dqkv);
        iopo_attention_backward(x, m->dqkv, m->datt, m->datty, a->qkv, a->att, b->lengths, B, T, NH, NH, C / NH);
        iopo_tensor_zero(m->dln);
        iopo_matmul_backward(x, m->dln, P(m, l, P_QKV_W)->grad, P(m, l, P_QKV_B)->grad, m->dqkv, a->ln1,
                             P(m, l, P_QKV_W)->value, BT, C, 3 * C, IOPO_W_KN);
        iopo_layernorm_backward(x, m->dres, P(m, l, P_LN1_W)->grad, P(m, l, P_LN1_B)->grad, m->dln, m->residual[l],
                                P(m, l, P_LN1_W)->value, a->ln1_mean, a->ln1_rstd, BT, C);
    }
    iopo_embedding_backward(x, P_WTE(m)->grad, P_WPE(m)->grad, m->dres, b->tokens, B, T, C, V);
}
