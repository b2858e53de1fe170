/* dataset_info.json lookups (dataset_info.h). The entry's column renaming itself is the data loader's
 * (iopo_pref_options.dataset_info); here the entry is found, its file located and what iopo cannot read refused. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/prefdata.h"
#include "train/dataset_info.h"

static bool has_suffix(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* "a", "b", ... (the first names of the registry, for a name that is not there). */
static const char *names_of(const cJSON *root, char *buf, size_t max) {
    size_t k = 0;
    buf[0] = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, root) {
        if (k + strlen(m->string) + 8 >= max) {
            snprintf(buf + k, max - k, ", ...");
            break;
        }
        k += (size_t)snprintf(buf + k, max - k, "%s%s", k ? ", " : "", m->string);
    }
    return k ? buf : "no datasets";
}

bool lf_dataset_find(const char *dir, const char *name, const char *where, lf_dataset *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    char reg[1100];
    snprintf(reg, sizeof reg, "%s/dataset_info.json", dir);
    size_t len;
    char ferr[1200];
    char *text = iopo_read_file(reg, &len, ferr, sizeof ferr);
    if (!text) {
        snprintf(err, errlen, "%s: %s (dataset_dir %s holds no dataset_info.json)", where, ferr, dir);
        return false;
    }
    cJSON *root = iopo_json_parse(reg, text, len, err, errlen);
    free(text);
    if (!root) return false;
    bool ok = false;
    char names[300];
    const cJSON *e = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, name) : NULL;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object of datasets {\"name\": {\"file_name\": ...}}", reg);
        goto done;
    }
    if (!e) {
        snprintf(err, errlen, "%s: dataset %.100s is not in %s (it has: %s)", where, name, reg,
                 names_of(root, names, sizeof names));
        goto done;
    }
    if (!cJSON_IsObject(e)) {
        snprintf(err, errlen, "%s: %.100s: the entry must be an object {\"file_name\": ...}", reg, name);
        goto done;
    }
    static const char *const remote[] = {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"};
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(e, remote[i])) {
            snprintf(err, errlen, "%s: %.100s: %s: iopo reads local files only (it does not download); fetch the data "
                     "and give its file as file_name", reg, name, remote[i]);
            goto done;
        }
    static const char *const unread[] = {"subset", "folder", "num_samples"};
    for (size_t i = 0; i < sizeof unread / sizeof unread[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, unread[i]);
        if (v && !cJSON_IsNull(v)) {
            snprintf(err, errlen, "%s: %.100s: %s is not supported (iopo reads the whole of one file)", reg, name,
                     unread[i]);
            goto done;
        }
    }
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(e, "split");
    if (split && !cJSON_IsNull(split) && !(cJSON_IsString(split) && !strcmp(split->valuestring, "train"))) {
        snprintf(err, errlen, "%s: %.100s: split must be train (a local file has only that split)", reg, name);
        goto done;
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "file_name");
    if (!cJSON_IsString(fn) || !fn->valuestring[0]) {
        snprintf(err, errlen, "%s: %.100s: file_name must be the data file's name (relative to %s)", reg, name, dir);
        goto done;
    }
    int n = snprintf(out->path, sizeof out->path, "%s/%s", dir, fn->valuestring);
    if (n < 0 || (size_t)n >= sizeof out->path) {
        snprintf(err, errlen, "%s: %.100s: file_name is too long", reg, name);
        goto done;
    }
    struct stat sb;
    if (stat(out->path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s (file_name of %.100s in %s)", out->path, strerror(errno), name, reg);
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: a folder (file_name of %.100s in %s): iopo reads one .json or .jsonl file",
                 out->path, name, reg);
        goto done;
    }
    if (!has_suffix(out->path, ".json") && !has_suffix(out->path, ".jsonl")) {
        snprintf(err, errlen, "%s: iopo reads .json and .jsonl data files (file_name of %.100s in %s)", out->path,
                 name, reg);
        goto done;
    }
    /* What the loader needs of the entry, in the loader's own form; the rest (file_sha1 of older registries, ...)
     * LLaMA-Factory does not read either. */
    cJSON *info = cJSON_CreateObject();
    const char *const parts[] = {"formatting", "ranking", "columns", "tags"};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, parts[i]);
        if (v) cJSON_AddItemToObject(info, parts[i], cJSON_Duplicate(v, true));
    }
    if (!cJSON_GetObjectItemCaseSensitive(info, "formatting")) cJSON_AddStringToObject(info, "formatting", "alpaca");
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(e, "ranking");
    out->ranking = cJSON_IsTrue(rk);
    char *json = cJSON_PrintUnformatted(info);
    cJSON_Delete(info);
    char why[600];
    if (strlen(json) >= sizeof out->info) {
        snprintf(err, errlen, "%s: %.100s: the entry's columns and tags exceed %zu characters", reg, name,
                 sizeof out->info - 1);
    } else if (!iopo_pref_dataset_info_check(json, why, sizeof why)) {
        snprintf(err, errlen, "%s: %.100s: %s", reg, name, why);
    } else {
        snprintf(out->info, sizeof out->info, "%s", json);
        ok = true;
    }
    free(json);
done:
    cJSON_Delete(root);
    return ok;
}
