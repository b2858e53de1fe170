/* The output directory of a training run: one run at a time (an advisory lock), never mixed with another run or with
 * a user's unrelated files, and cleaned of what an interrupted save left behind. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/plot.h"
#include "train/rundir.h"

int rundir_lock(const char *out, char *err, size_t errlen) {
    if (!iopo_mkdirs(out, err, errlen)) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", out);
    /* The file stays after the run: a lock file whose flock is free is not in use, so it never goes stale. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char who[512] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, who, sizeof who - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
            return -1;
        }
        who[n > 0 ? n : 0] = 0;
        long pid = 0;
        char host[256] = "?", started[64] = "?";
        sscanf(who, "pid %ld host %255s started %63s", &pid, host, started);
        snprintf(err, errlen,
                 "%s is in use by another iopo train (pid %ld on %s, started %s; lock %s): wait for it to finish, stop "
                 "it, or choose another --out",
                 out, pid, host, started, path);
        return -1;
    }
    char host[256] = "unknown", when[64];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[512];
    int len = snprintf(line, sizeof line, "pid %ld host %s started %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void rundir_unlock(int fd) {
    if (fd >= 0) close(fd);   /* closing the only descriptor releases the flock */
}

/* E_CACHE: the reference log-prob caches, keyed by what they were computed from (a stale one is recomputed); alone
 * they are not a run, and --overwrite removes them with the run. */
typedef enum { E_IGNORE, E_RUN, E_CACHE, E_LEFTOVER, E_FOREIGN } entry_kind;

static const char *const run_files[] = {"latest", "metrics.jsonl", "metrics.svg", "train_config.json",
                                        "ref_logps.json", "ref_logps_eval.json", NULL};
static bool is_cache(const char *name) { return !strcmp(name, "ref_logps.json") || !strcmp(name, "ref_logps_eval.json"); }

/* NAME.tmp.PID.N.X: the temporary file of an atomic write of NAME (fileio.c). */
static bool is_atomic_tmp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    return t && t != name && t[5] >= '0' && t[5] <= '9';
}

static bool is_file(const char *dir, const char *name) {
    char path[8800];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A model folder (checkpoint or final) that lacks one of its files was cut short by a crash: the save renames whole
 * folders, so only an older iopo or a crash inside an unfinished folder leaves one. */
static bool complete_folder(const char *dir, bool checkpoint) {
    /* A LoRA run's folders hold its adapter (PEFT's two files) where a full run's hold the model. */
    bool adapter = is_file(dir, "adapter_config.json");
    const char *need[] = {adapter ? "adapter_config.json" : "config.json",
                          adapter ? "adapter_model.safetensors" : "model.safetensors",
                          checkpoint ? "optimizer.safetensors" : NULL, checkpoint ? "trainer_state.json" : NULL};
    for (int i = 0; i < 4; i++)
        if (need[i] && !is_file(dir, need[i])) return false;
    return true;
}

static entry_kind classify(const char *out, const char *name, bool is_dir) {
    if (strlen(name) > 255) return E_FOREIGN;
    if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, ".lock")) return E_IGNORE;
    int s;
    char tail[8];
    if (!is_dir && is_atomic_tmp(name)) {
        for (int i = 0; run_files[i]; i++)
            if (!strncmp(name, run_files[i], strlen(run_files[i])) && name[strlen(run_files[i])] == '.')
                return E_LEFTOVER;
        return E_FOREIGN;
    }
    if (is_dir && (sscanf(name, ".checkpoint-%d.tm%1[p]%c", &s, tail, tail + 1) == 2 ||
                   sscanf(name, ".checkpoint-%d.ol%1[d]%c", &s, tail, tail + 1) == 2 || !strcmp(name, ".final.tmp") ||
                   !strcmp(name, ".final.old")))
        return E_LEFTOVER;
    if (is_dir && (sscanf(name, "checkpoint-%d%c", &s, tail) == 1 || !strcmp(name, "final"))) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", out, name);
        return complete_folder(dir, strcmp(name, "final") != 0) ? E_RUN : E_LEFTOVER;
    }
    for (int i = 0; run_files[i]; i++)
        if (!is_dir && !strcmp(name, run_files[i])) return is_cache(name) ? E_CACHE : E_RUN;
    return E_FOREIGN;
}

static void append_name(char *list, size_t len, const char *name) {
    size_t used = strlen(list);
    if (used + strlen(name) + 3 >= len) {
        if (used + 5 < len && !strstr(list, "...")) strcat(list, ", ...");
        return;
    }
    if (used) strcat(list, ", ");
    strcat(list, name);
}

