/* Record formats of preference and chat data (REFERENCE.md §2): detection from a file's first record and the
 * per-record reading into prompts and responses, with a reason for every way a record can be wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/prefdata_internal.h"
#include "iopo/jsonutil.h"

static const pd_format_info formats[] = {
    [PD_IOPO_SHAREGPT] = {"iopo sharegpt", PD_KIND_IOPO, false},
    [PD_DPO_TRL] = {"dpo trl", PD_KIND_DPO, false},
    [PD_DPO_TRL_MESSAGES] = {"dpo trl messages", PD_KIND_DPO, false},
    [PD_DPO_ALPACA] = {"dpo alpaca", PD_KIND_DPO, false},
    [PD_DPO_SHAREGPT] = {"dpo sharegpt", PD_KIND_DPO, false},
    [PD_SFT_MESSAGES] = {"sft messages", PD_KIND_SFT, false},
    [PD_SFT_SHAREGPT] = {"sft sharegpt", PD_KIND_SFT, false},
    [PD_SFT_ALPACA] = {"sft alpaca", PD_KIND_SFT, false},
    [PD_SFT_IDS] = {"sft pre-tokenized", PD_KIND_SFT, true},
    [PD_DPO_IDS] = {"dpo pre-tokenized", PD_KIND_DPO, true},
    [PD_IOPO_IDS] = {"iopo pre-tokenized", PD_KIND_IOPO, true},
};

const pd_format_info *pd_format_get(pd_format f) { return &formats[f]; }

void pd_ids_push(pd_ids *a, const int32_t *v, int n) {
    if (a->n + n > a->cap) {
        a->cap = (a->n + n) * 2 + 16;
        a->v = realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    if (n > 0) memcpy(a->v + a->n, v, (size_t)n * sizeof *v);
    a->n += n;
}

void pd_ids_free(pd_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

void pd_item_free(pd_item *it) {
    for (int i = 0; i < 2; i++) {
        free(it->prompt[i].turn);
        pd_ids_free(&it->prompt_ids[i]);
        pd_ids_free(&it->resp_ids[i]);
    }
    for (int i = 0; i < it->nowned; i++) free(it->owned[i]);
    memset(it, 0, sizeof *it);
}

static const cJSON *field(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    return "null";
}

/* A text field of object o. where (may be "") prefixes the message, e.g. "\"chosen\": ". Optional fields that are
 * missing, null or "" give NULL: an empty system prompt or alpaca input means none. */
static bool get_text(const cJSON *o, const char *key, bool optional, const char *where, const char **out, char *why,
                     size_t n) {
    const cJSON *v = field(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (optional) return true;
        snprintf(why, n, "%smissing \"%s\"", where, key);
        return false;
    }
    if (!cJSON_IsString(v)) {
        snprintf(why, n, "%s\"%s\" must be a string, not %s", where, key, type_name(v));
        return false;
    }
    if (!v->valuestring[0]) {
        if (optional) return true;
        snprintf(why, n, "%s\"%s\" is empty", where, key);
        return false;
    }
    *out = v->valuestring;
    return true;
}

/* The two conversation styles: sharegpt {"from", "value"} (human/gpt/system in LLaMA-Factory and the IOPO release),
 * messages {"role", "content"} (user/assistant/system in TRL and OpenAI). Both role vocabularies are accepted in
 * both styles, since data converted between the two often keeps the other's role names; the keys are not mixed. */
typedef struct conv_style {
    const char *name, *role_key, *content_key, *user, *assistant, *system;
} conv_style;
static const conv_style SHAREGPT = {"sharegpt", "from", "value", "human", "gpt", "system"};
static const conv_style MESSAGES = {"messages", "role", "content", "user", "assistant", "system"};

static bool is_user_role(const char *r) { return strcmp(r, "user") == 0 || strcmp(r, "human") == 0; }
static bool is_assistant_role(const char *r) { return strcmp(r, "assistant") == 0 || strcmp(r, "gpt") == 0; }
#define ROLES_ACCEPTED "human or user, gpt or assistant, system"

/* The keys of object o, quoted and comma separated, for messages. */
static const char *key_list(const cJSON *o, char *buf, size_t max) {
    size_t k = 0;
    buf[0] = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, o) {
        char sb[48];
        const char *name = iopo_json_shown(c->string, sb, sizeof sb);
        if (k + strlen(name) + 8 >= max) {
            snprintf(buf + k, max - k, ", ...");
            break;
        }
        k += (size_t)snprintf(buf + k, max - k, "%s\"%s\"", k ? ", " : "", name);
    }
    return k ? buf : "none";
}

