/* Line charts as plain SVG 1.1, written with fprintf: panels of series against step, a legend, "nice" axis ticks.
 * Every coordinate is printed with a fixed number of decimals, so the same figure always gives the same bytes. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/plot.h"

/* A cell of the grid holds one panel; inside it, the plot area leaves room for the title and tick labels. */
enum { CELL_W = 440, CELL_H = 290, PAD_L = 64, PAD_R = 18, PAD_T = 30, PAD_B = 44, MARGIN = 10, LEGEND_ROW = 22 };
#define MAX_TICKS 40

/* Ten colours that stay apart on white (matplotlib's default cycle). */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NCOLORS ((int)(sizeof palette / sizeof palette[0]))

static const char *color(int i) { return palette[((i % NCOLORS) + NCOLORS) % NCOLORS]; }

/* One UTF-8 sequence at s (n bytes available): its length and code point, or 0 when invalid (overlong forms,
 * surrogates and values past U+10FFFF included). */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80) return *cp = s[0], 1;
    int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (!len || s[0] > 0xF4 || (size_t)len > n) return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* XML 1.0's Char production, less the control characters a label has no use for. */
static bool xml_char(uint32_t c) {
    return (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static void put_text(FILE *f, const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int len = utf8_decode(s + i, n - i, &c);
        if (!len || !xml_char(c)) {
            fputc(len && (c == '\t' || c == '\n' || c == '\r') ? ' ' : '?', f);
            i += len ? (size_t)len : 1;
            continue;
        }
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else fwrite(s + i, 1, (size_t)len, f);
        i += (size_t)len;
    }
}

/* Code points, for the width a label takes. */
static int text_chars(const char *text) {
    int k = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) k += (*s & 0xC0) != 0x80;
    return k;
}

typedef struct axis {
    double lo, hi;   /* the range drawn */
    int nticks;
    double tick[MAX_TICKS];
    double step;     /* 0: the ticks are only the ends, not a nice progression */
    double maxabs;
} axis;

/* The nice number (1, 2 or 5 times a power of ten) nearest x (round) or at least x. */
static double nice_num(double x, bool round) {
    double e = floor(log10(x)), p = pow(10, e), f = x / p, nf;
    if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * p;
}

/* Ticks at multiples of a nice step covering [lo, hi]; the range drawn is widened to the outer ticks. A single value
 * gets a range around it; integer axes (steps) never get a fractional tick. */
static void make_axis(axis *a, double lo, double hi, int target, bool integer) {
    if (!(hi > lo)) {
        double d = lo == 0 ? 1 : fmax(fabs(lo) * 0.1, 1e-300);   /* a floor: a tenth of a subnormal is zero */
        if (integer && d < 1) d = 1;
        double l = lo - d, h = hi + d;   /* near DBL_MAX only the side that stays finite moves */
        lo = isfinite(l) ? l : lo, hi = isfinite(h) ? h : hi;
    }
    a->maxabs = fmax(fabs(lo), fabs(hi));
    double span = hi - lo;
    double step = isfinite(span) && span > 0 ? nice_num(nice_num(span, false) / (target - 1), true) : 0;
    if (integer && step > 0 && step < 1) step = 1;
    if (step > 0 && isfinite(step)) {
        double k0 = floor(lo / step + 1e-9), k1 = ceil(hi / step - 1e-9);
        /* Beyond 2^52 in magnitude, k + 1 can round back to k (values a few ulps apart, as 1e17 and 1e17 + 16): the
         * tick loop below would never end. Such an axis gets its ends. */
        bool fits = k1 - k0 >= 1 && k1 - k0 < MAX_TICKS && fabs(k0) < 0x1p52 && fabs(k1) < 0x1p52;
        if (fits && isfinite(k0 * step) && isfinite(k1 * step) && k1 * step > k0 * step) {
            a->lo = k0 * step, a->hi = k1 * step, a->step = step;
            a->nticks = 0;
            for (double k = k0; k <= k1; k++) a->tick[a->nticks++] = k * step;
            return;
        }
    }
    /* Out of reach of a nice progression (a span that overflows, values a rounding step apart): the ends alone. */
    a->lo = lo, a->hi = hi, a->step = 0;
    a->nticks = 2;
    a->tick[0] = lo, a->tick[1] = hi;
}

/* Position of v on the axis as a fraction of its length; halves keep hi - lo finite for any finite pair. */
static double frac(const axis *a, double v) {
    double t = (v / 2 - a->lo / 2) / (a->hi / 2 - a->lo / 2);
    return isfinite(t) ? t : 0.5;
}

