/* The 25 checks, each as IFEval's instructions.py defines check_following (google-research
 * instruction_following_eval), on one variant of the response. Regular expressions of the original are matched here
 * by hand, with the same greediness and the same non-overlapping left-to-right search as re.findall / re.split; the
 * keyword and marker strings, which IFEval pastes into its patterns, are matched literally. */
#include <stdlib.h>
#include <string.h>

#include "eval/ifeval_internal.h"
#include "eval/ifeval_text.h"

static bool compare(long count, const ifv_args *a) { return a->less ? count < a->num : count >= a->num; }

static uint32_t at(const char *s, size_t n, size_t i) { return i < n ? ifv_decode(s, n, &i) : 0; }

/* Non-overlapping case-insensitive occurrences of k in t (code points, both lowercased); with words, each also
 * between \b boundaries. */
static long find_all(const uint32_t *t, size_t tn, const uint32_t *k, size_t kn, bool words, bool first_only) {
    long count = 0;
    if (kn == 0 || kn > tn) return 0;
    for (size_t i = 0; i + kn <= tn;) {
        if (memcmp(t + i, k, kn * sizeof *k) == 0) {
            bool ok = true;
            if (words) {
                bool before = i > 0 && ifv_is_word(t[i - 1]), first = ifv_is_word(t[i]);
                bool last = ifv_is_word(t[i + kn - 1]), after = i + kn < tn && ifv_is_word(t[i + kn]);
                ok = before != first && last != after;
            }
            if (ok) {
                count++;
                if (first_only) return count;
                i += kn;
                continue;
            }
        }
        i++;
    }
    return count;
}

/* Occurrences of the string `word` in the text, or -1 when out of memory. */
static long count_in(const char *s, size_t n, const char *word, size_t wn, bool words, bool first_only) {
    size_t tn, kn;
    uint32_t *t = ifv_lower_codepoints(s, n, &tn);
    uint32_t *k = t ? ifv_lower_codepoints(word, wn, &kn) : NULL;
    long c = k ? find_all(t, tn, k, kn, words, first_only) : -1;
    free(t);
    free(k);
    return c;
}

int ifv_keywords_existence(const ifv_args *a, const char *s, size_t n) {
    const cJSON *w;
    cJSON_ArrayForEach(w, a->list) {
        long c = count_in(s, n, w->valuestring, strlen(w->valuestring), false, true);
        if (c <= 0) return c < 0 ? -1 : 0;
    }
    return 1;
}

int ifv_keywords_frequency(const ifv_args *a, const char *s, size_t n) {
    long c = count_in(s, n, a->str, a->str_len, false, false);
    return c < 0 ? -1 : compare(c, a);
}

int ifv_forbidden_words(const ifv_args *a, const char *s, size_t n) {
    const cJSON *w;
    cJSON_ArrayForEach(w, a->list) {
        long c = count_in(s, n, w->valuestring, strlen(w->valuestring), true, true);
        if (c != 0) return c < 0 ? -1 : 0;
    }
    return 1;
}

int ifv_letter_frequency(const ifv_args *a, const char *s, size_t n) {
    size_t k = 0;
    uint32_t letter = ifv_lower(ifv_decode(a->str, a->str_len, &k));
    long count = 0;
    for (size_t i = 0; i < n;)
        if (ifv_lower(ifv_decode(s, n, &i)) == letter) count++;
    return compare(count, a);
}

int ifv_response_language(const ifv_args *a, const char *s, size_t n) {
    const char *lang = ifv_detect_language(s, n);
    return !lang || !strcmp(lang, a->str); /* langdetect's "cannot tell" counts as followed in IFEval */
}

int ifv_number_sentences(const ifv_args *a, const char *s, size_t n) {
    return compare((long)ifv_count_sentences(s, n), a);
}

static bool blank(const char *s, size_t n) {
    ifv_strip(&s, &n);
    return n == 0;
}

