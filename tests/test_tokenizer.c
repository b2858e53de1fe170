/* Tokenizer checks on the demo tokenizer (assets/demo) and on variants of it this test writes: GPT-2's original
 * encoder.json + vocab.bpe layout, merges as ["a", "b"] pairs, a Qwen/Llama 3 style Split + ByteLevel pipeline with
 * ignore_merges and NFC, and malformed files. Expected ids come from tools/make_tokenizer.py's own encoder (the
 * original GPT-2 merge loop with a hand-written pre-tokenizer), not from iopo.
 * Usage: test_tokenizer ASSETS_DEMO_DIR */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/tokenizer.h"
#include "tokenizer/tok_internal.h"

#include "test_check.h"

static char tmpdir[256];
static char err[1024];

static iopo_tokenizer *load(const char *path) {
    iopo_tokenizer *t = iopo_tokenizer_load(path, err, sizeof err);
    CHECK(t != NULL, "load %s: %s", path, err);
    return t;
}

static long enc(const iopo_tokenizer *t, const char *s, size_t n, bool special, int32_t **ids) {
    long k = iopo_tokenizer_encode(t, s, n, special, ids, err, sizeof err);
    CHECK(k >= 0, "encode: %s", err);
    return k;
}

static void print_ids(const char *label, const int32_t *v, long n) {
    printf("    %s:", label);
    for (long i = 0; i < n && i < 40; i++) printf(" %d", v[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

static void expect_ids(const iopo_tokenizer *t, const char *text, bool special, const int32_t *want, long nwant) {
    int32_t *ids;
    long n = enc(t, text, strlen(text), special, &ids);
    bool same = n == nwant && memcmp(ids, want, (size_t)n * sizeof *ids) == 0;
    CHECK(same, "ids of \"%s\" (special=%d)", text, special);
    if (!same && n >= 0) {
        print_ids("got ", ids, n);
        print_ids("want", want, nwant);
    }
    free(ids);
}

/* decode(encode(x)) == x, byte for byte. */
static void round_trip(const iopo_tokenizer *t, const char *label, const char *s, size_t n) {
    int32_t *ids;
    long k = enc(t, s, n, true, &ids);
    if (k < 0) return;
    size_t len;
    char *back = iopo_tokenizer_decode(t, ids, (size_t)k, &len, err, sizeof err);
    CHECK(back && len == n && memcmp(back, s, n) == 0, "round trip of %s (%zu bytes, %ld ids): %s", label, n, k,
          back ? "text differs" : err);
    free(back);
    free(ids);
}

static const struct {
    const char *label, *text;
} samples[] = {
    {"English", "The quick brown fox jumps over the lazy dog. It's 5 o'clock; don't panic, we'll see."},
    {"Chinese",
     "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4"
     "\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd\xe3\x80\x82"},
    {"code", "int main(void) {\n    for (int i = 0; i < 10; i++) printf(\"%d\\n\", i);\n\treturn 0;\n}\n"},
    {"numbers", "3.14159 2718281828459045 1,000,000 -42 0x1F 1e-9 12345678901234567890"},
    {"emoji", "\xf0\x9f\x98\x80 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80"
              "\x8d\xf0\x9f\x91\xa7 \xe2\x9d\xa4\xef\xb8\x8f"},
    {"whitespace", "   leading\n\n\n  mixed \t \r\n trailing   \t\n\n   "},
    {"invalid UTF-8",
     "ok \xff\xfe bad \xc3 half \xe4\xbd lone \x80\x80 end \xed\xa0\x80 surrogate \xf8\x88\x80\x80\x80"},
    {"special", "a<|endoftext|>b <|endoftext|><|endoftext|> <|endof"},
    {"control", "\x01\x02\x7f\x1b[0m \xc2\x85 \xef\xbb\xbf"},
};

static void round_trips(const iopo_tokenizer *t, const char *name) {
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char label[128];
        snprintf(label, sizeof label, "%s on %s", samples[i].label, name);
        round_trip(t, label, samples[i].text, strlen(samples[i].text));
    }
    /* Every byte value, including NUL. */
    char all[512];
    for (int i = 0; i < 512; i++) all[i] = (char)(i & 255);
    char label[128];
    snprintf(label, sizeof label, "all 256 bytes on %s", name);
    round_trip(t, label, all, sizeof all);
}

static void same_ids(const iopo_tokenizer *a, const iopo_tokenizer *b, const char *text, size_t n, const char *what) {
    int32_t *x, *y;
    long nx = enc(a, text, n, true, &x), ny = enc(b, text, n, true, &y);
    CHECK(nx >= 0 && nx == ny && memcmp(x, y, (size_t)nx * sizeof *x) == 0, "%s: %ld vs %ld ids", what, nx, ny);
    free(x);
    free(y);
}

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_json(const char *path, const cJSON *j) {
    char *s = cJSON_Print(j);
    CHECK(s && iopo_write_file_atomic(path, s, strlen(s), err, sizeof err), "write %s: %s", path, err);
    free(s);
}

static void write_text(const char *path, const char *s) {
    char parent[512];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = 0;
    CHECK(iopo_mkdirs(parent, err, sizeof err), "mkdir %s: %s", parent, err);
    CHECK(iopo_write_file_atomic(path, s, strlen(s), err, sizeof err), "write %s: %s", path, err);
}

/* Loading must fail with a message naming `file` and containing `what`. */
static void expect_reject(const char *path, const char *file, const char *what) {
    iopo_tokenizer *t = iopo_tokenizer_load(path, err, sizeof err);
    CHECK(!t && strstr(err, file) && strstr(err, what), "%s should be rejected naming %s and '%s'; got: %s", path, file,
          what, t ? "(loaded)" : err);
    iopo_tokenizer_free(t);
}

/* Does `pattern` (as a tokenizer regex) match all of `subject`? */
static bool regex_matches(const char *pattern, const char *subject) {
    pcre2_code *re = tok_regex_compile(pattern, strlen(pattern), err, sizeof err);
    CHECK(re != NULL, "regex %s: %s", pattern, err);
    if (!re) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc > 0;
}

/* \s means Unicode White_Space, as in the Rust (Oniguruma), Python (regex) and JavaScript engines the tokenizers
 * come from: U+0085 and U+3000 are spaces, U+180E, U+FEFF and U+200B are not; escapes around it keep their meaning. */
static void regex_semantics(void) {
    CHECK(regex_matches("\\s+", "\xc2\x85 \t\xe3\x80\x80\xc2\xa0"), "\\s matches NEL, space, tab, U+3000, NBSP");
    CHECK(!regex_matches("\\s", "\xef\xbb\xbf") && !regex_matches("\\s", "\xe2\x80\x8b"), "\\s: not U+FEFF or U+200B");
    CHECK(!regex_matches("\\s", "\xe1\xa0\x8e") && regex_matches("\\S", "\xe1\xa0\x8e"), "\\s: not U+180E");
    CHECK(regex_matches("\\S", "\xef\xbb\xbf") && !regex_matches("\\S", "\xc2\x85"), "\\S is the complement");
    CHECK(!regex_matches("[^\\s\\p{L}]", "\xc2\x85") && regex_matches("[^\\s\\p{L}]", "!"),
          "\\s inside a negated class");
    CHECK(regex_matches("a\\\\s", "a\\s") && !regex_matches("a\\\\s", "a "), "an escaped backslash before s");
    CHECK(regex_matches("\\Q\\s\\E", "\\s"), "\\s quoted by \\Q...\\E stays literal");
    CHECK(regex_matches("\\p{L}+\\p{N}", "\xc3\xa9\xe4\xbd\xa0x\xd9\xa3"), "\\p{L} and \\p{N} are Unicode classes");
    CHECK(regex_matches("(?i:'s)", "'S"), "inline case-insensitive group");
}

/* iopo_utf8_lossy against what Python 3's bytes.decode("utf-8", errors="replace") gives for the same bytes. */
static void utf8_lossy_cases(void) {
    static const struct {
        const char *in, *want;
        size_t n;
    } cases[] = {
        {"a\xe2\x82", "a\xef\xbf\xbd", 3},                                  /* cut inside a character */
        {"a\xe2\x82" "b", "a\xef\xbf\xbd" "b", 4},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},            /* a surrogate */
        {"\xf0\x9f\x98\x80x", "\xf0\x9f\x98\x80x", 5},                         /* valid: kept */
        {"\xf0\x9f\x98", "\xef\xbf\xbd", 3},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 2},                           /* overlong */
        {"\xff", "\xef\xbf\xbd", 1},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 4},  /* above U+10FFFF */
        {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},
        {"\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd", 2},
        {"\xc3\xa9\xc3", "\xc3\xa9\xef\xbf\xbd", 3},
        {"a\0b", "a\xef\xbf\xbd" "b", 3},                                     /* NUL: the result is a C string */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *got = iopo_utf8_lossy(cases[i].in, cases[i].n, &len);
        CHECK(got && len == strlen(cases[i].want) && memcmp(got, cases[i].want, len) == 0,
              "utf8_lossy case %zu: got %zu bytes, want %zu", i, got ? len : 0, strlen(cases[i].want));
        free(got);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_tokenizer ASSETS_DEMO_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char demo_path[512], corpus_path[512];
    snprintf(demo_path, sizeof demo_path, "%s/tokenizer.json", dir);
    snprintf(corpus_path, sizeof corpus_path, "%s/corpus.txt", dir);
    snprintf(tmpdir, sizeof tmpdir, "%s/iopo_tok_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    size_t corpus_len, demo_len;
    char *corpus = iopo_read_file(corpus_path, &corpus_len, err, sizeof err);
    char *demo_text = iopo_read_file(demo_path, &demo_len, err, sizeof err);
    if (!corpus || !demo_text) {
        fprintf(stderr, "test_tokenizer: %s\n", err);
        return 1;
    }

    regex_semantics();
    utf8_lossy_cases();

    /* ---- the demo tokenizer: ids from tools/make_tokenizer.py encode ---- */
    iopo_tokenizer *demo = load(demo_path);
    if (!demo) return 1;
    CHECK(iopo_tokenizer_vocab_size(demo) == 512, "vocab size %d, want 512", iopo_tokenizer_vocab_size(demo));
    CHECK(iopo_tokenizer_token_id(demo, "<|endoftext|>") == 511, "<|endoftext|> id");
    CHECK(iopo_tokenizer_token_id(demo, "\xc4\xa0the") >= 256, "Gthe is a merged token");
    CHECK(iopo_tokenizer_token_id(demo, "A") == 65 && iopo_tokenizer_token_id(demo, "nope-not-a-token") == -1,
          "token_id of a byte and of a missing string");
    expect_ids(demo, "The weather is warm today.", true,
               (const int32_t[]){466, 346, 280, 340, 274, 263, 279, 109, 294, 100, 305, 46}, 12);
    expect_ids(demo, "Hello, world!", true, (const int32_t[]){72, 101, 286, 111, 44, 263, 289, 345, 33}, 9);
    expect_ids(demo, "don't stop: 3 + 4 = 7", true,
               (const int32_t[]){100, 315, 39, 116, 318, 111, 112, 58, 382, 32, 43, 401, 32, 61, 462}, 15);
    expect_ids(demo, "  two  spaces\n\nand tabs\t\tend  ", true,
               (const int32_t[]){32, 413, 32, 456, 321, 268, 10, 10, 97, 262, 256, 97, 98, 115, 9, 9, 101, 262, 32, 32},
               20);
    expect_ids(demo, "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80", true,
               (const int32_t[]){99, 97, 102, 195, 169, 32, 228, 189, 160, 229, 165, 189, 32, 240, 159, 152, 128}, 17);
    /* Special tokens: cut out with special = true, plain text with false. */
    expect_ids(demo, "Hello world<|endoftext|> The", true,
               (const int32_t[]){72, 101, 286, 111, 263, 289, 345, 511, 322}, 9);
    expect_ids(
        demo, "Hello world<|endoftext|> The", false,
        (const int32_t[]){72, 101, 286, 111, 263, 289, 345, 60, 124, 101, 262, 111, 102, 359, 120, 116, 124, 62, 322},
        19);
    expect_ids(demo, "<|endoftext|><|endoftext|>", true, (const int32_t[]){511, 511}, 2);
    expect_ids(demo, "", true, (const int32_t[]){0}, 0);
    round_trips(demo, "demo");

    /* Decoding: the special token is its content; unknown ids are errors; partial UTF-8 comes back as bytes. */
    size_t len;
    char *s = iopo_tokenizer_decode(demo, (const int32_t[]){72, 511, 228, 189}, 4, &len, err, sizeof err);
    CHECK(s && len == 16 && memcmp(s, "H<|endoftext|>\xe4\xbd", 16) == 0 && s[16] == 0, "decode with special token");
    free(s);
    s = iopo_tokenizer_decode(demo, (const int32_t[]){72, 512}, 2, &len, err, sizeof err);
    CHECK(!s && strstr(err, "512") && strstr(err, "tokenizer.json"), "decode of unknown id 512: %s", s ? "ok" : err);
    free(s);
    s = iopo_tokenizer_decode(demo, (const int32_t[]){-1}, 1, &len, err, sizeof err);
    CHECK(!s, "decode of id -1 must fail");
    free(s);

    /* A few MB in one call: seconds at most, and the same ids as the pieces encoded alone (the corpus ends with a
     * newline and starts with a letter, so copies split exactly at their seams). */
    {
        int32_t *one;
        long n1 = enc(demo, corpus, corpus_len, true, &one);
        const int copies = 40;
        char *big = malloc(corpus_len * copies);
        for (int i = 0; i < copies; i++) memcpy(big + i * corpus_len, corpus, corpus_len);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int32_t *many;
        long nm = enc(demo, big, corpus_len * copies, true, &many);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("encoded %.1f MB into %ld ids in %.3f s\n", (double)(corpus_len * copies) / 1e6, nm, secs);
        bool same = nm == n1 * copies;
        for (int i = 0; same && i < copies; i++) same = memcmp(many + i * n1, one, (size_t)n1 * sizeof *one) == 0;
        CHECK(same, "corpus x %d: %ld ids, want %ld x %d", copies, nm, n1, copies);
        CHECK(secs < 20, "encoding %.1f MB took %.1f s", (double)(corpus_len * copies) / 1e6, secs);
        CHECK(n1 > 0 && n1 < (long)corpus_len / 2, "the demo tokenizer compresses its corpus (%ld ids)", n1);
        size_t blen;
        char *back = iopo_tokenizer_decode(demo, many, (size_t)nm, &blen, err, sizeof err);
        CHECK(back && blen == corpus_len * copies && memcmp(back, big, blen) == 0, "big round trip");
        free(back);
        free(big);
        free(many);
        free(one);
        /* A pathological pre-token: one long digit run and one long space run. */
        char *digits = malloc(200001);
        for (int i = 0; i < 200000; i++) digits[i] = i < 100000 ? (char)('0' + i % 10) : ' ';
        round_trip(demo, "100k digits + 100k spaces", digits, 200000);
        free(digits);
    }

    /* ---- merges as ["a", "b"] pairs, and GPT-2's encoder.json + vocab.bpe ---- */
    cJSON *root = cJSON_Parse(demo_text);
    cJSON *model = cJSON_GetObjectItem(root, "model");
    cJSON *merges = cJSON_GetObjectItem(model, "merges");
    cJSON *pairs = cJSON_CreateArray();
    size_t bpe_cap = 64, bpe_n = 0;
    char *bpe = malloc(bpe_cap);
    bpe_n = (size_t)sprintf(bpe, "#version: 0.2\n");
    for (cJSON *m = merges->child; m; m = m->next) {
        char *sp = strchr(m->valuestring, ' ');
        *sp = 0;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(m->valuestring));
        cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
        cJSON_AddItemToArray(pairs, pair);
        *sp = ' ';
        size_t l = strlen(m->valuestring);
        if (bpe_n + l + 2 > bpe_cap) bpe = realloc(bpe, bpe_cap = (bpe_n + l + 2) * 2);
        bpe_n += (size_t)sprintf(bpe + bpe_n, "%s\n", m->valuestring);
    }
    cJSON_ReplaceItemInObject(model, "merges", pairs);
    write_json(tmp_path("pairs.json"), root);
    iopo_tokenizer *pair_tok = load(tmp_path("pairs.json"));
    if (pair_tok) {
        same_ids(demo, pair_tok, corpus, corpus_len, "merges as pairs vs as strings");
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
            same_ids(demo, pair_tok, samples[i].text, strlen(samples[i].text), samples[i].label);
    }
    iopo_tokenizer_free(pair_tok);

    char gpt2dir[512];
    snprintf(gpt2dir, sizeof gpt2dir, "%s/gpt2", tmpdir);
    CHECK(iopo_mkdirs(gpt2dir, err, sizeof err), "mkdir: %s", err);
    write_json(tmp_path("gpt2/encoder.json"), cJSON_GetObjectItem(model, "vocab"));
    write_text(tmp_path("gpt2/vocab.bpe"), bpe);
    iopo_tokenizer *gpt2 = load(tmp_path("gpt2/encoder.json")); /* the file */
    iopo_tokenizer *gpt2_dir = load(gpt2dir);                   /* the directory */
    iopo_tokenizer *demo_dir = load(dir);                       /* a directory holding tokenizer.json */
    if (gpt2 && gpt2_dir && demo_dir) {
        same_ids(demo, gpt2, corpus, corpus_len, "encoder.json + vocab.bpe vs tokenizer.json");
        same_ids(demo, gpt2_dir, samples[7].text, strlen(samples[7].text), "encoder.json directory, special tokens");
        same_ids(demo, demo_dir, corpus, corpus_len, "tokenizer.json directory");
        CHECK(iopo_tokenizer_token_id(gpt2, "<|endoftext|>") == 511 && iopo_tokenizer_vocab_size(gpt2) == 512,
              "encoder.json: <|endoftext|> and vocab size");
        round_trips(gpt2, "encoder.json");
    }
    iopo_tokenizer_free(gpt2);
    iopo_tokenizer_free(gpt2_dir);
    iopo_tokenizer_free(demo_dir);

    /* ---- Qwen2/Qwen3/Llama 3 style: Split(regex, Isolated) + ByteLevel(use_regex false), ignore_merges, NFC,
     * and added tokens beyond the vocabulary, special and not ---- */
    static const char QWEN_RE[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    cJSON *q = cJSON_Parse(demo_text);
    cJSON *qmodel = cJSON_GetObjectItem(q, "model");
    cJSON_ReplaceItemInObject(qmodel, "ignore_merges", cJSON_CreateTrue());
    /* A vocabulary entry no merge sequence builds: only ignore_merges can produce it. */
    cJSON_AddItemToObject(cJSON_GetObjectItem(qmodel, "vocab"), "zqxj", cJSON_CreateNumber(600));
    cJSON *norm = cJSON_CreateObject();
    cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON_ReplaceItemInObject(q, "normalizer", norm);
    cJSON *pre =
        cJSON_Parse("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},"
                    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
                    "false,\"trim_offsets\":false,\"use_regex\":false}]}");
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(pre, "pretokenizers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(split, "pattern"), "Regex", cJSON_CreateString(QWEN_RE));
    cJSON_ReplaceItemInObject(q, "pre_tokenizer", pre);
    cJSON *added = cJSON_GetObjectItem(q, "added_tokens");
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":700,\"content\":\"<|im_start|>\",\"special\":true}"));
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":701,\"content\":\"<think>\",\"special\":false}"));
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":702,\"content\":\"<|im_start|>x\",\"special\":true}"));
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":703,\"content\":\"[M]\",\"special\":true,\"lstrip\":true,"
                                            "\"rstrip\":true}"));
    write_json(tmp_path("qwen.json"), q);
    iopo_tokenizer *qwen = load(tmp_path("qwen.json"));
    if (qwen) {
        CHECK(iopo_tokenizer_vocab_size(qwen) == 704, "qwen-style vocab size %d", iopo_tokenizer_vocab_size(qwen));
        /* Digits one by one, whatever the merges say. */
        expect_ids(qwen, "12345", true, (const int32_t[]){49, 50, 51, 52, 53}, 5);
        expect_ids(qwen, "zqxj", true, (const int32_t[]){600}, 1);
        int32_t *a, *b;
        long na = enc(demo, "zqxj", 4, true, &a);
        CHECK(na > 1 && a[0] != 600, "without ignore_merges zqxj is pieces");
        free(a);
        /* "abc 12345": "abc", " ", then digits; the GPT-2 pattern would give "abc", " 12345". */
        na = enc(qwen, "Hello 42", 8, true, &a);
        long nb = enc(demo, "Hello", 5, true, &b);
        CHECK(na == nb + 3 && memcmp(a, b, (size_t)nb * sizeof *a) == 0 && a[nb] == 32 && a[nb + 1] == 52 &&
                  a[nb + 2] == 50,
              "Qwen-style split of \"Hello 42\"");
        free(a);
        free(b);
        /* Longest added token wins; non-special added tokens are matched even with special = false. */
        expect_ids(qwen, "<|im_start|>x<|im_start|>y", true, (const int32_t[]){702, 700, 121}, 3);
        expect_ids(qwen, "<think>", false, (const int32_t[]){701}, 1);
        na = enc(qwen, "<|im_start|>", 12, false, &a);
        CHECK(na > 1, "special=false encodes <|im_start|> as text");
        free(a);
        /* lstrip/rstrip take the whitespace around the token. */
        expect_ids(qwen, "a  [M]\n b", true, (const int32_t[]){97, 703, 98}, 3);
        /* NFC: "e" + combining acute is the same text as the precomposed e-acute. */
        int32_t *c;
        na = iopo_tokenizer_encode(qwen, "cafe\xcc\x81!", 7, true, &a, err, sizeof err);
        CHECK(na >= 0, "NFC encode: %s", err);
        nb = enc(qwen, "caf\xc3\xa9!", 6, true, &b);
        long nc = enc(demo, "cafe\xcc\x81!", 7, true, &c);
        CHECK(na >= 0 && na == nb && memcmp(a, b, (size_t)nb * sizeof *a) == 0, "NFC composes e + U+0301");
        CHECK(nc != nb, "the demo tokenizer (no normalizer) keeps U+0301");
        if (na >= 0) free(a);
        free(b);
        free(c);
        /* NFC around invalid bytes. */
        na = iopo_tokenizer_encode(qwen,
                                   "\xff"
                                   "e\xcc\x81\xfe",
                                   5, true, &a, err, sizeof err);
        nb = enc(qwen, "\xff\xc3\xa9\xfe", 4, true, &b);
        CHECK(na >= 0 && na == nb && memcmp(a, b, (size_t)nb * sizeof *a) == 0, "NFC next to invalid UTF-8: %s",
              na < 0 ? err : "ids differ");
        if (na >= 0) free(a);
        free(b);
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
            if (strchr(samples[i].text, '\xcc')) continue; /* NFC changes such text: not a round trip */
            char label[128];
            snprintf(label, sizeof label, "%s on qwen-style", samples[i].label);
            round_trip(qwen, label, samples[i].text, strlen(samples[i].text));
        }
        round_trip(qwen, "corpus on qwen-style", corpus, corpus_len);
    }
    iopo_tokenizer_free(qwen);

    /* ---- malformed files: rejected with the file named ---- */
    write_text(tmp_path("notjson.json"), "{\"model\": {\"vocab\": {\"a\": 0,}");
    expect_reject(tmp_path("notjson.json"), "notjson.json", "not valid JSON");
    write_text(tmp_path("novocab.json"), "{\"model\": {\"type\": \"BPE\", \"merges\": []}}");
    expect_reject(tmp_path("novocab.json"), "novocab.json", "model.vocab");
    write_text(
        tmp_path("unknown.json"),
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", \"a c\"]},"
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
    expect_reject(tmp_path("unknown.json"), "unknown.json", "model.merges[1]: 'c' is not in the vocabulary");
    write_text(tmp_path("nomerged.json"),
               "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]},"
               "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
    expect_reject(tmp_path("nomerged.json"), "nomerged.json", "merged token 'ab'");
    write_text(tmp_path("badmerge.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]},"
                                          "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
    expect_reject(tmp_path("badmerge.json"), "badmerge.json", "model.merges[0]");
    write_text(tmp_path("badid.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}");
    expect_reject(tmp_path("badid.json"), "badid.json", "id -3");
    write_text(tmp_path("badre.json"),
               "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\":"
               " \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\\\\p{L}+\"},"
               " \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}}");
    expect_reject(tmp_path("badre.json"), "badre.json", "pre_tokenizer.pretokenizers[0].pattern.Regex: bad regex");
    write_text(tmp_path("wordpiece.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
    expect_reject(tmp_path("wordpiece.json"), "wordpiece.json", "only BPE");
    write_text(tmp_path("metaspace.json"),
               "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
               "{\"type\": \"Metaspace\"}}");
    expect_reject(tmp_path("metaspace.json"), "metaspace.json", "'Metaspace' is not supported");
    write_text(tmp_path("nobytelevel.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    expect_reject(tmp_path("nobytelevel.json"), "nobytelevel.json", "no ByteLevel");
    write_text(tmp_path("array.json"), "[1, 2, 3]");
    expect_reject(tmp_path("array.json"), "array.json", "not a JSON object");
    write_text(tmp_path("enc/encoder.json"), "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    expect_reject(tmp_path("enc/encoder.json"), "vocab.bpe", "vocab.bpe");
    write_text(tmp_path("enc/vocab.bpe"), "#version: 0.2\na b\nb a c\n");
    expect_reject(tmp_path("enc/encoder.json"), "vocab.bpe", "line 3");
    write_text(tmp_path("enc/vocab.bpe"), "#version: 0.2\na b\nb x\n");
    expect_reject(tmp_path("enc"), "vocab.bpe", "line 3: 'x' is not in the vocabulary");
    write_text(tmp_path("enc2/encoder.json"), "{\"a\": 0, \"b\": \"one\"}");
    expect_reject(tmp_path("enc2/encoder.json"), "encoder.json", "\"b\" is not an id");
    expect_reject(tmp_path("missing.json"), "missing.json", "No such file");
    CHECK(iopo_mkdirs(tmp_path("empty"), err, sizeof err), "mkdir");
    expect_reject(tmp_path("empty"), "empty", "neither tokenizer.json nor encoder.json");

    iopo_tokenizer_free(demo);
    cJSON_Delete(root);
    cJSON_Delete(q);
    free(bpe);
    free(corpus);
    free(demo_text);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