static void tick_label(char *buf, size_t n, const axis *a, double v) {
    if (a->step == 0) {
        snprintf(buf, n, "%.4g", v);
        return;
    }
    if (fabs(v) < a->step * 1e-6) v = 0;   /* k * step can land a rounding error away from zero: no "-0.0" */
    if (a->maxabs >= 1e6 || a->step < 1e-4) {
        int d = (int)(floor(log10(a->maxabs)) - floor(log10(a->step)));
        snprintf(buf, n, "%.*e", d < 0 ? 0 : d > 15 ? 15 : d, v);   /* enough digits to tell ticks apart */
    } else {
        int d = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
        snprintf(buf, n, "%.*f", d, v);
    }
}

typedef struct area {
    double x0, y0, x1, y1;
    const axis *ax, *ay;
} area;

static double px(const area *r, double x) { return r->x0 + frac(r->ax, x) * (r->x1 - r->x0); }
static double py(const area *r, double y) { return r->y1 - frac(r->ay, y) * (r->y1 - r->y0); }

/* The line through a series, thinned to at most four points per pixel column (the first, lowest, highest and last of
 * the run of points that fall in it): what the pixels show is unchanged, and a long run stays a small file. */
static void put_polyline(FILE *f, const area *r, const iopo_plot_series *s) {
    fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"",
            s->eval ? "eval" : "train", color(s->color), s->eval ? "1.2" : "1.6",
            s->eval ? " stroke-dasharray=\"4 3\"" : "");
    int last = -1;
    for (int i = 0; i < s->n;) {
        double col = floor(px(r, s->x[i]));
        int j = i, lo = i, hi = i;
        while (j + 1 < s->n && floor(px(r, s->x[j + 1])) == col) {
            j++;
            if (s->y[j] < s->y[lo]) lo = j;
            if (s->y[j] > s->y[hi]) hi = j;
        }
        int pick[4] = {i, lo < hi ? lo : hi, lo < hi ? hi : lo, j};
        for (int k = 0; k < 4; k++) {
            if (pick[k] <= last) continue;
            fprintf(f, "%s%.2f,%.2f", last < 0 ? "" : " ", px(r, s->x[pick[k]]), py(r, s->y[pick[k]]));
            last = pick[k];
        }
        i = j + 1;
    }
    fprintf(f, "\"/>\n");
}

static void put_grid_line(FILE *f, double x1, double y1, double x2, double y2) {
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>\n", x1,
            y1, x2, y2);
}

static void put_marker(FILE *f, const char *cls, double x, double y, const char *stroke) {
    fprintf(f,
            "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"white\" stroke=\"%s\" "
            "stroke-width=\"1.5\"/>\n",
            cls, x, y, stroke);
}

static void put_panel(FILE *f, const iopo_plot_panel *p, double cx, double cy) {
    area r = {cx + PAD_L, cy + PAD_T, cx + CELL_W - PAD_R, cy + CELL_H - PAD_B, NULL, NULL};
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    bool integer = true;
    for (int s = 0; s < p->nseries; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            integer = integer && x == floor(x);
        }
    fprintf(f, "<g class=\"panel\">\n");
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">",
            (r.x0 + r.x1) / 2, cy + 18.0);
    put_text(f, p->title ? p->title : "");
    fprintf(f, "</text>\n");
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#444\" "
            "stroke-width=\"1\"/>\n",
            r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    if (xlo > xhi) {
        fprintf(f,
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\" fill=\"#888\" text-anchor=\"middle\">no data</text>\n"
                "</g>\n",
                (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2);
        return;
    }
    axis ax, ay;
    make_axis(&ax, xlo, xhi, 6, integer);
    make_axis(&ay, ylo, yhi, 5, false);
    r.ax = &ax, r.ay = &ay;
    char buf[64];
    for (int t = 0; t < ax.nticks; t++) {
        double x = px(&r, ax.tick[t]);
        put_grid_line(f, x, r.y0, x, r.y1);
        tick_label(buf, sizeof buf, &ax, ax.tick[t]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x, r.y1 + 15,
                buf);
    }
    for (int t = 0; t < ay.nticks; t++) {
        double y = py(&r, ay.tick[t]);
        put_grid_line(f, r.x0, y, r.x1, y);
        tick_label(buf, sizeof buf, &ay, ay.tick[t]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", r.x0 - 5, y + 4,
                buf);
    }
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"middle\">", (r.x0 + r.x1) / 2,
            cy + CELL_H - 10.0);
    put_text(f, p->xlabel ? p->xlabel : "");
    fprintf(f, "</text>\n");
    /* Lines first, then every marker, so no line crosses over a marker. */
    for (int s = 0; s < p->nseries; s++) {
        const iopo_plot_series *se = &p->series[s];
        if (se->n >= 2) put_polyline(f, &r, se);
        if (se->n == 1 && !se->eval) put_marker(f, "train", px(&r, se->x[0]), py(&r, se->y[0]), color(se->color));
    }
    for (int s = 0; s < p->nseries; s++) {
        const iopo_plot_series *se = &p->series[s];
        if (!se->eval) continue;
        double lx = -1e9, ly = -1e9;
        for (int i = 0; i < se->n; i++) {
            double x = px(&r, se->x[i]), y = py(&r, se->y[i]);
            if (fabs(x - lx) < 1 && fabs(y - ly) < 1) continue;   /* on top of the last one drawn */
            put_marker(f, "eval", x, y, color(se->color));
            lx = x, ly = y;
        }
    }
    fprintf(f, "</g>\n");
}

