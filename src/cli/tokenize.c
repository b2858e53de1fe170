/* `iopo tokenize`: text on stdin to token ids on stdout, or ids back to text, with any tokenizer iopo loads. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo tokenize --tokenizer PATH [--decode] [--no-special] [--json] [--lines]\n\n"
            "Reads text from stdin and prints its token ids on one line, space separated. PATH is a tokenizer.json,\n"
            "GPT-2's encoder.json (with vocab.bpe beside it), or a directory holding either.\n\n"
            "  --decode      read token ids instead (whitespace separated, or a JSON array) and print the text\n"
            "  --no-special  encode special tokens written in the text (e.g. <|endoftext|>) as plain text\n"
            "  --json        print the ids as a JSON array\n"
            "  --lines       treat each input line (without its newline) as a separate text: one output line each\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, stdin);
        if (ferror(stdin)) break;
        if (feof(stdin)) {
            buf[n] = 0;
            *len = n;
            return buf;
        }
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    free(buf);
    return NULL;
}

static void print_ids(const int32_t *ids, long n, bool json) {
    if (json) putchar('[');
    for (long i = 0; i < n; i++) printf(i ? (json ? ",%d" : " %d") : "%d", ids[i]);
    puts(json ? "]" : "");
}

/* Parses the ids of s[0..n) (whitespace separated, or one JSON array) into *ids; false with a message. */
static bool parse_ids(const char *s, size_t n, int32_t **ids, size_t *count, size_t line, char *msg, size_t msglen) {
    size_t cap = 16, k = 0, i = 0;
    int32_t *v = malloc(cap * sizeof *v);
    bool array = false, closed = false;
    while (i < n && isspace((unsigned char)s[i])) i++;
    if (i < n && s[i] == '[') array = true, i++;
    while (v) {
        while (i < n && (isspace((unsigned char)s[i]) || (array && s[i] == ','))) i++;
        if (i == n) break;
        if (array && s[i] == ']') {
            closed = true;
            i++;
            while (i < n && isspace((unsigned char)s[i])) i++;
            if (i < n) {
                snprintf(msg, msglen, "line %zu: text after the closing ']'", line);
                free(v);
                return false;
            }
            break;
        }
        char tokbuf[24];
        size_t j = i;
        while (j < n && !isspace((unsigned char)s[j]) && s[j] != ',' && s[j] != ']') j++;
        size_t tl = j - i < sizeof tokbuf - 1 ? j - i : sizeof tokbuf - 1;
        memcpy(tokbuf, s + i, tl);
        tokbuf[tl] = 0;
        char *end;
        errno = 0;
        long id = strtol(tokbuf, &end, 10);
        if (j - i != tl || *end || end == tokbuf || errno || id < 0 || id > INT32_MAX) {
            snprintf(msg, msglen, "line %zu: '%.*s' is not a token id", line, (int)(j - i > 40 ? 40 : j - i), s + i);
            free(v);
            return false;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[k++] = (int32_t)id;
        i = j;
    }
    if (!v || (array && !closed)) {
        snprintf(msg, msglen, v ? "line %zu: JSON array without its closing ']'" : "out of memory", line);
        free(v);
        return false;
    }
    *ids = v;
    *count = k;
    return true;
}

/* Encodes or decodes one text (the whole input, or one line of it); false after printing the error. */
static bool process(const iopo_tokenizer *tok, const char *s, size_t n, size_t line, bool decode, bool special,
                    bool json, bool lines) {
    char err[512];
    if (decode) {
        int32_t *ids;
        size_t count, len;
        if (!parse_ids(s, n, &ids, &count, line, err, sizeof err)) {
            fprintf(stderr, "iopo tokenize: stdin: %s\n", err);
            return false;
        }
        char *text = iopo_tokenizer_decode(tok, ids, count, &len, err, sizeof err);
        free(ids);
        if (!text) {
            fprintf(stderr, "iopo tokenize: stdin line %zu: %s\n", line, err);
            return false;
        }
        fwrite(text, 1, len, stdout);
        if (lines) putchar('\n');
        free(text);
        return true;
    }
    int32_t *ids;
    long count = iopo_tokenizer_encode(tok, s, n, special, &ids, err, sizeof err);
    if (count < 0) {
        fprintf(stderr, "iopo tokenize: %s\n", err);
        return false;
    }
    print_ids(ids, count, json);
    free(ids);
    return true;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    bool decode = false, special = true, json = false, lines = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--tokenizer", &path)) {
        } else if (strcmp(argv[i], "--decode") == 0) {
            decode = true;
        } else if (strcmp(argv[i], "--no-special") == 0) {
            special = false;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--lines") == 0) {
            lines = true;
        } else {
            fprintf(stderr, "iopo tokenize: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "iopo tokenize: --tokenizer PATH is required\n");
        return 2;
    }
    if (decode && json) {
        fprintf(stderr, "iopo tokenize: --json is for encoding (--decode reads JSON arrays as they are)\n");
        return 2;
    }
    if (!cli_tokenizer_exists("tokenize", path)) return 1;
    char err[512];
    iopo_tokenizer *tok = iopo_tokenizer_load(path, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "iopo tokenize: %s\n", err);
        return 1;
    }
    size_t len;
    char *in = read_stdin(&len);
    if (!in) {
        fprintf(stderr, "iopo tokenize: stdin: %s\n", ferror(stdin) ? strerror(errno) : "out of memory");
        iopo_tokenizer_free(tok);
        return 1;
    }
    bool ok = true;
    if (!lines) {
        ok = process(tok, in, len, 1, decode, special, json, false);
    } else {
        size_t line = 1;
        for (const char *p = in, *end = in + len; ok && p < end; line++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            ok = process(tok, p, n, line, decode, special, json, true);
            p += n + (nl != NULL);
        }
    }
    free(in);
    iopo_tokenizer_free(tok);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "iopo tokenize: stdout: %s\n", strerror(errno));
        return 1;
    }
    return ok ? 0 : 1;
}