/* A turn without its role key: name the keys it has and the ones its style uses (a messages turn in a sharegpt
 * list, or the reverse, is the usual cause). */
static bool turn_keys_ok(const cJSON *m, const conv_style *st, const char *where, char *why, size_t n) {
    if (field(m, st->role_key)) return true;
    char kb[160];
    snprintf(why, n, "%smissing \"%s\" (keys found: %s; %s turns are {\"%s\": role, \"%s\": text})", where,
             st->role_key, key_list(m, kb, sizeof kb), st->name, st->role_key, st->content_key);
    return false;
}

/* Reads the array field key of rec into turns. A system turn may come first only; it goes to *system, which must not
 * already be set by a record-level "system" string. *first = the array index of turns[0], for messages. */
static bool read_turns(const cJSON *rec, const char *key, const conv_style *st, const char **system, pd_turn **turns,
                       int *nturns, int *first, char *why, size_t n) {
    const cJSON *arr = field(rec, key);
    *turns = NULL;
    *nturns = 0;
    *first = 0;
    if (!arr) {
        snprintf(why, n, "missing \"%s\"", key);
        return false;
    }
    if (!cJSON_IsArray(arr)) {
        snprintf(why, n, "\"%s\" must be an array of turns, not %s", key, type_name(arr));
        return false;
    }
    int count = cJSON_GetArraySize(arr), i = 0;
    pd_turn *t = malloc((size_t)(count ? count : 1) * sizeof *t);
    int k = 0;
    const cJSON *m;
    char where[64];
    cJSON_ArrayForEach(m, arr) {
        snprintf(where, sizeof where, "\"%s\"[%d]: ", key, i);
        if (!cJSON_IsObject(m)) {
            snprintf(why, n, "%smust be an object {\"%s\", \"%s\"}, not %s", where, st->role_key, st->content_key,
                     type_name(m));
            goto fail;
        }
        const char *role, *content;
        if (!turn_keys_ok(m, st, where, why, n) || !get_text(m, st->role_key, false, where, &role, why, n)) goto fail;
        bool is_system = strcmp(role, st->system) == 0;
        if (!is_system && !is_user_role(role) && !is_assistant_role(role)) {
            char sb[48];
            snprintf(why, n, "%sunknown role \"%s\" in \"%s\" (accepted: " ROLES_ACCEPTED ")", where,
                     iopo_json_shown(role, sb, sizeof sb), st->role_key);
            goto fail;
        }
        if (!get_text(m, st->content_key, is_system, where, &content, why, n)) goto fail;
        if (is_system) {
            if (i != 0) {
                snprintf(why, n, "%sa %s turn may only come first", where, st->system);
                goto fail;
            }
            if (*system && content) {
                snprintf(why, n, "two system prompts: \"system\" and a %s turn in \"%s\"", st->system, key);
                goto fail;
            }
            if (content) *system = content;
            *first = 1;
        } else {
            t[k].assistant = is_assistant_role(role);
            t[k].content = content;
            k++;
        }
        i++;
    }
    *turns = t;
    *nturns = k;
    return true;
fail:
    free(t);
    return false;
}

static const char *article(const char *word) { return strchr("aeiou", word[0]) ? "an" : "a"; }

/* Turns alternate user, assistant, user, ... and end with an assistant turn (the response) or a user turn (a prompt
 * that responses answer). */
static bool check_order(const pd_turn *t, int nt, int first, const char *key, const conv_style *st, bool end_assistant,
                        char *why, size_t n) {
    if (nt == 0) {
        snprintf(why, n, "\"%s\" has no %s or %s turns", key, st->user, st->assistant);
        return false;
    }
    for (int i = 0; i < nt; i++) {
        bool want = i % 2 == 1;
        if (t[i].assistant != want) {
            const char *w = want ? st->assistant : st->user;
            snprintf(why, n, "\"%s\"[%d]: expected %s %s turn, got %s (turns alternate %s, %s, ...)", key, i + first,
                     article(w), w, want ? st->user : st->assistant, st->user, st->assistant);
            return false;
        }
    }
    if (t[nt - 1].assistant != end_assistant) {
        const char *w = end_assistant ? st->assistant : st->user;
        snprintf(why, n, "\"%s\" must end with %s %s turn (%s), not %s (%d turns)", key, article(w), w,
                 end_assistant ? "the response" : "the prompt", end_assistant ? st->user : st->assistant, nt);
        return false;
    }
    return true;
}

