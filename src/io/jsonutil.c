#include "iopo/jsonutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"

#define EXACT_MAX 9007199254740992.0   /* 2^53 */

static void line_col(const char *text, size_t pos, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') ++*line, *col = 1;
        else ++*col;
    }
}

iopo_num_status iopo_num_to_long(double d, long lo, long hi, long *out) {
    if (!isfinite(d)) return IOPO_NUM_NOT_FINITE;
    double dlo = (double)lo < -EXACT_MAX ? -EXACT_MAX : (double)lo;
    double dhi = (double)hi > EXACT_MAX ? EXACT_MAX : (double)hi;
    if (d != floor(d)) return IOPO_NUM_NOT_INTEGER;
    if (d < dlo || d > dhi) return IOPO_NUM_OUT_OF_RANGE;
    *out = (long)d;
    return IOPO_NUM_OK;
}

void iopo_json_write_number(FILE *f, const char *fmt, double v) {
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("null", f);
}

void iopo_num_describe(char *buf, size_t n, double d, long lo, long hi, iopo_num_status s) {
    if (s == IOPO_NUM_NOT_FINITE)
        snprintf(buf, n, "%g is not a finite number", d);
    else if (s == IOPO_NUM_NOT_INTEGER)
        snprintf(buf, n, "%.17g is not an integer", d);
    else
        snprintf(buf, n, "%.17g is out of range [%ld, %ld]", d, lo, hi);
}

static bool rest_blank(const char *text, size_t pos, size_t len) {
    for (; pos < len; pos++)
        if (text[pos] != ' ' && text[pos] != '\t' && text[pos] != '\r' && text[pos] != '\n' && text[pos] != 0)
            return false;
    return true;
}

cJSON *iopo_json_parse(const char *path, const char *text, size_t len, char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t pos = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    if (root) {
        while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')) pos++;
        if (pos >= len || (text[pos] == 0 && pos + 1 == len)) return root;
        cJSON_Delete(root);
        int line, col;
        line_col(text, pos, &line, &col);
        snprintf(err, errlen, "%s:%d:%d: invalid JSON: text after the end of the JSON value", path, line, col);
        return NULL;
    }
    /* Replay the text up to where cJSON stopped: open brackets, and strings (JSON strings cannot hold a raw line
     * break, so one that does lost its closing quote; cJSON reads on to the next quote and fails further down). */
    size_t stack[64], depth = 0, str_start = 0, nl_string = (size_t)-1;
    bool in_str = false, str_nl = false;
    size_t last_sig = (size_t)-1, prev_sig = (size_t)-1;   /* last two non-blank bytes outside strings */
    for (size_t i = 0; i < pos && i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '\n') str_nl = true;
            else if (c == '"') {
                in_str = false;
                if (str_nl) nl_string = str_start;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        prev_sig = last_sig;
        last_sig = i;
        if (c == '"') in_str = true, str_start = i, str_nl = false;
        else if (c == '{' || c == '[') {
            if (depth < 64) stack[depth] = i;
            depth++;
        } else if ((c == '}' || c == ']') && depth) depth--;
    }
    if (in_str && str_nl) nl_string = str_start;
    char what[160];
    size_t at = pos;
    if (nl_string != (size_t)-1) {
        at = nl_string;
        snprintf(what, sizeof what, "a string is not closed on its line (missing '\"'?)");
    } else if (last_sig != (size_t)-1 && (text[last_sig] == '}' || text[last_sig] == ']') &&
               prev_sig != (size_t)-1 && text[prev_sig] == ',') {
        at = prev_sig;
        snprintf(what, sizeof what, "trailing comma before '%c'", text[last_sig]);
    } else if (last_sig != (size_t)-1 && text[last_sig] == ',' && pos < len &&
               (text[pos] == '}' || text[pos] == ']')) {
        at = last_sig;
        snprintf(what, sizeof what, "trailing comma before '%c'", text[pos]);
    } else if (last_sig != (size_t)-1 && prev_sig != (size_t)-1 && text[last_sig] == ',' && text[prev_sig] == ',') {
        at = last_sig;
        snprintf(what, sizeof what, "two commas in a row");
    } else if (rest_blank(text, pos, len)) {
        size_t k = 0;
        while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\n')) k++;
        if (k == len) {
            snprintf(what, sizeof what, "the file is empty");
        } else if (depth > 0 && depth <= 64) {
            int l, c;
            line_col(text, stack[depth - 1], &l, &c);
            snprintf(what, sizeof what, "unexpected end of file: the %s opened at line %d, column %d is not closed",
                     text[stack[depth - 1]] == '{' ? "object" : "array", l, c);
        } else {
            snprintf(what, sizeof what, "unexpected end of file");
        }
    } else {
        while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')) pos++;
        at = pos;
        size_t n = 0;
        while (pos + n < len && n < 12 && text[pos + n] != '\n' && text[pos + n] != '\r') n++;
        char shown[64];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)text[pos + i];
            if (ch < 0x20 || ch >= 0x7F) k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02X", ch);
            else shown[k++] = (char)ch;
        }
        shown[k] = 0;
        snprintf(what, sizeof what, "unexpected '%s'%s", shown, pos + n < len && n == 12 ? "..." : "");
    }
    int line, col;
    line_col(text, at, &line, &col);
    snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, line, col, what);
    return NULL;
}

bool iopo_json_token_id(const cJSON *v, int vocab, int32_t *id, char *why, size_t n) {
    long hi = vocab > 0 ? (long)vocab - 1 : INT32_MAX, x;
    if (!cJSON_IsNumber(v)) {
        snprintf(why, n, "is %s, not a token id", cJSON_IsString(v) ? "a string" : cJSON_IsArray(v) ? "an array"
                                                  : cJSON_IsObject(v) ? "an object" : cJSON_IsBool(v) ? "a boolean"
                                                                                       : "null");
        return false;
    }
    double d = v->valuedouble;
    iopo_num_status st = iopo_num_to_long(d, 0, hi, &x);
    if (st == IOPO_NUM_OK) {
        *id = (int32_t)x;
        return true;
    }
    if (st == IOPO_NUM_NOT_FINITE || st == IOPO_NUM_NOT_INTEGER)
        snprintf(why, n, "= %.15g is not an integer token id", d);
    else if (d < 0)
        snprintf(why, n, "= %.15g is negative: token ids are 0 to %ld", d, hi);
    else if (vocab > 0)
        snprintf(why, n, "= %.15g is outside the model's vocabulary (ids 0 to %ld)", d, hi);
    else
        snprintf(why, n, "= %.15g is too large for a token id", d);
    return false;
}

cJSON *iopo_json_load(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return NULL;
    cJSON *root = iopo_json_parse(path, text, len, err, errlen);
    free(text);
    return root;
}

const char *iopo_json_shown(const char *s, char *buf, size_t cap) {
    size_t k = 0, max = cap < 88 ? cap : 88;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (k + 8 >= max) {
            while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80) k--;   /* continuation bytes */
            if (k > 0 && (unsigned char)buf[k - 1] >= 0xC0) k--;               /* the lead byte they belonged to */
            memcpy(buf + k, "...", 4);
            return buf;
        }
        if (*p < 0x20 || *p == 0x7F) k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", *p);
        else buf[k++] = (char)*p;
    }
    buf[k] = 0;
    return buf;
}
