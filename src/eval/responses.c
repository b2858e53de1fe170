/* Responses from a JSONL file attached to an evaluation set's items (src/eval/eval_responses.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_responses.h"
#include "iopo/jsonutil.h"

typedef struct attach_state {
    const char *key_name, *set_path;
    bool key_is_string;
    const eval_keyed *items;
    int n;
    int *from_line;   /* (n) the response line attached to each item, 0 = none yet */
} attach_state;

static bool attach_one(void *user, const char *where, int line, const cJSON *rec, char *err, size_t errlen) {
    attach_state *a = user;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, a->key_name);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec, "prompt");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(rec, "response");
    if (!cJSON_IsString(resp) || (!key && !cJSON_IsString(prompt)) || (key && a->key_is_string && !cJSON_IsString(key))) {
        snprintf(err, errlen, "%s: expected {\"%s\"%s or \"prompt\", \"response\": \"...\"}", where, a->key_name,
                 a->key_is_string ? " (a string)" : "");
        return false;
    }
    char *key_text = !key ? NULL : a->key_is_string ? strdup(key->valuestring) : cJSON_PrintUnformatted(key);
    int found = -1;
    for (int i = 0; i < a->n && found < 0; i++) {
        const eval_keyed *it = &a->items[i];
        if (key_text ? it->key && !strcmp(it->key, key_text) : !strcmp(it->prompt, prompt->valuestring)) found = i;
    }
    bool ok = false;
    if (found < 0) {
        char shown[96];   /* a key can be any JSON value, a long one too */
        snprintf(err, errlen, "%s: %s %s matches no prompt of %s", where, key_text ? a->key_name : "prompt",
                 key_text ? iopo_json_shown(key_text, shown, sizeof shown) : "text", a->set_path);
    } else if (a->from_line[found]) {
        snprintf(err, errlen, "%s: a second response for the prompt of %s:%d (the first is on line %d)", where,
                 a->set_path, a->items[found].line, a->from_line[found]);
    } else {
        a->from_line[found] = line;
        free(*a->items[found].response);
        *a->items[found].response = strdup(resp->valuestring);
        ok = true;
    }
    free(key_text);
    return ok;
}

bool eval_attach_responses(const char *path, const char *key_name, bool key_is_string, const char *set_path,
                           const eval_keyed *items, int n, char *err, size_t errlen) {
    attach_state a = {key_name, set_path, key_is_string, items, n, calloc((size_t)(n > 0 ? n : 1), sizeof(int))};
    bool ok = iopo_jsonl_each(path, attach_one, &a, NULL, err, errlen);
    for (int i = 0; ok && i < n; i++)
        if (!a.from_line[i]) {
            snprintf(err, errlen, "%s: no response for the prompt of %s:%d", path, set_path, items[i].line);
            ok = false;
        }
    free(a.from_line);
    return ok;
}
