/* LLaMA-Factory's dataset_info.json entry: which of a record's keys hold the prompt, the responses, the turns, and
 * which words mark the roles of the turns. Each record is rewritten into the key names the formats of
 * prefdata_formats.c read, holding only what LLaMA-Factory would read, so renamed files load as their canonical
 * twins do and a column the entry does not name is not read (as LLaMA-Factory, whose unnamed columns are None). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/prefdata_internal.h"
#include "iopo/prefdata.h"

/* The record keys of the formats, with the column name of dataset_info.json that renames each; order = pd_col. */
static const struct {
    const char *canonical, *column;
    bool sharegpt, alpaca;
} COLS[PD_COL_COUNT] = {
    [PD_COL_INSTRUCTION] = {"instruction", "prompt", false, true},
    [PD_COL_INPUT] = {"input", "query", false, true},
    [PD_COL_OUTPUT] = {"output", "response", false, true},
    [PD_COL_HISTORY] = {"history", "history", false, true},
    [PD_COL_CONVERSATIONS] = {"conversations", "messages", true, false},
    [PD_COL_SYSTEM] = {"system", "system", true, true},
    [PD_COL_CHOSEN] = {"chosen", "chosen", true, true},
    [PD_COL_REJECTED] = {"rejected", "rejected", true, true},
};

/* Columns LLaMA-Factory has and iopo cannot read, and why. */
static const struct {
    const char *column, *why;
} UNSUPPORTED[] = {
    {"tools", "iopo has no tool calls"},
    {"images", "iopo trains text models"},
    {"videos", "iopo trains text models"},
    {"audios", "iopo trains text models"},
    {"kto_tag", "iopo has no KTO"},
};

static const char *const TAGS[PD_TAG_COUNT] = {
    [PD_TAG_ROLE] = "role_tag",         [PD_TAG_CONTENT] = "content_tag",   [PD_TAG_USER] = "user_tag",
    [PD_TAG_ASSISTANT] = "assistant_tag", [PD_TAG_SYSTEM] = "system_tag", [PD_TAG_OBSERVATION] = "observation_tag",
    [PD_TAG_FUNCTION] = "function_tag",
};
/* LLaMA-Factory's defaults: sharegpt's from/value turns with human and gpt. */
static const char *const TAG_DEFAULTS[PD_TAG_COUNT] = {"from", "value", "human", "gpt", "system", "observation",
                                                       "function_call"};

/* A key from the data or the entry, for a one-line message: control characters escaped, at most 40 bytes kept. */
static const char *esc(const char *s, char *buf, size_t max) {
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 5 < max && p - (const unsigned char *)s < 40;
         p++) {
        if (*p < 0x20 || *p == 0x7F) k += (size_t)snprintf(buf + k, max - k, "\\x%02X", *p);
        else buf[k++] = (char)*p;
    }
    buf[k] = 0;
    return buf;
}

void pd_columns_free(pd_columns *c) {
    for (int i = 0; i < PD_COL_COUNT; i++) free(c->src[i]);
    for (int i = 0; i < PD_TAG_COUNT; i++) free(c->tag[i]);
    memset(c, 0, sizeof *c);
}

/* A member of columns or tags: a string (NULL when null or absent). */
static bool name_of(const cJSON *o, const char *key, const char *what, char **out, char *why, size_t n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        snprintf(why, n, "%s.%s must be a non-empty string (a key of the records)", what, key);
        return false;
    }
    *out = strdup(v->valuestring);
    return true;
}

