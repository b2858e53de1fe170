/* Pictures without a dependency: training metrics (metrics.jsonl, as `iopo train` writes it) read into series, and
 * line charts written as plain SVG 1.1 by iopo itself. Used by `iopo plot` and by `iopo train` (out/metrics.svg). */
#ifndef IOPO_PLOT_H
#define IOPO_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- metrics.jsonl ---- */

/* One key of a run: its finite values against step, sorted by step (file order among equal steps). */
typedef struct iopo_metric_series {
    char *key;
    int n, cap;
    double *step, *value;
} iopo_metric_series;

/* One run's metrics.jsonl: every numeric key of its records except "step", in order of first appearance. */
typedef struct iopo_metrics_run {
    int nseries, cap;
    iopo_metric_series *series;
    int records;   /* records read (lines holding a JSON object) */
} iopo_metrics_run;

/* Reads a metrics.jsonl: one JSON object a line, each with a numeric "step"; blank lines are skipped, and so are the
 * bare NaN / Infinity / nan / inf tokens that Python's json and C's printf write (the value is dropped, the record
 * kept), non-finite and non-numeric values, and a last line without its newline that does not parse (a write cut
 * short, as `iopo train --resume` drops it). false + "PATH:LINE: what" for a line that is not a JSON object or has no
 * numeric step, "PATH: reason" when unreadable or holding no numeric value at all. */
bool iopo_metrics_read(const char *path, iopo_metrics_run *run, char *err, size_t errlen);
void iopo_metrics_run_free(iopo_metrics_run *run);
/* The series of key, or NULL when the run has no finite value of it. */
const iopo_metric_series *iopo_metrics_find(const iopo_metrics_run *run, const char *key);

/* ---- the chart model and the SVG writer ---- */

typedef struct iopo_plot_series {
    const double *x, *y;   /* finite values, x ascending */
    int n;
    int color;   /* index into the palette (cycles) */
    bool eval;   /* eval points: a marker each, joined by a dashed line; else a solid line (a marker if alone) */
} iopo_plot_series;

typedef struct iopo_plot_panel {
    const char *title, *xlabel;
    const iopo_plot_series *series;
    int nseries;
} iopo_plot_panel;

typedef struct iopo_plot_figure {
    const char *title;              /* NULL or "": none */
    const iopo_plot_panel *panels;  /* laid out in a grid of up to 3 columns */
    int npanels;
    const char *const *legend;      /* one label per colour index 0 .. nlegend-1 */
    int nlegend;
    bool legend_eval;               /* add the line / marker key ("train", "eval") to the legend */
} iopo_plot_figure;

/* The figure as SVG 1.1 into f: axes from the data with "nice" tick values, a grid, text XML-escaped (bytes that are
 * not valid UTF-8 or not allowed in XML become '?'). Deterministic: the same figure gives the same bytes. Long series
 * are thinned to what the pixels can show (first, minimum, maximum and last point per pixel column). */
void iopo_plot_svg(FILE *f, const iopo_plot_figure *fig);
/* iopo_plot_svg into path, atomically. */
bool iopo_plot_svg_write(const char *path, const iopo_plot_figure *fig, char *err, size_t errlen);

/* ---- metrics.jsonl files to a chart ---- */

/* The chart of nruns metrics.jsonl files: one panel per metric, each run's values in its own colour, the run's
 * eval_-prefixed values of the metric as markers. labels: NULL for the default (the name of the directory holding
 * a file called metrics.jsonl, else the file's name without .jsonl; repeats get " (2)", " (3)", ...). metrics: NULL
 * for the default ("loss" and the preference metrics present: rewards/accuracies, rewards/margins and their IOPO _v1
 * / _v2 forms). A metric present in no run is an error naming the keys that are. */
bool iopo_plot_metrics(const char *svg_path, const char *const *paths, const char *const *labels, int nruns,
                       const char *const *metrics, int nmetrics, const char *title, char *err, size_t errlen);

#endif