/* chosen / rejected of the sharegpt ranking formats: {"from": "gpt", "value": ...} ("from" may be left out). */
static bool sharegpt_response(const cJSON *rec, const char *key, const char **out, char *why, size_t n) {
    const cJSON *o = field(rec, key);
    if (!o) {
        snprintf(why, n, "missing \"%s\"", key);
        return false;
    }
    if (!cJSON_IsObject(o)) {
        snprintf(why, n, "\"%s\" must be an object {\"from\": \"gpt\", \"value\": ...}, not %s", key, type_name(o));
        return false;
    }
    char where[48];
    snprintf(where, sizeof where, "\"%s\": ", key);
    const char *from;
    if (!get_text(o, "from", true, where, &from, why, n)) return false;
    if (from && !is_assistant_role(from)) {
        char sb[48];
        snprintf(why, n, "%s\"from\" must be gpt or assistant (the response), not \"%s\"", where,
                 iopo_json_shown(from, sb, sizeof sb));
        return false;
    }
    if (!field(o, "value")) {
        char kb[160];
        snprintf(why, n, "%smissing \"value\" (keys found: %s; a sharegpt response is {\"from\": \"gpt\", \"value\": "
                 "text})", where, key_list(o, kb, sizeof kb));
        return false;
    }
    return get_text(o, "value", false, where, out, why, n);
}

/* chosen / rejected of TRL's conversational format: a list holding the one assistant message. */
static bool messages_response(const cJSON *rec, const char *key, const char **out, char *why, size_t n) {
    const cJSON *arr = field(rec, key);
    if (!arr) {
        snprintf(why, n, "missing \"%s\"", key);
        return false;
    }
    if (!cJSON_IsArray(arr)) {
        snprintf(why, n, "\"%s\" must be a list holding one assistant message, not %s", key, type_name(arr));
        return false;
    }
    if (cJSON_GetArraySize(arr) != 1) {
        snprintf(why, n, "\"%s\" must hold one assistant message, not %d messages", key, cJSON_GetArraySize(arr));
        return false;
    }
    if (!cJSON_IsObject(arr->child)) {
        snprintf(why, n, "\"%s\"[0] must be an object {\"role\", \"content\"}, not %s", key, type_name(arr->child));
        return false;
    }
    char where[48];
    snprintf(where, sizeof where, "\"%s\"[0]: ", key);
    const char *role;
    if (!turn_keys_ok(arr->child, &MESSAGES, where, why, n) ||
        !get_text(arr->child, "role", false, where, &role, why, n))
        return false;
    if (!is_assistant_role(role)) {
        char sb[48];
        snprintf(why, n, "%s\"role\" must be assistant or gpt (the response), not \"%s\"", where,
                 iopo_json_shown(role, sb, sizeof sb));
        return false;
    }
    return get_text(arr->child, "content", false, where, out, why, n);
}

/* A prompt of one user turn (TRL strings, IOPO instructions, alpaca without history). */
static void single_turn(pd_prompt *p, const char *system, const char *text) {
    p->system = system;
    p->turn = malloc(sizeof *p->turn);
    p->turn[0].assistant = false;
    p->turn[0].content = text;
    p->n = 1;
}

/* LLaMA-Factory's alpaca: the user turn is the instruction and the input joined by "\n"; "history" holds earlier
 * [query, response] pairs. */
static bool alpaca_prompt(const cJSON *rec, pd_item *it, char *why, size_t n) {
    const char *system, *instr, *input;
    if (!get_text(rec, "system", true, "", &system, why, n) ||
        !get_text(rec, "instruction", false, "", &instr, why, n) || !get_text(rec, "input", true, "", &input, why, n))
        return false;
    const char *user = instr;
    if (input) {
        size_t a = strlen(instr), b = strlen(input);
        char *s = malloc(a + b + 2);
        memcpy(s, instr, a);
        s[a] = '\n';
        memcpy(s + a + 1, input, b + 1);
        it->owned[it->nowned++] = s;
        user = s;
    }
    const cJSON *h = field(rec, "history");
    int nh = 0;
    if (h && !cJSON_IsNull(h)) {
        if (!cJSON_IsArray(h)) {
            snprintf(why, n, "\"history\" must be an array of [query, response] pairs, not %s", type_name(h));
            return false;
        }
        nh = cJSON_GetArraySize(h);
    }
    pd_prompt *p = &it->prompt[0];
    p->system = system;
    p->turn = malloc((size_t)(2 * nh + 1) * sizeof *p->turn);
    int i = 0;
    const cJSON *pair;
    if (nh) cJSON_ArrayForEach(pair, h) {
            const cJSON *q = cJSON_GetArrayItem(pair, 0), *r = cJSON_GetArrayItem(pair, 1);
            if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(q) || !cJSON_IsString(r) ||
                !q->valuestring[0] || !r->valuestring[0]) {
                snprintf(why, n, "\"history\"[%d] must be a pair of non-empty strings [query, response]", i);
                return false;
            }
            p->turn[2 * i] = (pd_turn){false, q->valuestring};
            p->turn[2 * i + 1] = (pd_turn){true, r->valuestring};
            i++;
        }
    p->turn[2 * nh] = (pd_turn){false, user};
    p->n = 2 * nh + 1;
    return true;
}

