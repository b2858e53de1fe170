/* metrics.jsonl files to one chart: a panel per metric, a colour per run, eval_ values as markers. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iopo/plot.h"

/* What `iopo train` logs that a reader looks at first: the loss, then the preference metrics of DPO and IOPO. */
static const char *const default_metrics[] = {"loss",
                                              "rewards/accuracies",
                                              "rewards/margins",
                                              "rewards/accuracies_v1",
                                              "rewards/accuracies_v2",
                                              "rewards/margins_v1",
                                              "rewards/margins_v2"};
#define NDEFAULT ((int)(sizeof default_metrics / sizeof default_metrics[0]))

static bool is_eval_key(const char *key) { return !strncmp(key, "eval_", 5); }

/* The series a panel of metric draws for a run: the metric itself, and its eval_ form unless it is one. */
static const iopo_metric_series *train_series(const iopo_metrics_run *run, const char *metric) {
    return iopo_metrics_find(run, metric);
}
static const iopo_metric_series *eval_series(const iopo_metrics_run *run, const char *metric) {
    if (is_eval_key(metric)) return NULL;
    char key[512];
    if (snprintf(key, sizeof key, "eval_%s", metric) >= (int)sizeof key) return NULL;
    return iopo_metrics_find(run, key);
}

static bool present(const iopo_metrics_run *runs, int nruns, const char *metric) {
    for (int r = 0; r < nruns; r++)
        if (train_series(&runs[r], metric) || eval_series(&runs[r], metric)) return true;
    return false;
}

/* ", "-separated keys of every run, each once, in order of first appearance; cut with "..." to fit. */
static void list_keys(char *buf, size_t len, const iopo_metrics_run *runs, int nruns) {
    size_t used = 0;
    buf[0] = 0;
    for (int r = 0; r < nruns; r++)
        for (int i = 0; i < runs[r].nseries; i++) {
            const char *k = runs[r].series[i].key;
            bool seen = false;
            for (int q = 0; q <= r && !seen; q++)
                for (int j = 0; j < (q == r ? i : runs[q].nseries) && !seen; j++)
                    seen = !strcmp(runs[q].series[j].key, k);
            if (seen) continue;
            size_t need = strlen(k) + (used ? 2 : 0);
            if (used + need + 5 >= len) {
                if (used + 5 < len) strcat(buf, ", ...");
                return;
            }
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", k);
        }
}

/* The default legend label of a run: its directory's name for DIR/metrics.jsonl, else the file name less .jsonl. */
static char *default_label(const char *path) {
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (strcmp(base, "metrics.jsonl") != 0) {
        size_t n = strlen(base);
        if (n > 6 && !strcmp(base + n - 6, ".jsonl")) n -= 6;
        return strndup(base, n);
    }
    /* The directory: the component before the file, after resolving . and .. (and a bare metrics.jsonl). */
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    char *real = realpath(dir[0] ? dir : "/", NULL);
    const char *name = real ? real : dir;
    const char *s = strrchr(name, '/');
    char *label = strdup(s && s[1] ? s + 1 : name);
    free(real), free(dir);
    return label;
}

bool iopo_plot_metrics(const char *svg_path, const char *const *paths, const char *const *labels, int nruns,
                       const char *const *metrics, int nmetrics, const char *title, char *err, size_t errlen) {
    if (nruns <= 0) {
        snprintf(err, errlen, "no metrics file to plot");
        return false;
    }
    iopo_metrics_run *runs = calloc((size_t)nruns, sizeof *runs);
    char **names = calloc((size_t)nruns, sizeof *names), **files = NULL;
    const char **chosen = NULL;
    iopo_plot_panel *panels = NULL;
    iopo_plot_series *series = NULL;
    bool ok = false;
    int nread = 0;
    /* A run directory stands for its metrics.jsonl. */
    files = calloc((size_t)nruns, sizeof *files);
    for (int r = 0; r < nruns; r++) {
        struct stat sb;
        size_t n = strlen(paths[r]) + sizeof "/metrics.jsonl";
        files[r] = malloc(n);
        bool dir = stat(paths[r], &sb) == 0 && S_ISDIR(sb.st_mode);
        snprintf(files[r], n, "%s%s", paths[r], dir ? "/metrics.jsonl" : "");
    }
    for (; nread < nruns; nread++)
        if (!iopo_metrics_read(files[nread], &runs[nread], err, errlen)) goto done;
    /* Two runs in directories of the same name (a/sft, b/sft) still get labels of their own. */
    for (int r = 0; r < nruns; r++) {
        names[r] = labels ? strdup(labels[r]) : default_label(files[r]);
        if (labels) continue;
        int same = 1;
        size_t len = strlen(names[r]);
        for (int q = 0; q < r; q++)   /* earlier ones may already carry their " (k)" */
            same += !strncmp(names[q], names[r], len) && (!names[q][len] || !strncmp(names[q] + len, " (", 2));
        if (same == 1) continue;
        size_t n = strlen(names[r]) + 16;
        char *label = malloc(n);
        snprintf(label, n, "%s (%d)", names[r], same);
        free(names[r]);
        names[r] = label;
    }
    int npanels = 0;
    chosen = malloc((size_t)(metrics ? nmetrics : NDEFAULT) * sizeof *chosen);
    if (metrics) {
        for (int i = 0; i < nmetrics; i++) {
            if (!present(runs, nruns, metrics[i])) {
                char keys[1024];
                list_keys(keys, sizeof keys, runs, nruns);
                snprintf(err, errlen, "metric '%s' has no finite value in %s (keys: %s)", metrics[i],
                         nruns == 1 ? files[0] : "any of the files", keys);
                goto done;
            }
            chosen[npanels++] = metrics[i];
        }
    } else {
        for (int i = 0; i < NDEFAULT; i++)
            if (present(runs, nruns, default_metrics[i])) chosen[npanels++] = default_metrics[i];
        if (npanels == 0) {
            char keys[1024];
            list_keys(keys, sizeof keys, runs, nruns);
            snprintf(err, errlen, "%s: no loss or preference metric to plot by default (keys: %s)",
                     nruns == 1 ? files[0] : "the files", keys);
            goto done;
        }
    }
    panels = calloc((size_t)npanels, sizeof *panels);
    series = calloc((size_t)npanels * (size_t)nruns * 2, sizeof *series);
    bool any_eval = false;
    for (int p = 0, ns = 0; p < npanels; p++) {
        panels[p] = (iopo_plot_panel){chosen[p], "step", series + ns, 0};
        for (int r = 0; r < nruns; r++) {
            const iopo_metric_series *t = train_series(&runs[r], chosen[p]), *e = eval_series(&runs[r], chosen[p]);
            /* An eval_ metric asked for by name is drawn as eval points. */
            bool as_eval = is_eval_key(chosen[p]);
            if (t) series[ns++] = (iopo_plot_series){t->step, t->value, t->n, r, as_eval};
            if (e) series[ns++] = (iopo_plot_series){e->step, e->value, e->n, r, true};
            any_eval = any_eval || e || (t && as_eval);
        }
        panels[p].nseries = (int)(series + ns - panels[p].series);
    }
    iopo_plot_figure fig = {title, panels, npanels, (const char *const *)names, nruns, any_eval};
    ok = iopo_plot_svg_write(svg_path, &fig, err, errlen);
done:
    for (int r = 0; r < nread; r++) iopo_metrics_run_free(&runs[r]);
    for (int r = 0; r < nruns; r++) free(names[r]), free(files ? files[r] : NULL);
    free(runs), free(names), free(files), free(chosen), free(panels), free(series);
    return ok;
}