bool pd_columns_parse(const char *json, pd_columns *c, char *why, size_t n) {
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    bool ok = false;
    if (!cJSON_IsObject(o)) {
        snprintf(why, n, "not a JSON object {\"formatting\", \"ranking\", \"columns\", \"tags\"}");
        goto done;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, o) {
        if (strcmp(m->string, "formatting") && strcmp(m->string, "ranking") && strcmp(m->string, "columns") &&
            strcmp(m->string, "tags")) {
            char sb[200];
            snprintf(why, n, "unknown member \"%s\" (expected formatting, ranking, columns, tags)",
                     esc(m->string, sb, sizeof sb));
            goto done;
        }
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "formatting");
    if (f && !cJSON_IsNull(f)) {
        if (!cJSON_IsString(f) || (strcmp(f->valuestring, "alpaca") && strcmp(f->valuestring, "sharegpt"))) {
            snprintf(why, n, "formatting must be \"alpaca\" or \"sharegpt\"%s", cJSON_IsString(f) &&
                     !strcmp(f->valuestring, "openai") ? " (write an openai file as sharegpt with tags role_tag "
                     "\"role\", content_tag \"content\", user_tag \"user\", assistant_tag \"assistant\")" : "");
            goto done;
        }
        c->sharegpt = !strcmp(f->valuestring, "sharegpt");
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "ranking");
    if (r && !cJSON_IsNull(r)) {
        if (!cJSON_IsBool(r)) {
            snprintf(why, n, "ranking must be true or false");
            goto done;
        }
        c->ranking = cJSON_IsTrue(r);
    }
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(o, "columns");
    if (cols && !cJSON_IsNull(cols) && !cJSON_IsObject(cols)) {
        snprintf(why, n, "columns must be an object {\"prompt\": \"instruction\", ...}");
        goto done;
    }
    bool named = cJSON_IsObject(cols);
    if (named) cJSON_ArrayForEach(m, cols) {
            bool known = false;
            for (int i = 0; i < PD_COL_COUNT; i++) known |= !strcmp(m->string, COLS[i].column);
            for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; i++)
                if (!strcmp(m->string, UNSUPPORTED[i].column) && !cJSON_IsNull(m)) {
                    snprintf(why, n, "columns.%s is not supported (%s)", m->string, UNSUPPORTED[i].why);
                    goto done;
                }
            if (!known && !cJSON_IsNull(m)) {
                char sb[200];
                snprintf(why, n, "unknown column \"%s\" (LLaMA-Factory's are prompt, query, response, history, "
                         "messages, system, chosen, rejected, tools, images, videos, audios, kto_tag)",
                         esc(m->string, sb, sizeof sb));
                goto done;
            }
        }
    for (int i = 0; i < PD_COL_COUNT; i++) {
        if (!(c->sharegpt ? COLS[i].sharegpt : COLS[i].alpaca)) continue;   /* the other formatting's: not read */
        if (named && !name_of(cols, COLS[i].column, "columns", &c->src[i], why, n)) goto done;
        /* Without a columns object LLaMA-Factory reads instruction/input/output or conversations; chosen and
         * rejected, which it leaves to the entry, are read under their own names when the entry does not say. */
        bool by_default = (!named && i != PD_COL_HISTORY && i != PD_COL_SYSTEM) || i == PD_COL_CHOSEN ||
                          i == PD_COL_REJECTED || (i == PD_COL_CONVERSATIONS);
        if (!c->src[i] && by_default) c->src[i] = strdup(COLS[i].canonical);
    }
    if (!c->ranking) free(c->src[PD_COL_CHOSEN]), free(c->src[PD_COL_REJECTED]), c->src[PD_COL_CHOSEN] = NULL,
                     c->src[PD_COL_REJECTED] = NULL;
    if (c->ranking) free(c->src[PD_COL_OUTPUT]), c->src[PD_COL_OUTPUT] = NULL;
    /* LLaMA-Factory's user turn is the prompt and the query joined; a query alone is the whole turn. */
    if (!c->sharegpt && !c->src[PD_COL_INSTRUCTION] && c->src[PD_COL_INPUT]) {
        c->src[PD_COL_INSTRUCTION] = c->src[PD_COL_INPUT], c->src[PD_COL_INPUT] = NULL;
        c->prompt_from_query = true;
    }
    if (!c->sharegpt && !c->src[PD_COL_INSTRUCTION]) {
        snprintf(why, n, "columns names neither prompt nor query: an alpaca record needs its instruction");
        goto done;
    }
    if (!c->sharegpt && !c->ranking && !c->src[PD_COL_OUTPUT]) {
        snprintf(why, n, "columns does not name response: an alpaca record (ranking false) needs its response");
        goto done;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
    if (tags && !cJSON_IsNull(tags) && !cJSON_IsObject(tags)) {
        snprintf(why, n, "tags must be an object {\"role_tag\": \"role\", ...}");
        goto done;
    }
    if (cJSON_IsObject(tags)) cJSON_ArrayForEach(m, tags) {
            bool known = false;
            for (int i = 0; i < PD_TAG_COUNT; i++) known |= !strcmp(m->string, TAGS[i]);
            if (!known) {
                char sb[200];
                snprintf(why, n, "unknown tag \"%s\" (LLaMA-Factory's are role_tag, content_tag, user_tag, "
                         "assistant_tag, system_tag, observation_tag, function_tag)", esc(m->string, sb, sizeof sb));
                goto done;
            }
        }
    /* Tags only apply to sharegpt turns (LLaMA-Factory reads them for sharegpt only); a tag left out keeps its
     * default (LLaMA-Factory would leave it unset, so that no turn could carry that role). */
    for (int i = 0; i < PD_TAG_COUNT; i++) {
        if (c->sharegpt && cJSON_IsObject(tags) && !name_of(tags, TAGS[i], "tags", &c->tag[i], why, n)) goto done;
        if (!c->tag[i]) c->tag[i] = strdup(TAG_DEFAULTS[i]);
    }
    ok = true;
done:
    cJSON_Delete(o);
    if (!ok) pd_columns_free(c);
    return ok;
}

bool iopo_pref_dataset_info_check(const char *dataset_info, char *why, size_t n) {
    pd_columns c;
    if (!pd_columns_parse(dataset_info, &c, why, n)) return false;
    pd_columns_free(&c);
    return true;
}

