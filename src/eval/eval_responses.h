/* Responses from a JSONL file attached to the items of an evaluation set: the one matching rule both IFEval-format
 * and TRACE sets use (src/eval/responses.c). */
#ifndef IOPO_EVAL_RESPONSES_H
#define IOPO_EVAL_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eval_keyed {
    const char *key;      /* the item's key as compared (see key_is_string), or NULL */
    const char *prompt;   /* the text a key-less response line is matched by */
    int line;             /* the item's line in set_path */
    char **response;      /* where the matched response goes (any earlier one is freed) */
} eval_keyed;

/* Each line of path is {key_name | "prompt", "response"}: matched by key where it has one (key_is_string: the
 * key is a JSON string compared by its text, as TRACE's "id"; else any JSON value compared as printed, as IFEval's
 * integer "key"), else by prompt text. A line matching no item, a second line for one item and an item left
 * without a response are errors naming the line. */
bool eval_attach_responses(const char *path, const char *key_name, bool key_is_string, const char *set_path,
                           const eval_keyed *items, int n, char *err, size_t errlen);

#endif