typedef struct legend_item {
    const char *label;
    const char *stroke;
    int kind;   /* 0 a run's colour, 1 the train key, 2 the eval key */
} legend_item;

static double item_width(const legend_item *it) { return 34 + 6.6 * text_chars(it->label) + 18; }

/* Lays out (or, with f, draws) the legend from y; returns its height. */
static double put_legend(FILE *f, const legend_item *items, int n, double width, double y) {
    if (n == 0) return 0;
    double x = MARGIN, rows = 1;
    for (int i = 0; i < n; i++) {
        double w = item_width(&items[i]);
        if (x > MARGIN && x + w > width - MARGIN) x = MARGIN, y += LEGEND_ROW, rows++;
        if (f) {
            double my = y + LEGEND_ROW / 2.0;
            fprintf(f,
                    "<line class=\"legend\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                    "stroke-width=\"%s\"%s/>\n",
                    x, my, x + 26, my, items[i].stroke, items[i].kind == 2 ? "1.2" : "2.5",
                    items[i].kind == 2 ? " stroke-dasharray=\"4 3\"" : "");
            if (items[i].kind == 2) put_marker(f, "legend", x + 13, my, items[i].stroke);
            fprintf(f, "<text class=\"legend\" x=\"%.2f\" y=\"%.2f\" font-size=\"12\">", x + 32, my + 4);
            put_text(f, items[i].label);
            fprintf(f, "</text>\n");
        }
        x += item_width(&items[i]);
    }
    return rows * LEGEND_ROW;
}

void iopo_plot_svg(FILE *f, const iopo_plot_figure *fig) {
    int n = fig->npanels, cols = n <= 1 ? 1 : (n == 2 || n == 4) ? 2 : 3, rows = n ? (n + cols - 1) / cols : 0;
    double width = cols * CELL_W + 2 * MARGIN;
    legend_item *items = malloc((size_t)(fig->nlegend + 2) * sizeof *items);
    int nitems = 0;
    for (int i = 0; i < fig->nlegend; i++)
        items[nitems++] = (legend_item){fig->legend[i] ? fig->legend[i] : "", color(i), 0};
    if (fig->legend_eval) {
        items[nitems++] = (legend_item){"train", "#444", 1};
        items[nitems++] = (legend_item){"eval", "#444", 2};
    }
    bool titled = fig->title && fig->title[0];
    double top = titled ? 34 : MARGIN;
    double legend_h = put_legend(NULL, items, nitems, width, top);
    double panels_y = top + legend_h + (legend_h > 0 ? 6 : 0);
    double height = panels_y + rows * CELL_H + MARGIN;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
            width, height, width, height);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
    if (titled) {
        fprintf(f, "<text x=\"%.2f\" y=\"24\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">",
                width / 2);
        put_text(f, fig->title);
        fprintf(f, "</text>\n");
    }
    put_legend(f, items, nitems, width, top);
    for (int i = 0; i < n; i++)
        put_panel(f, &fig->panels[i], MARGIN + (i % cols) * CELL_W, panels_y + (i / cols) * CELL_H);
    fprintf(f, "</svg>\n");
    free(items);
}

bool iopo_plot_svg_write(const char *path, const iopo_plot_figure *fig, char *err, size_t errlen) {
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) return false;
    iopo_plot_svg(af.f, fig);
    return iopo_atomic_commit(&af, err, errlen);
}
