/* A YAML run config as the flat list of top-level keys it holds, each value typed as PyYAML (which LLaMA-Factory's
 * argument parser reads YAML with) would type it. Only the shape LLaMA-Factory configs have is accepted: one document
 * whose root is a mapping with scalar keys. Values that are lists or mappings are kept as such (without their
 * contents) so that the caller can refuse or ignore them by key. */
#ifndef IOPO_TRAIN_CONFIG_YAML_H
#define IOPO_TRAIN_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { CY_NULL, CY_BOOL, CY_INT, CY_FLOAT, CY_STR, CY_LIST, CY_MAP } cy_type;

typedef struct cy_entry {
    char *key;
    cy_type type;
    char *text;   /* the scalar as written (numbers without their '_' separators); "" for lists and mappings */
    bool b;       /* CY_BOOL */
    double num;   /* CY_INT, CY_FLOAT (may be inf or nan: .inf, .nan) */
    int line;     /* 1-based line of the key */
} cy_entry;

typedef struct cy_doc {
    cy_entry *e;
    int n;
} cy_doc;

/* Reads text (len bytes, the contents of path, which names the file in messages). false + "path:LINE:COL: ..." on
 * invalid YAML, a root that is not a mapping, a non-scalar key, a key given twice, several documents, or a NUL in a
 * scalar. An empty file is a document without keys. */
bool cy_read(const char *path, const char *text, size_t len, cy_doc *doc, char *err, size_t errlen);
void cy_free(cy_doc *doc);
/* "a number", "true or false", "a string", "a list", ... for messages. */
const char *cy_type_name(cy_type t);

#endif
