/* Which directory a model argument names: a model directory itself (a plain Hugging Face folder or a checkpoint), or a
 * training run directory, whose `latest` names its newest checkpoint. One resolver, so every command agrees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iopo/fileio.h"
#include "iopo/model.h"

bool iopo_model_dir_resolve(const char *path, char *dir, size_t dirlen, char *err, size_t errlen) {
    char probe[4200];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a directory (a model directory or a training run directory is expected)", path);
        return false;
    }
    snprintf(probe, sizeof probe, "%s/config.json", path);
    bool model = stat(probe, &sb) == 0;
    snprintf(probe, sizeof probe, "%s/adapter_config.json", path);   /* a LoRA adapter: loads onto its base */
    if (model || stat(probe, &sb) == 0) {
        if ((size_t)snprintf(dir, dirlen, "%s", path) >= dirlen) {
            snprintf(err, errlen, "%s: path too long", path);
            return false;
        }
        return true;
    }
    snprintf(probe, sizeof probe, "%s/latest", path);
    if (stat(probe, &sb) != 0) {
        snprintf(err, errlen, "%s: neither a model directory (no config.json) nor a training run directory (no latest)",
                 path);
        return false;
    }
    size_t len;
    char *name = iopo_read_file(probe, &len, err, errlen);
    if (!name) return false;
    while (len && (name[len - 1] == '\n' || name[len - 1] == ' ' || name[len - 1] == '\r')) name[--len] = 0;
    bool ok = len > 0 && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
    if (!ok) snprintf(err, errlen, "%s: does not name a checkpoint folder of the run", probe);
    if (ok && (size_t)snprintf(dir, dirlen, "%s/%s", path, name) >= dirlen) {
        snprintf(err, errlen, "%s: path too long", path);
        ok = false;
    }
    if (ok) {
        snprintf(probe, sizeof probe, "%s/config.json", dir);
        char aprobe[4200];
        snprintf(aprobe, sizeof aprobe, "%s/adapter_config.json", dir);
        if (stat(probe, &sb) != 0 && stat(aprobe, &sb) != 0) {
            snprintf(err, errlen, "%s names %s, which has no config.json (nor adapter_config.json)", path, name);
            ok = false;
        }
    }
    free(name);
    return ok;
}