/* Removes the atomic-write temporaries inside a complete model folder; appends "folder/name" to list. */
static bool clean_folder(const char *out, const char *folder, char *list, size_t listlen, char *err, size_t errlen) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", out, folder);
    DIR *d = opendir(dir);
    if (!d) return true;
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(d))) {
        if (!is_atomic_tmp(de->d_name)) continue;
        char path[4700], shown[600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(shown, sizeof shown, "%s/%s", folder, de->d_name);
        ok = iopo_remove_tree(path, err, errlen);
        append_name(list, listlen, shown);
    }
    closedir(d);
    return ok;
}

bool rundir_prepare(const char *out, bool resume_here, bool overwrite, char *err, size_t errlen) {
    DIR *d = opendir(out);
    if (!d) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        return false;
    }
    char run[2048] = "", left[2048] = "";
    char (*names)[264] = NULL;
    entry_kind *kinds = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    bool ok = true;
    while ((de = readdir(d))) {
        char path[4400];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", out, de->d_name);
        bool is_dir = lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        entry_kind k = classify(out, de->d_name, is_dir);
        if (k == E_IGNORE) continue;
        if (k == E_FOREIGN) {
            snprintf(err, errlen,
                     "%s holds %s%s, which is not part of an iopo run: --out must be a new or empty directory or an "
                     "iopo run directory (nothing of yours is deleted; choose another --out)",
                     out, path, is_dir ? "/" : "");
            ok = false;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = realloc(names, (size_t)cap * sizeof *names);
            kinds = realloc(kinds, (size_t)cap * sizeof *kinds);
        }
        snprintf(names[n], sizeof names[0], "%s%s", de->d_name, is_dir ? "/" : "");
        kinds[n++] = k;
    }
    closedir(d);
    /* Sorted, so that the messages name files in a stable order. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[264];
            entry_kind tk = kinds[j];
            memcpy(t, names[j], sizeof t), memcpy(names[j], names[j - 1], sizeof t), memcpy(names[j - 1], t, sizeof t);
            kinds[j] = kinds[j - 1], kinds[j - 1] = tk;
        }
    run[0] = 0;
    for (int i = 0; i < n; i++)
        if (kinds[i] == E_RUN) append_name(run, sizeof run, names[i]);
    if (ok && run[0] && !resume_here && !overwrite) {
        snprintf(err, errlen,
                 "%s already holds a training run (%s): add --resume to continue it, or --overwrite to start over "
                 "(removes those files), or choose another --out",
                 out, run);
        ok = false;
    }
    char removed[2048] = "";
    for (int i = 0; ok && i < n; i++) {
        bool old_run = (kinds[i] == E_RUN || kinds[i] == E_CACHE) && overwrite;
        if (kinds[i] == E_LEFTOVER || old_run) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", out, names[i]);
            ok = iopo_remove_tree(path, err, errlen);
            append_name(old_run ? removed : left, old_run ? sizeof removed : sizeof left, names[i]);
        } else if (kinds[i] == E_RUN && names[i][strlen(names[i]) - 1] == '/') {
            char folder[264];
            snprintf(folder, sizeof folder, "%.*s", (int)strlen(names[i]) - 1, names[i]);
            ok = clean_folder(out, folder, left, sizeof left, err, errlen);
        }
    }
    if (removed[0]) fprintf(stderr, "--overwrite: removed the previous run from %s: %s\n", out, removed);
    if (left[0]) fprintf(stderr, "removed leftovers of an interrupted save from %s: %s\n", out, left);
    free(names);
    free(kinds);
    return ok;
}

bool rundir_cut_metrics(const char *out, int step, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    struct stat sb;
    if (stat(path, &sb) != 0) return true;
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) {
        free(text);
        return false;
    }
    int dropped = 0;
    for (char *line = text, *next; line < text + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        next = nl ? nl + 1 : text + len;
        /* A line cut short by a crash (no newline, or not JSON) goes too. */
        cJSON *rec = nl ? cJSON_ParseWithLength(line, (size_t)(nl - line)) : NULL;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "step");
        if (cJSON_IsNumber(s) && s->valuedouble <= step) fwrite(line, 1, (size_t)(next - line), af.f);
        else if (next > line + 1 || !nl) dropped++;
        cJSON_Delete(rec);
    }
    free(text);
    if (!iopo_atomic_commit(&af, err, errlen)) return false;
    if (dropped) fprintf(stderr, "metrics.jsonl: dropped %d records after step %d (steps the run redoes)\n", dropped, step);
    return true;
}

bool rundir_same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool rundir_write_plot(const char *out, const char *title, char *err, size_t errlen) {
    char jsonl[4200], svg[4200];
    snprintf(jsonl, sizeof jsonl, "%s/metrics.jsonl", out);
    snprintf(svg, sizeof svg, "%s/metrics.svg", out);
    const char *paths[1] = {jsonl};
    return iopo_plot_metrics(svg, paths, NULL, 1, NULL, 0, title, err, errlen);
}