static bool read_ids(const cJSON *rec, const char *key, int vocab, pd_ids *out, char *why, size_t n) {
    const cJSON *arr = field(rec, key);
    if (!arr) {
        snprintf(why, n, "missing \"%s\"", key);
        return false;
    }
    if (!cJSON_IsArray(arr)) {
        snprintf(why, n, "\"%s\" must be an array of token ids, not %s", key, type_name(arr));
        return false;
    }
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        int32_t id;
        char what[128];
        if (!iopo_json_token_id(v, vocab, &id, what, sizeof what)) {
            snprintf(why, n, "\"%s\"[%d] %s", key, i, what);
            return false;
        }
        pd_ids_push(out, &id, 1);
        i++;
    }
    if (i == 0) {
        snprintf(why, n, "\"%s\" is empty", key);
        return false;
    }
    return true;
}

bool pd_parse(pd_format f, const cJSON *rec, int vocab, pd_item *it, char *why, size_t n) {
    memset(it, 0, sizeof *it);
    const pd_format_info *fi = pd_format_get(f);
    it->nprompt = fi->kind == PD_KIND_IOPO ? 2 : 1;
    it->nresp = fi->kind == PD_KIND_SFT ? 1 : 2;
    const char *system = NULL;
    int first;
    pd_prompt *p0 = &it->prompt[0];
    switch (f) {
    case PD_IOPO_SHAREGPT: {
        if (!get_text(rec, "system", true, "", &system, why, n)) return false;
        pd_turn *t;
        int nt;
        if (!read_turns(rec, "conversations", &SHAREGPT, &system, &t, &nt, &first, why, n)) return false;
        bool ok = nt == 2 && !t[0].assistant && !t[1].assistant;
        if (!ok) {
            if (nt != 2)
                snprintf(why, n, "\"conversations\" must hold exactly 2 human turns (x1, x2), not %d turns", nt);
            else
                snprintf(why, n, "\"conversations\"[%d] must be a human turn (x%d), not gpt", first + !t[1].assistant,
                         1 + !t[1].assistant);
            free(t);
            return false;
        }
        single_turn(&it->prompt[0], system, t[0].content);
        single_turn(&it->prompt[1], system, t[1].content);
        free(t);
        return sharegpt_response(rec, "chosen", &it->resp[0], why, n) &&
               sharegpt_response(rec, "rejected", &it->resp[1], why, n);
    }
    case PD_DPO_SHAREGPT:
        if (!get_text(rec, "system", true, "", &system, why, n) ||
            !read_turns(rec, "conversations", &SHAREGPT, &system, &p0->turn, &p0->n, &first, why, n))
            return false;
        p0->system = system;
        return check_order(p0->turn, p0->n, first, "conversations", &SHAREGPT, false, why, n) &&
               sharegpt_response(rec, "chosen", &it->resp[0], why, n) &&
               sharegpt_response(rec, "rejected", &it->resp[1], why, n);
    case PD_SFT_SHAREGPT:
    case PD_SFT_MESSAGES: {
        bool sg = f == PD_SFT_SHAREGPT;
        const char *key = sg ? "conversations" : "messages";
        const conv_style *st = sg ? &SHAREGPT : &MESSAGES;
        if ((sg && !get_text(rec, "system", true, "", &system, why, n)) ||
            !read_turns(rec, key, st, &system, &p0->turn, &p0->n, &first, why, n))
            return false;
        p0->system = system;
        if (!check_order(p0->turn, p0->n, first, key, st, true, why, n)) return false;
        it->resp[0] = p0->turn[--p0->n].content;
        return true;
    }
    case PD_DPO_TRL: {
        const char *prompt;
        if (!get_text(rec, "prompt", false, "", &prompt, why, n)) return false;
        single_turn(p0, NULL, prompt);
        return get_text(rec, "chosen", false, "", &it->resp[0], why, n) &&
               get_text(rec, "rejected", false, "", &it->resp[1], why, n);
    }
    case PD_DPO_TRL_MESSAGES:
        if (!read_turns(rec, "prompt", &MESSAGES, &system, &p0->turn, &p0->n, &first, why, n)) return false;
        p0->system = system;
        return check_order(p0->turn, p0->n, first, "prompt", &MESSAGES, false, why, n) &&
               messages_response(rec, "chosen", &it->resp[0], why, n) &&
               messages_response(rec, "rejected", &it->resp[1], why, n);
    case PD_DPO_ALPACA:
        return alpaca_prompt(rec, it, why, n) && get_text(rec, "chosen", false, "", &it->resp[0], why, n) &&
               get_text(rec, "rejected", false, "", &it->resp[1], why, n);
    case PD_SFT_ALPACA:
        return alpaca_prompt(rec, it, why, n) && get_text(rec, "output", false, "", &it->resp[0], why, n);
    case PD_SFT_IDS:
        return read_ids(rec, "prompt_ids", vocab, &it->prompt_ids[0], why, n) &&
               read_ids(rec, "response_ids", vocab, &it->resp_ids[0], why, n);
    case PD_DPO_IDS:
        return read_ids(rec, "prompt_ids", vocab, &it->prompt_ids[0], why, n) &&
               read_ids(rec, "chosen_ids", vocab, &it->resp_ids[0], why, n) &&
               read_ids(rec, "rejected_ids", vocab, &it->resp_ids[1], why, n);
    case PD_IOPO_IDS:
        return read_ids(rec, "x1_ids", vocab, &it->prompt_ids[0], why, n) &&
               read_ids(rec, "y1_ids", vocab, &it->resp_ids[0], why, n) &&
               read_ids(rec, "x2_ids", vocab, &it->prompt_ids[1], why, n) &&
               read_ids(rec, "y2_ids", vocab, &it->resp_ids[1], why, n);
    }
    snprintf(why, n, "internal: unknown format %d", (int)f);
    return false;
}

