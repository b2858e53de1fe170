/* JSON syntax as Python's json.loads accepts it (IFEval's detectable_format:json_format): one value of RFC 8259 with
 * Python's extensions NaN, Infinity and -Infinity, no control character inside a string (strict mode), nothing but
 * JSON whitespace around it. Only checked, nothing built; iterative, so no input can exhaust the stack. Nesting
 * deeper than MAX_DEPTH is refused: Python itself gives up (RecursionError) near a depth of 1000. */
#include "eval/ifeval_text.h"

#include <string.h>

enum { MAX_DEPTH = 10000 };

static size_t ws(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static bool word(const char *s, size_t n, size_t *i, const char *w) {
    size_t len = strlen(w);
    if (n - *i < len || memcmp(s + *i, w, len) != 0) return false;
    *i += len;
    return true;
}

static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool string(const char *s, size_t n, size_t *i) {
    size_t k = *i + 1; /* past the opening quote */
    while (k < n) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"') {
            *i = k + 1;
            return true;
        }
        if (c < 0x20) return false;
        if (c == '\\') {
            if (k + 1 >= n) return false;
            char e = s[k + 1];
            if (e == 'u') {
                if (n - k < 6) return false;
                for (int j = 2; j < 6; j++)
                    if (!hex(s[k + j])) return false;
                k += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == 0) return false;
            k += 2;
            continue;
        }
        k++;
    }
    return false;
}

static bool number(const char *s, size_t n, size_t *i) {
    size_t k = *i;
    if (k < n && s[k] == '-') k++;
    if (k < n && s[k] == '0') k++;
    else if (k < n && digit(s[k]))
        while (k < n && digit(s[k])) k++;
    else
        return false;
    if (k < n && s[k] == '.') {
        k++;
        if (k >= n || !digit(s[k])) return false;
        while (k < n && digit(s[k])) k++;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k >= n || !digit(s[k])) return false;
        while (k < n && digit(s[k])) k++;
    }
    *i = k;
    return true;
}

bool ifv_json_valid(const char *s, size_t n) {
    unsigned char object[MAX_DEPTH / 8 + 1]; /* bit per level: 1 = object, 0 = array */
    size_t depth = 0, i = ws(s, n, 0);
    for (;;) {
        /* a value at i */
        if (i >= n) return false;
        char c = s[i];
        if (c == '{' || c == '[') {
            size_t k = ws(s, n, i + 1);
            if (k < n && s[k] == (c == '{' ? '}' : ']')) {
                i = k + 1;
            } else {
                if (depth >= MAX_DEPTH) return false;
                if (c == '{') object[depth / 8] |= (unsigned char)(1u << depth % 8);
                else object[depth / 8] &= (unsigned char)~(1u << depth % 8);
                depth++;
                i = k;
                if (c == '{') {
                    if (i >= n || s[i] != '"' || !string(s, n, &i)) return false;
                    i = ws(s, n, i);
                    if (i >= n || s[i] != ':') return false;
                    i = ws(s, n, i + 1);
                }
                continue;
            }
        } else if (c == '"') {
            if (!string(s, n, &i)) return false;
        } else if (c == '-' && word(s, n, &i, "-Infinity")) {
        } else if (c == '-' || digit(c)) {
            if (!number(s, n, &i)) return false;
        } else if (!word(s, n, &i, "true") && !word(s, n, &i, "false") && !word(s, n, &i, "null") &&
                   !word(s, n, &i, "NaN") && !word(s, n, &i, "Infinity")) {
            return false;
        }
        /* after a value: close containers, or go on to the next element */
        for (;;) {
            i = ws(s, n, i);
            if (depth == 0) return i == n;
            bool obj = object[(depth - 1) / 8] >> (depth - 1) % 8 & 1;
            if (i < n && s[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
                continue;
            }
            if (i >= n || s[i] != ',') return false;
            i = ws(s, n, i + 1);
            if (obj) {
                if (i >= n || s[i] != '"' || !string(s, n, &i)) return false;
                i = ws(s, n, i);
                if (i >= n || s[i] != ':') return false;
                i = ws(s, n, i + 1);
            }
            break;
        }
    }
}