static const char *keys_of(const cJSON *o, char *buf, size_t max) {
    size_t k = 0;
    buf[0] = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, o) {
        char eb[200];
        const char *name = esc(m->string, eb, sizeof eb);
        if (k + strlen(name) + 8 >= max) {
            snprintf(buf + k, max - k, ", ...");
            break;
        }
        k += (size_t)snprintf(buf + k, max - k, "%s\"%s\"", k ? ", " : "", name);
    }
    return k ? buf : "none";
}

/* A sharegpt turn (or chosen / rejected response) under the entry's tags, as a from/value turn with human, gpt and
 * system roles; other keys stay (a turn without the role key then names the keys it has). */
static cJSON *retag_turn(const pd_columns *c, const cJSON *turn) {
    cJSON *t = cJSON_Duplicate(turn, true);
    if (!cJSON_IsObject(t)) return t;
    const char *from[2] = {c->tag[PD_TAG_ROLE], c->tag[PD_TAG_CONTENT]}, *to[2] = {"from", "value"};
    for (int k = 0; k < 2; k++) {
        if (!strcmp(from[k], to[k])) continue;
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(t, from[k]);
        if (!v) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(t, to[k]);
        cJSON_AddItemToObject(t, to[k], v);
    }
    cJSON *role = cJSON_GetObjectItemCaseSensitive(t, "from");
    if (cJSON_IsString(role)) {
        const char *r = role->valuestring, *as = NULL;
        if (!strcmp(r, c->tag[PD_TAG_USER])) as = "human";
        else if (!strcmp(r, c->tag[PD_TAG_ASSISTANT])) as = "gpt";
        else if (!strcmp(r, c->tag[PD_TAG_SYSTEM])) as = "system";
        if (as) cJSON_ReplaceItemInObjectCaseSensitive(t, "from", cJSON_CreateString(as));
    }
    return t;
}

static bool is_alpaca(pd_format f) { return f == PD_DPO_ALPACA || f == PD_SFT_ALPACA; }
static bool is_sharegpt(pd_format f) { return f == PD_IOPO_SHAREGPT || f == PD_DPO_SHAREGPT || f == PD_SFT_SHAREGPT; }

cJSON *pd_columns_apply(const pd_columns *c, const cJSON *rec, char *why, size_t n) {
    /* A column the entry needs and the record lacks: say which, and what the record looks like instead. */
    int need[3], nneed = 0;
    need[nneed++] = c->sharegpt ? PD_COL_CONVERSATIONS : PD_COL_INSTRUCTION;
    if (c->ranking) need[nneed++] = PD_COL_CHOSEN, need[nneed++] = PD_COL_REJECTED;
    else if (!c->sharegpt) need[nneed++] = PD_COL_OUTPUT;
    for (int i = 0; i < nneed; i++) {
        const char *src = c->src[need[i]];
        if (cJSON_GetObjectItemCaseSensitive(rec, src)) continue;
        char kb[200], hint[200] = "";
        pd_format raw;
        char dwhy[64];
        if (pd_detect(rec, &raw, dwhy, sizeof dwhy)) {
            const pd_format_info *fi = pd_format_get(raw);
            bool other = c->sharegpt ? !is_sharegpt(raw) : !is_alpaca(raw);
            if (other)
                snprintf(hint, sizeof hint, "; the record is %s data, not %s", fi->name,
                         c->sharegpt ? "sharegpt" : "alpaca");
            else if (!c->ranking && fi->kind != PD_KIND_SFT)
                snprintf(hint, sizeof hint, "; the record holds chosen and rejected responses: set \"ranking\": true");
            else if (c->ranking && fi->kind == PD_KIND_SFT)
                snprintf(hint, sizeof hint, "; the record holds one response, not chosen and rejected (ranking)");
        }
        const char *column = need[i] == PD_COL_INSTRUCTION && c->prompt_from_query ? "query" : COLS[need[i]].column;
        char sb[200];
        snprintf(why, n, "missing \"%s\" (the %s column of the dataset_info entry, formatting %s%s; keys found: "
                 "%s)%s", esc(src, sb, sizeof sb), column, c->sharegpt ? "sharegpt" : "alpaca",
                 c->ranking ? ", ranking" : "",
                 keys_of(rec, kb, sizeof kb), hint);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    for (int i = 0; i < PD_COL_COUNT; i++) {
        if (!c->src[i]) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, c->src[i]);
        if (!v) continue;
        cJSON *copy;
        if (c->sharegpt && i == PD_COL_CONVERSATIONS && cJSON_IsArray(v)) {
            copy = cJSON_CreateArray();
            const cJSON *t;
            cJSON_ArrayForEach(t, v) cJSON_AddItemToArray(copy, retag_turn(c, t));
        } else if (c->sharegpt && (i == PD_COL_CHOSEN || i == PD_COL_REJECTED)) {
            copy = retag_turn(c, v);
        } else {
            copy = cJSON_Duplicate(v, true);
        }
        cJSON_AddItemToObject(out, COLS[i].canonical, copy);
    }
    return out;
}
