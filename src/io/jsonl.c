/* JSON Lines files read one record at a time (include/iopo/jsonutil.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"

bool iopo_jsonl_each(const char *path, iopo_jsonl_fn each, void *user, int *count, char *err, size_t errlen) {
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    int line = 0, seen = 0;
    bool ok = true;
    for (char *s = text, *e; ok && s < text + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e) e = text + len;
        line++;
        const char *q = s;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == e) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, line);
        cJSON *rec = iopo_json_parse(where, s, (size_t)(e - s), err, errlen);
        ok = rec && each(user, where, line, rec, err, errlen);
        cJSON_Delete(rec);
        seen++;
    }
    free(text);
    if (count) *count = seen;
    return ok;
}