/* re.split(r"\s?\*\*\*\s?"): every part non-blank except possibly the first and last, which then do not count. */
int ifv_number_paragraphs(const ifv_args *a, const char *s, size_t n) {
    long count = 0;
    size_t pos = 0, part = 0;
    bool first = true;
    for (;;) {
        size_t k = pos;
        const char *hit = NULL;
        for (; k + 3 <= n; k++)
            if (s[k] == '*' && s[k + 1] == '*' && s[k + 2] == '*') {
                hit = s + k;
                break;
            }
        size_t start = hit ? k : n, end = hit ? k + 3 : n;
        if (hit && start > pos) {
            size_t p = ifv_prev(s, pos, start);
            if (ifv_is_space(at(s, n, p))) start = p;
        }
        if (hit && end < n && ifv_is_space(at(s, n, end))) {
            size_t e = end;
            ifv_decode(s, n, &e);
            end = e;
        }
        bool empty = blank(s + part, start - part), last = !hit;
        if (empty) {
            if (!first && !last) return 0;
        } else {
            count++;
        }
        if (!hit) break;
        first = false;
        part = pos = end;
    }
    return count == a->num;
}

int ifv_number_words(const ifv_args *a, const char *s, size_t n) { return compare((long)ifv_count_words(s, n), a); }

/* Paragraphs split at "\n\n"; the nth is indexed among all parts, empty ones included, as IFEval does. */
int ifv_nth_paragraph_first_word(const ifv_args *a, const char *s, size_t n) {
    long nonempty = 0, index = 0;
    const char *nth = NULL;
    size_t nth_len = 0;
    for (size_t pos = 0;;) {
        const char *e = NULL;
        for (size_t k = pos; k + 2 <= n; k++)
            if (s[k] == '\n' && s[k + 1] == '\n') {
                e = s + k;
                break;
            }
        size_t len = (e ? (size_t)(e - s) : n) - pos;
        if (++index == a->nth) nth = s + pos, nth_len = len;
        if (!blank(s + pos, len)) nonempty++;
        if (!e) break;
        pos = (size_t)(e - s) + 2;
    }
    if (a->nth > nonempty || !nth) return 0;
    ifv_strip(&nth, &nth_len);
    if (nth_len == 0) return 0;
    /* the first whitespace-separated word, without leading quotes, up to the first punctuation mark */
    size_t i = 0, w_end = 0;
    while (w_end < nth_len) {
        size_t k = w_end;
        if (ifv_is_space(ifv_decode(nth, nth_len, &k))) break;
        w_end = k;
    }
    while (i < w_end && nth[i] == '\'') i++;
    while (i < w_end && nth[i] == '"') i++;
    size_t j = i;
    while (j < w_end && !strchr(".,?!'\"", nth[j])) ifv_decode(nth, w_end, &j);
    size_t wn, fn;
    uint32_t *w = ifv_lower_codepoints(nth + i, j - i, &wn);
    uint32_t *f = w ? ifv_lower_codepoints(a->str, a->str_len, &fn) : NULL;
    int r = !f ? -1 : (nonempty == a->num && wn == fn && memcmp(w, f, wn * sizeof *w) == 0);
    free(w);
    free(f);
    return r;
}

/* re.findall(r"\[.*?\]"): '[' then the nearest ']' on the same line. */
int ifv_number_placeholders(const ifv_args *a, const char *s, size_t n) {
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '[') continue;
        size_t j = i + 1;
        while (j < n && s[j] != ']' && s[j] != '\n') j++;
        if (j < n && s[j] == ']') {
            count++;
            i = j;
        }
    }
    return count >= a->num;
}

static bool ascii_ci(const char *s, size_t n, size_t i, char c) { return i < n && (s[i] | 0x20) == c; }

/* Advances past one whitespace character at *i, if there is one (an optional \s). */
static void opt_space(const char *s, size_t n, size_t *i) {
    size_t k = *i;
    if (k < n && ifv_is_space(ifv_decode(s, n, &k))) *i = k;
}

