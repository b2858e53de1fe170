/* `iopo plot`: metrics.jsonl files of training runs as one SVG chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/plot.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo plot METRICS.jsonl... --out FILE.svg [--metrics NAME[,NAME...]] [--labels A,B,...]\n"
            "                 [--title T]\n\n"
            "Draws the metrics.jsonl files that `iopo train` writes (several runs overlaid, one colour each) as an\n"
            "SVG chart: one panel per metric against step, the metric's eval_ values (eval_data) as markers. A run\n"
            "directory stands for its metrics.jsonl.\n"
            "Non-finite values and records without the metric are skipped. `iopo train` draws its own run into\n"
            "OUT/metrics.svg at every checkpoint and at the end.\n\n"
            "  --out FILE.svg     the chart (written atomically)\n"
            "  --metrics LIST     the metrics, one panel each, e.g. loss,lr,grad_norm,rewards/chosen or eval_loss\n"
            "                     alone (default: loss and the preference metrics present: rewards/accuracies,\n"
            "                     rewards/margins, and IOPO's _v1 / _v2 forms)\n"
            "  --labels LIST      one legend label per file (default: the run directory's name)\n"
            "  --title T          a title above the chart\n");
}

/* Splits a comma-separated list in place into items; false when an item is empty. */
static bool split_list(char *s, const char ***items, int *n) {
    *n = 1;
    for (char *p = s; *p; p++) *n += *p == ',';
    *items = malloc((size_t)*n * sizeof **items);
    int k = 0;
    for (char *tok = s, *comma;; tok = comma + 1) {
        comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (!*tok) return false;
        (*items)[k++] = tok;
        if (!comma) return true;
    }
}

int cmd_plot(int argc, char **argv) {
    const char *out = NULL, *metrics_arg = NULL, *labels_arg = NULL, *title = NULL;
    const char **files = malloc((size_t)argc * sizeof *files);
    int nfiles = 0, rc = 2;
    const char **metrics = NULL, **labels = NULL;
    char *metrics_copy = NULL, *labels_copy = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (cli_flag_value(argc, argv, &i, "--out", &out)) {
        } else if (cli_flag_value(argc, argv, &i, "--metrics", &metrics_arg)) {
        } else if (cli_flag_value(argc, argv, &i, "--labels", &labels_arg)) {
        } else if (cli_flag_value(argc, argv, &i, "--title", &title)) {
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "iopo plot: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            goto done;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (!out || nfiles == 0) {
        fprintf(stderr, "iopo plot: %s\n", !out ? "--out FILE.svg is required" : "no METRICS.jsonl file given");
        usage(stderr);
        goto done;
    }
    int nmetrics = 0, nlabels = 0;
    if (metrics_arg && !split_list(metrics_copy = strdup(metrics_arg), &metrics, &nmetrics)) {
        fprintf(stderr, "iopo plot: --metrics '%s': an empty name\n", metrics_arg);
        goto done;
    }
    if (labels_arg && !split_list(labels_copy = strdup(labels_arg), &labels, &nlabels)) {
        fprintf(stderr, "iopo plot: --labels '%s': an empty label\n", labels_arg);
        goto done;
    }
    if (labels && nlabels != nfiles) {
        fprintf(stderr, "iopo plot: --labels gives %d label%s for %d file%s\n", nlabels, nlabels == 1 ? "" : "s",
                nfiles, nfiles == 1 ? "" : "s");
        goto done;
    }
    char err[2048];
    if (!iopo_plot_metrics(out, files, labels, nfiles, metrics, nmetrics, title, err, sizeof err)) {
        fprintf(stderr, "iopo plot: %s\n", err);
        rc = 1;
        goto done;
    }
    fprintf(stderr, "wrote %s (%d run%s)\n", out, nfiles, nfiles == 1 ? "" : "s");
    rc = 0;
done:
    free(files), free(metrics), free(labels), free(metrics_copy), free(labels_copy);
    return rc;
}