/* IOPO's release and LLaMA-Factory's sharegpt ranking share their keys; two human turns (after an optional system
 * turn) are two instructions, anything else is one conversation. */
static bool two_instructions(const cJSON *conv) {
    int humans = 0, others = 0, i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, conv) {
        const cJSON *from = field(m, "from");
        if (!from) from = field(m, "role");   /* misplaced messages keys: read as IOPO, then named in the error */
        const char *r = cJSON_IsString(from) ? from->valuestring : "";
        if (i == 0 && strcmp(r, "system") == 0) {
        } else if (is_user_role(r)) {
            humans++;
        } else {
            others++;
        }
        i++;
    }
    return humans == 2 && others == 0;
}

bool pd_detect(const cJSON *rec, pd_format *f, char *why, size_t n) {
#define HAS(k) (field(rec, k) != NULL)
    if (HAS("x1_ids") || HAS("x2_ids") || HAS("y1_ids") || HAS("y2_ids")) {
        *f = PD_IOPO_IDS;
    } else if (HAS("chosen_ids") || HAS("rejected_ids")) {
        *f = PD_DPO_IDS;
    } else if (HAS("prompt_ids") || HAS("response_ids")) {
        *f = PD_SFT_IDS;
    } else if (HAS("conversations")) {
        if (HAS("chosen") || HAS("rejected"))
            *f = two_instructions(field(rec, "conversations")) ? PD_IOPO_SHAREGPT : PD_DPO_SHAREGPT;
        else
            *f = PD_SFT_SHAREGPT;
    } else if (HAS("messages")) {
        *f = PD_SFT_MESSAGES;
    } else if (HAS("prompt") && (HAS("chosen") || HAS("rejected"))) {
        *f = cJSON_IsArray(field(rec, "prompt")) ? PD_DPO_TRL_MESSAGES : PD_DPO_TRL;
    } else if (HAS("instruction")) {
        *f = HAS("chosen") || HAS("rejected") ? PD_DPO_ALPACA : PD_SFT_ALPACA;
    } else {
        char keys[160] = "";
        size_t k = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, rec) {
            char sb[48];
            const char *name = iopo_json_shown(c->string, sb, sizeof sb);
            if (k + strlen(name) + 8 >= sizeof keys) {
                snprintf(keys + k, sizeof keys - k, ", ...");
                break;
            }
            k += (size_t)snprintf(keys + k, sizeof keys - k, "%s\"%s\"", k ? ", " : "", name);
        }
        snprintf(why, n,
                 "unknown record format (keys: %s); expected conversations + chosen/rejected (IOPO, sharegpt), "
                 "prompt/chosen/rejected (TRL), instruction (alpaca), messages, or pre-tokenized *_ids",
                 k ? keys : "none");
        return false;
    }
    return true;
#undef HAS
}
