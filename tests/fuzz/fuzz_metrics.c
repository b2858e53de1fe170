/* `iopo plot`'s reader and chart (include/iopo/plot.h): arbitrary bytes as a metrics.jsonl, read by
 * iopo_metrics_read, then drawn by iopo_plot_metrics into an SVG, so the axis and tick code sees whatever series a
 * file can hold (huge, tiny, equal, out-of-order steps and values). First byte: bit 0 -> the chart's metrics are
 * every key the reader found (else the default choice: loss and the preference metrics); bit 1 -> the same file twice
 * (two runs, the second labelled " (2)"); bit 2 -> a title. The rest is the file.
 * Invariants: a refusal is one line naming the file; an accepted run has records, and every series has a unique key
 * other than "step", at least one point, only finite steps and values, steps ascending, and is what
 * iopo_metrics_find returns for its key; charting every key always succeeds; the SVG is valid UTF-8, has one panel
 * per metric, balanced '<' / '>', no nan or inf inside any tag (coordinates, attributes) and the same bytes when made
 * again. */
#include "fuzz_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/plot.h"

static bool one_line(const char *msg) { return msg[0] && !strchr(msg, '\n'); }

static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

/* Checks the chart's bytes; returns its number of panels. */
static int check_svg(const char *svg, size_t n) {
    FZ_CHECK(n > 0 && svg[n - 1] == '\n', "the SVG is empty or ends without a newline");
    FZ_CHECK(valid_utf8((const unsigned char *)svg, n), "the SVG is not valid UTF-8");
    int open = 0, panels = 0;
    const char *tag = NULL;
    for (size_t i = 0; i < n; i++) {
        if (svg[i] == '<') {
            FZ_CHECK(!tag, "'<' inside a tag at byte %zu", i);
            tag = svg + i;
            open++;
        } else if (svg[i] == '>') {
            FZ_CHECK(tag, "'>' outside a tag at byte %zu", i);
            size_t len = (size_t)(svg + i - tag);
            /* The writer's own attribute names and values hold neither word: any hit is a non-finite number. */
            for (size_t k = 0; k + 3 <= len; k++)
                FZ_CHECK(strncasecmp(tag + k, "nan", 3) && strncasecmp(tag + k, "inf", 3),
                         "a non-finite number in the tag '%.*s'", (int)(len > 300 ? 300 : len + 1), tag);
            panels += len >= 16 && !strncmp(tag, "<g class=\"panel\"", 16);
            tag = NULL;
            open--;
        }
    }
    FZ_CHECK(!tag && open == 0, "unbalanced '<' and '>' in the SVG");
    return panels;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    int opt = in[0];
    const char *path = fz_write(0, "metrics.jsonl", in + 1, size - 1);
    char err[1024] = "";
    iopo_metrics_run run;
    if (!iopo_metrics_read(path, &run, err, sizeof err)) {
        FZ_CHECK(one_line(err) && !strncmp(err, path, strlen(path)), "refused without a one-line message naming "
                 "the file: '%s'", err);
        FZ_CHECK(run.nseries == 0 && !run.series, "a refused run keeps its series");
        /* The chart refuses it too, with the reader's message. */
        char err2[1024] = "";
        const char *paths[1] = {path};
        FZ_CHECK(!iopo_plot_metrics(fz_write(1, "x.svg", "", 0), paths, NULL, 1, NULL, 0, NULL, err2, sizeof err2) &&
                     !strcmp(err, err2),
                 "the chart of a refused file: '%s' vs '%s'", err2, err);
        return 0;
    }
    FZ_CHECK(run.records >= 1 && run.nseries >= 1, "accepted with %d records, %d series", run.records, run.nseries);
    const char **keys = malloc((size_t)run.nseries * sizeof *keys);
    for (int i = 0; i < run.nseries; i++) {
        const iopo_metric_series *s = &run.series[i];
        FZ_CHECK(s->key && strcmp(s->key, "step") && s->n >= 1, "series %d: key '%s', %d points", i,
                 s->key ? s->key : "(null)", s->n);
        for (int j = 0; j < i; j++) FZ_CHECK(strcmp(run.series[j].key, s->key), "key '%s' twice", s->key);
        FZ_CHECK(iopo_metrics_find(&run, s->key) == s, "find('%s') is not its series", s->key);
        for (int k = 0; k < s->n; k++) {
            FZ_CHECK(isfinite(s->step[k]) && isfinite(s->value[k]), "'%s'[%d]: %g at step %g", s->key, k,
                     s->value[k], s->step[k]);
            FZ_CHECK(k == 0 || s->step[k - 1] <= s->step[k], "'%s': steps %g then %g", s->key, s->step[k - 1],
                     s->step[k]);
        }
        keys[i] = s->key;
    }

    bool every = opt & 1;
    int nruns = opt & 2 ? 2 : 1;
    const char *paths[2] = {path, path};
    const char *title = opt & 4 ? "fuzz <run> & \"metrics\"" : NULL;
    char *svg[2] = {NULL, NULL};
    size_t svglen[2] = {0, 0};
    bool ok = false;
    for (int pass = 0; pass < 2; pass++) {
        const char *out = fz_write(1, "chart.svg", "", 0);
        ok = iopo_plot_metrics(out, paths, NULL, nruns, every ? keys : NULL, every ? run.nseries : 0, title, err,
                               sizeof err);
        FZ_CHECK(ok || one_line(err), "the chart refused without a one-line message: '%s'", err);
        FZ_CHECK(ok || !every, "the chart of every key refused: %s", err);
        if (!ok) break;
        svg[pass] = iopo_read_file(out, &svglen[pass], err, sizeof err);
        FZ_CHECK(svg[pass], "the chart written cannot be read back: %s", err);
    }
    if (ok) {
        int panels = check_svg(svg[0], svglen[0]);
        FZ_CHECK(!every || panels == run.nseries, "%d panels for %d metrics", panels, run.nseries);
        FZ_CHECK(panels >= 1, "a chart without a panel");
        FZ_CHECK(svglen[0] == svglen[1] && !memcmp(svg[0], svg[1], svglen[0]), "the same file gave two charts");
    }
    free(svg[0]), free(svg[1]);
    free(keys);
    iopo_metrics_run_free(&run);
    return 0;
}
