/* See fuzz_util.h. */
#include "fuzz_util.h"

#include "iopo/fileio.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void __sanitizer_set_report_fd(void *fd);

static char g_dir[256];

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat sb;
            if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(sub);
            else unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static void cleanup(void) {
    if (g_dir[0]) remove_tree(g_dir);
}

const char *fz_dir(void) {
    if (g_dir[0]) return g_dir;
    const char *base = getenv("TMPDIR");
    struct stat sb;
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    if (!base || !base[0]) base = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/iopo-fuzz-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(g_dir)) {
        perror(g_dir);
        abort();
    }
    atexit(cleanup);
    return g_dir;
}

const char *fz_write(int slot, const char *name, const void *data, size_t len) {
    static char paths[4][512];
    char *p = paths[slot & 3];
    snprintf(p, sizeof paths[0], "%s/%s", fz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

void fz_fail(const char *fmt, ...) {
    fz_quiet_end();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\nINVARIANT BROKEN: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static int g_saved_stderr = -1, g_report_fd = -1, g_null = -1;

void fz_quiet_begin(void) {
    if (g_report_fd < 0) {
        /* Sanitizer reports go to a copy of the real stderr, so a crash inside a quiet call is still reported. */
        g_report_fd = dup(2);
        g_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (g_report_fd < 0 || g_null < 0) abort();
        __sanitizer_set_report_fd((void *)(intptr_t)g_report_fd);
    }
    fflush(stderr);
    g_saved_stderr = dup(2);
    dup2(g_null, 2);
}

void fz_quiet_end(void) {
    if (g_saved_stderr < 0) return;
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    g_saved_stderr = -1;
}

/* ---- tokenizers ---- */

static const char QWEN_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
                              "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static cJSON *demo_json(void) {
    char err[512];
    size_t len;
    char *text = iopo_read_file(IOPO_ASSETS "/demo/tokenizer.json", &len, err, sizeof err);
    if (!text) fz_fail("%s", err);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) fz_fail("%s/demo/tokenizer.json: not JSON", IOPO_ASSETS);
    return j;
}

static void write_json(const char *name, const cJSON *j, char *path, size_t n) {
    char *s = cJSON_Print(j);
    snprintf(path, n, "%s", fz_write(0, name, s, strlen(s)));
    free(s);
}

static void make_split(bool nfc, char *path, size_t n) {
    cJSON *q = demo_json();
    cJSON *model = cJSON_GetObjectItem(q, "model");
    cJSON_ReplaceItemInObject(model, "ignore_merges", cJSON_CreateTrue());
    if (nfc) {
        cJSON *norm = cJSON_CreateObject();
        cJSON_AddStringToObject(norm, "type", "NFC");
        cJSON_ReplaceItemInObject(q, "normalizer", norm);
    }
    cJSON *pre = cJSON_CreateObject();
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", QWEN_RE);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddFalseToObject(split, "invert");
    cJSON_AddItemToArray(list, split);
    cJSON_AddItemToArray(list, cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                                           "\"trim_offsets\":false,\"use_regex\":false}"));
    cJSON_ReplaceItemInObject(q, "pre_tokenizer", pre);
    cJSON *added = cJSON_GetObjectItem(q, "added_tokens");
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":600,\"content\":\"<|im_start|>\",\"special\":true}"));
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":601,\"content\":\"<|im_end|>\",\"special\":true}"));
    cJSON_AddItemToArray(added, cJSON_Parse("{\"id\":602,\"content\":\"<think>\",\"special\":false}"));
    write_json(nfc ? "split_nfc_tokenizer.json" : "split_tokenizer.json", q, path, n);
    cJSON_Delete(q);
}

static void make_gpt2(char *path, size_t n) {
    cJSON *q = demo_json();
    cJSON *model = cJSON_GetObjectItem(q, "model");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gpt2", fz_dir());
    mkdir(dir, 0700);
    char enc_path[600];
    write_json("gpt2/encoder.json", cJSON_GetObjectItem(model, "vocab"), enc_path, sizeof enc_path);
    size_t cap = 1 << 16, len = 0;
    char *bpe = malloc(cap);
    len = (size_t)snprintf(bpe, cap, "#version: 0.2\n");
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(model, "merges")) {
        size_t need = strlen(m->valuestring) + 2;
        if (len + need >= cap) bpe = realloc(bpe, cap *= 2);
        len += (size_t)snprintf(bpe + len, cap - len, "%s\n", m->valuestring);
    }
    fz_write(0, "gpt2/vocab.bpe", bpe, len);
    free(bpe);
    snprintf(path, n, "%s", enc_path);
    cJSON_Delete(q);
}

static iopo_tokenizer *g_tok[FZ_TOK_COUNT];
static char g_tok_path[FZ_TOK_COUNT][600];

static void free_tokenizers(void) {
    for (int i = 0; i < FZ_TOK_COUNT; i++) iopo_tokenizer_free(g_tok[i]);
}

const char *fz_tokenizer_path(fz_tok_kind kind) {
    fz_tokenizer(kind);
    return g_tok_path[kind];
}

const iopo_tokenizer *fz_tokenizer(fz_tok_kind kind) {
    if (g_tok[kind]) return g_tok[kind];
    char *path = g_tok_path[kind];
    size_t n = sizeof g_tok_path[kind];
    switch (kind) {
    case FZ_TOK_DEMO: snprintf(path, n, "%s/demo/tokenizer.json", IOPO_ASSETS); break;
    case FZ_TOK_SPLIT: make_split(false, path, n); break;
    case FZ_TOK_SPLIT_NFC: make_split(true, path, n); break;
    default: make_gpt2(path, n); break;
    }
    char err[1024];
    g_tok[kind] = iopo_tokenizer_load(path, err, sizeof err);
    if (!g_tok[kind]) fz_fail("harness tokenizer %s does not load: %s", path, err);
    static bool registered;
    if (!registered) atexit(free_tokenizers);
    registered = true;
    return g_tok[kind];
}

/* ---- datasets ---- */

void fz_check_example(const iopo_example *e, int limit, int vocab, const char *what) {
    FZ_CHECK(e->n >= 1 && e->n <= limit, "%s: %d tokens, limit %d", what, e->n, limit);
    FZ_CHECK(e->label[0] == 0, "%s: label[0] is %d", what, e->label[0]);
    for (int i = 0; i < e->n; i++) {
        FZ_CHECK(e->ids[i] >= 0 && e->ids[i] < vocab, "%s: id %d at %d outside [0, %d)", what, e->ids[i], i, vocab);
        FZ_CHECK(e->label[i] <= 1, "%s: label %d at %d", what, e->label[i], i);
    }
}