int ifv_postscript(const ifv_args *a, const char *s, size_t n) {
    bool pps = a->str_len == 5 && !memcmp(a->str, "P.P.S", 5), ps = a->str_len == 4 && !memcmp(a->str, "P.S.", 4);
    if (!pps && !ps) {
        long c = count_in(s, n, a->str, a->str_len, false, true);
        return c < 0 ? -1 : c > 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* r"p\.\s?p\.\s?s" or r"p\.\s?s\." in the lowercased text, anywhere */
        if (!ascii_ci(s, n, i, 'p') || i + 1 >= n || s[i + 1] != '.') continue;
        size_t j = i + 2;
        opt_space(s, n, &j);
        if (pps) {
            if (!ascii_ci(s, n, j, 'p') || j + 1 >= n || s[j + 1] != '.') continue;
            j += 2;
            opt_space(s, n, &j);
            if (ascii_ci(s, n, j, 's')) return 1;
        } else if (ascii_ci(s, n, j, 's') && j + 1 < n && s[j + 1] == '.') {
            return 1;
        }
    }
    return 0;
}

/* re.findall(r"^\s*\*[^\*].*$", re.M) plus re.findall(r"^\s*-.*$", re.M): at a line start, whitespace (newlines
 * included), then the marker; a match runs to the end of its line. */
static long bullets(const char *s, size_t n, char marker) {
    long count = 0;
    for (size_t p = 0; p < n;) {
        if (p > 0 && s[p - 1] != '\n') {
            p++;
            continue;
        }
        size_t q = p;
        while (q < n) {
            size_t k = q;
            if (!ifv_is_space(ifv_decode(s, n, &k))) break;
            q = k;
        }
        bool ok = q < n && s[q] == marker;
        size_t e = q + 1;
        if (ok && marker == '*') {
            ok = e < n && s[e] != '*';
            if (ok) ifv_decode(s, n, &e); /* [^\*] takes any one character, a newline too */
        }
        if (!ok) {
            p++;
            continue;
        }
        while (e < n && s[e] != '\n') e++;
        count++;
        p = e;
    }
    return count;
}

int ifv_number_bullet_lists(const ifv_args *a, const char *s, size_t n) {
    return bullets(s, n, '*') + bullets(s, n, '-') == a->num;
}

int ifv_constrained_response(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    static const char *const OPTIONS[] = {"My answer is yes.", "My answer is no.", "My answer is maybe."};
    for (size_t i = 0; i < 3; i++)
        if (memmem(s, n, OPTIONS[i], strlen(OPTIONS[i]))) return 1;
    return 0;
}

/* re.findall(r"\*[^\n\*]*\*") and r"\*\*[^\n\*]*\*\*", each match counted when its text is not blank. */
int ifv_number_highlighted_sections(const ifv_args *a, const char *s, size_t n) {
    long count = 0;
    for (int width = 1; width <= 2; width++) {
        for (size_t i = 0; i + 2 * (size_t)width <= n;) {
            if (s[i] != '*' || (width == 2 && s[i + 1] != '*')) {
                i++;
                continue;
            }
            size_t j = i + (size_t)width;
            while (j < n && s[j] != '\n' && s[j] != '*') j++;
            bool closed = j + (size_t)width <= n && s[j] == '*' && (width == 1 || s[j + 1] == '*');
            if (!closed) {
                i++;
                continue;
            }
            if (!blank(s + i + width, j - i - (size_t)width)) count++;
            i = j + (size_t)width;
        }
    }
    return count >= a->num;
}

/* re.split(r"\s?" + spliter + r"\s?\d+\s?") has one more part than the matches: spliter, an optional whitespace,
 * digits. */
int ifv_multiple_sections(const ifv_args *a, const char *s, size_t n) {
    long count = 0;
    for (size_t i = 0; i + a->str_len <= n;) {
        if (memcmp(s + i, a->str, a->str_len) != 0) {
            i++;
            continue;
        }
        size_t j = i + a->str_len;
        opt_space(s, n, &j);
        size_t d = j;
        while (d < n) {
            size_t k = d;
            if (!ifv_is_decimal(ifv_decode(s, n, &k))) break;
            d = k;
        }
        if (d == j) {
            i++;
            continue;
        }
        count++;
        opt_space(s, n, &d);
        i = d;
    }
    return count >= a->num;
}

static void remove_prefix(const char **s, size_t *n, const char *p) {
    size_t len = strlen(p);
    if (*n >= len && !memcmp(*s, p, len)) *s += len, *n -= len;
}

int ifv_json_format(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    ifv_strip(&s, &n);
    remove_prefix(&s, &n, "```json");
    remove_prefix(&s, &n, "```Json");
    remove_prefix(&s, &n, "```JSON");
    remove_prefix(&s, &n, "```");
    if (n >= 3 && !memcmp(s + n - 3, "```", 3)) n -= 3;
    ifv_strip(&s, &n);
    return ifv_json_valid(s, n);
}

/* re.findall(r"<<[^\n]+>>"): per line, from the first "<<" to the last ">>" (greedy); followed when one such title,
 * without its angle brackets, is not blank. */
int ifv_title(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    for (size_t line = 0; line < n;) {
        size_t end = line;
        while (end < n && s[end] != '\n') end++;
        size_t open = line;
        while (open + 1 < end && !(s[open] == '<' && s[open + 1] == '<')) open++;
        if (open + 1 < end) {
            size_t close = end;
            while (close >= open + 5 && !(s[close - 2] == '>' && s[close - 1] == '>')) close--;
            if (close >= open + 5) {
                size_t b = open, e = close;
                while (b < e && s[b] == '<') b++;
                while (e > b && s[e - 1] == '>') e--;
                if (!blank(s + b, e - b)) return 1;
            }
        }
        line = end + 1;
    }
    return 0;
}

int ifv_two_responses(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    const char *valid[2] = {0};
    size_t len[2] = {0}, count = 0;
    for (size_t pos = 0, index = 0;; index++) {
        const char *sep = memmem(s + pos, n - pos, "******", 6);
        size_t plen = (sep ? (size_t)(sep - s) : n) - pos;
        if (blank(s + pos, plen)) {
            if (index != 0 && sep) return 0;
        } else {
            if (count < 2) valid[count] = s + pos, len[count] = plen;
            count++;
        }
        if (!sep) break;
        pos = (size_t)(sep - s) + 6;
    }
    if (count != 2) return 0;
    ifv_strip(&valid[0], &len[0]);
    ifv_strip(&valid[1], &len[1]);
    return len[0] != len[1] || memcmp(valid[0], valid[1], len[0]) != 0;
}

/* Whether the lowercased code points of s start with (ends with, when at_end) those of p. */
static int lower_affix(const char *s, size_t n, const char *p, size_t pn, bool at_end) {
    size_t tn, kn;
    uint32_t *t = ifv_lower_codepoints(s, n, &tn);
    uint32_t *k = t ? ifv_lower_codepoints(p, pn, &kn) : NULL;
    int r = !k ? -1 : kn <= tn && memcmp(at_end ? t + tn - kn : t, k, kn * sizeof *k) == 0;
    free(t);
    free(k);
    return r;
}

int ifv_repeat_prompt(const ifv_args *a, const char *s, size_t n) {
    ifv_strip(&s, &n);
    return lower_affix(s, n, a->str, a->str_len, false);
}

int ifv_end_checker(const ifv_args *a, const char *s, size_t n) {
    ifv_strip(&s, &n);
    while (n > 0 && s[0] == '"') s++, n--;
    while (n > 0 && s[n - 1] == '"') n--;
    return lower_affix(s, n, a->str, a->str_len, true);
}

int ifv_capital_word_frequency(const ifv_args *a, const char *s, size_t n) {
    return compare((long)ifv_count_capital_words(s, n), a);
}

static int english(const char *s, size_t n) {
    const char *lang = ifv_detect_language(s, n);
    return !lang || !strcmp(lang, "en");
}

int ifv_english_capital(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    return ifv_is_upper_text(s, n) && english(s, n);
}

int ifv_english_lowercase(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    return ifv_is_lower_text(s, n) && english(s, n);
}

int ifv_no_comma(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    return memchr(s, ',', n) == NULL;
}

int ifv_quotation(const ifv_args *a, const char *s, size_t n) {
    (void)a;
    ifv_strip(&s, &n);
    return n > 1 && s[0] == '"' && s[n - 1] == '"';
}
