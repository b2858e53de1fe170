/* safetensors reader/writer and atomic file IO.
 *
 *   test_safetensors                          all checks below, in a fresh temporary directory
 *   test_safetensors --write-for-python F     writes the file tests/safetensors_check.py verifies with torch
 *   test_safetensors --check-python-file F    checks every tensor X of a torch-written file against its F32 "X.ref"
 *   test_safetensors --check-rounding F       checks util/half.h's rounding of F32 "x" against torch's "x.bf16", "x.f16"
 *
 * Every malformed file is built byte by byte here, so each rejection test hits exactly one problem. */
#include "iopo/fileio.h"
#include "iopo/safetensors.h"
#include "util/half.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static char tmpdir[256];

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            failures++;                                                                                               \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                                                             \
            fputc('\n', stderr);                                                                                      \
        }                                                                                                             \
    } while (0)

/* buf holds 512 bytes. */
static const char *join(char *buf, const char *dir, const char *name) {
    if (snprintf(buf, 512, "%s/%s", dir, name) >= 512) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
    return buf;
}

static const char *tpath(char *buf, const char *name) { return join(buf, tmpdir, name); }

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

/* A safetensors file from a header string (used verbatim, no padding) and a data section. */
static void write_st(const char *path, const char *header, const void *data, size_t dlen) {
    size_t hlen = strlen(header);
    size_t n = 8 + hlen + dlen;
    uint8_t *buf = malloc(n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (dlen) memcpy(buf + 8 + hlen, data, dlen);
    write_bytes(path, buf, n);
    free(buf);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Open must fail, and the message must name `names_file` and contain `what`. */
static void expect_reject_at(const char *path, const char *names_file, const char *what, int line) {
    char err[1024];
    iopo_safetensors *st = iopo_st_open(path, err, sizeof err);
    if (st) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: %s was accepted (expected: %s)\n", __FILE__, line, path, what);
        iopo_st_close(st);
        return;
    }
    const char *base = strrchr(names_file, '/');
    base = base ? base + 1 : names_file;
    if (!strstr(err, base) || !strstr(err, what) || strchr(err, '\n')) {
        failures++;
        fprintf(stderr, "%s:%d: FAILED: message \"%s\" should name %s and say \"%s\"\n", __FILE__, line, err, base,
                what);
        return;
    }
    printf("  rejected: %s\n", err);
}
#define expect_reject(path, what) expect_reject_at(path, path, what, __LINE__)
#define expect_reject_naming(path, file, what) expect_reject_at(path, file, what, __LINE__)

/* A rejection test: a one-tensor-ish header plus `dlen` data bytes, in a file named after the case. */
static void reject_header(const char *name, const char *header, size_t dlen, const char *what, int line) {
    char p[512];
    tpath(p, name);
    uint8_t data[64] = {0};
    write_st(p, header, data, dlen);
    expect_reject_at(p, p, what, line);
}
#define REJECT(name, header, dlen, what) reject_header(name, header, dlen, what, __LINE__)

static float pattern(int t, size_t i) { return (float)((int)((i * 37) % 101) - 50) / 8.0f + (float)t; }

/* ---------------------------------------------------------------------------------------------------------------- */

static void test_roundtrip(void) {
    char p[512];
    tpath(p, "round.safetensors");
    float a[6], b[5], c[6], s = -3.25f;
    for (int i = 0; i < 6; i++) a[i] = pattern(1, (size_t)i);
    for (int i = 0; i < 5; i++) b[i] = pattern(2, (size_t)i);
    for (int i = 0; i < 6; i++) c[i] = pattern(3, (size_t)i);
    /* Values whose bits must survive: -0, inf, NaN, the smallest subnormal. */
    b[1] = -0.0f;
    b[2] = INFINITY;
    b[3] = NAN;
    b[4] = bits_f32(1);
    const iopo_st_entry e[] = {
        {"a", a, 2, {2, 3}},
        {"b.weight", b, 1, {5}},
        {"scalar", &s, 0, {0}},
        {"empty", NULL, 2, {4, 0}},
        {"c \"quoted\" \\ \xc3\xa9", c, 4, {2, 1, 3, 1}},
    };
    const int n = 5;
    const char *meta[] = {"format", "pt", "note", "line\nbreak \"q\"", NULL};
    char err[512];
    CHECK(iopo_st_write(p, e, n, meta, err, sizeof err), "%s", err);

    /* The layout HF's reader insists on: header length a multiple of 8, tensors back to back, file ends at the last. */
    size_t len = 0;
    char *raw = iopo_read_file(p, &len, err, sizeof err);
    CHECK(raw, "%s", err);
    if (raw) {
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)(uint8_t)raw[i] << (8 * i);
        CHECK(hlen % 8 == 0, "header length %llu", (unsigned long long)hlen);
        CHECK(len == 8 + hlen + (6 + 5 + 1 + 0 + 6) * 4, "file size %zu, header %llu", len, (unsigned long long)hlen);
        CHECK(raw[8] == '{', "header starts with %c", raw[8]);
        free(raw);
    }

    iopo_safetensors *st = iopo_st_open(p, err, sizeof err);
    CHECK(st, "%s", err);
    if (!st) return;
    CHECK(iopo_st_count(st) == n, "count %d", iopo_st_count(st));
    for (int i = 0; i < n && i < iopo_st_count(st); i++) {
        const iopo_st_tensor *t = iopo_st_at(st, i);
        CHECK(!strcmp(t->name, e[i].name), "tensor %d is '%s', expected '%s' (file order)", i, t->name, e[i].name);
        CHECK(t->dtype == IOPO_ST_F32 && t->ndim == e[i].ndim, "'%s' dtype %d ndim %d", t->name, t->dtype, t->ndim);
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            CHECK(t->shape[d] == e[i].shape[d], "'%s' dim %d", t->name, d);
            numel *= (size_t)e[i].shape[d];
        }
        CHECK(t->numel == numel && t->nbytes == numel * 4, "'%s' numel %zu nbytes %zu", t->name, t->numel, t->nbytes);
        CHECK(((uintptr_t)t->data % 4) == 0, "'%s' data not 4-byte aligned", t->name);
        CHECK(!strcmp(t->file, p), "'%s' file %s", t->name, t->file);
        CHECK(iopo_st_find(st, e[i].name) == t, "find '%s'", e[i].name);
        float got[8];
        memset(got, 0xAB, sizeof got);
        CHECK(iopo_st_load_f32(st, e[i].name, e[i].ndim, e[i].shape, got, err, sizeof err), "%s", err);
        for (size_t k = 0; k < numel; k++)
            CHECK(f32_bits(got[k]) == f32_bits(e[i].data[k]), "'%s'[%zu] = %a, wrote %a", t->name, k, got[k],
                  e[i].data[k]);
    }
    CHECK(!iopo_st_find(st, "nope"), "found a tensor that does not exist");
    const char *m = iopo_st_metadata(st);
    CHECK(m, "no metadata");
    cJSON *mj = m ? cJSON_Parse(m) : NULL;
    CHECK(mj, "metadata is not JSON: %s", m ? m : "");
    if (mj) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(mj, "format");
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(mj, "note");
        CHECK(cJSON_IsString(f) && !strcmp(f->valuestring, "pt"), "metadata format: %s", m);
        CHECK(cJSON_IsString(nt) && !strcmp(nt->valuestring, meta[3]), "metadata note: %s", m);
        CHECK(cJSON_GetArraySize(mj) == 2, "metadata size %d", cJSON_GetArraySize(mj));
        cJSON_Delete(mj);
    }
    iopo_st_close(st);

    /* Without metadata and without tensors: still a valid file ("{}" padded). */
    tpath(p, "nothing.safetensors");
    CHECK(iopo_st_write(p, NULL, 0, NULL, err, sizeof err), "%s", err);
    st = iopo_st_open(p, err, sizeof err);
    CHECK(st && iopo_st_count(st) == 0 && !iopo_st_metadata(st), "empty file: %s", st ? "wrong contents" : err);
    iopo_st_close(st);
}

/* Hand-built F16/BF16/I32/I64 file. The header is deliberately unpadded so the data section (and so every tensor) is
 * misaligned: the reader must not load floats through misaligned pointers. */
static void test_half_types(void) {
    static const struct {
        uint16_t bits;
        float want;
    } f16[] = {
        {0x3c00, 1.0f},     {0xc100, -2.5f},        {0x7bff, 65504.0f},          {0x0001, 0x1p-24f},
        {0x03ff, 0x3ffp-24f}, {0x0200, 0x1p-15f},  {0x8001, -0x1p-24f},         {0x0400, 0x1p-14f},
        {0x7c00, INFINITY}, {0xfc00, -INFINITY},    {0x8000, -0.0f},             {0x3555, 0x1.554p-2f},
    };
    static const struct {
        uint16_t bits;
        float want;
    } bf16[] = {
        {0x3f80, 1.0f},  {0xc020, -2.5f},     {0x477f, 65280.0f},  {0x0001, 0x1p-133f}, {0x7f7f, 0x1.fep127f},
        {0x7f80, INFINITY}, {0xff80, -INFINITY}, {0x8000, -0.0f},  {0x0080, 0x1p-126f}, {0x3eab, 0x1.56p-2f},
    };
    const int nf = (int)(sizeof f16 / sizeof f16[0]), nb = (int)(sizeof bf16 / sizeof bf16[0]);
    /* Layout: h F16 [nf+2] (the two NaNs last), b BF16 [nb+1] (NaN last), f F32 [2], i I32 [2], l I64 [1]. */
    uint8_t data[256];
    size_t o = 0;
    for (int i = 0; i < nf + 2; i++) {
        uint16_t v = i < nf ? f16[i].bits : i == nf ? 0x7e00 : 0xfd01; /* quiet NaN, negative NaN with payload */
        data[o++] = (uint8_t)v;
        data[o++] = (uint8_t)(v >> 8);
    }
    size_t b0 = o;
    for (int i = 0; i < nb + 1; i++) {
        uint16_t v = i < nb ? bf16[i].bits : 0x7fc0;
        data[o++] = (uint8_t)v;
        data[o++] = (uint8_t)(v >> 8);
    }
    size_t f0 = o;
    float fv[2] = {1.5f, -7.0f};
    memcpy(data + o, fv, 8);
    o += 8;
    size_t i0 = o;
    int32_t iv[2] = {7, -1};
    memcpy(data + o, iv, 8);
    o += 8;
    size_t l0 = o;
    int64_t lv = 1;
    memcpy(data + o, &lv, 8);
    o += 8;
    char hdr[1024];
    snprintf(hdr, sizeof hdr,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[0,%zu]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]},"
             "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
             "\"i\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[%zu,%zu]},"
             "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}}",
             nf + 2, b0, nb + 1, b0, f0, f0, i0, i0, l0, l0, o);
    if (strlen(hdr) % 4 == 0) strcat(hdr, " "); /* keep the data section misaligned */
    char p[512], err[512];
    tpath(p, "half.safetensors");
    write_st(p, hdr, data, o);

    iopo_safetensors *st = iopo_st_open(p, err, sizeof err);
    CHECK(st, "%s", err);
    if (!st) return;
    const iopo_st_tensor *h = iopo_st_find(st, "h"), *b = iopo_st_find(st, "b"), *f = iopo_st_find(st, "f");
    const iopo_st_tensor *it = iopo_st_find(st, "i"), *l = iopo_st_find(st, "l");
    CHECK(h && b && f && it && l, "missing tensors");
    if (!(h && b && f && it && l)) {
        iopo_st_close(st);
        return;
    }
    CHECK(h->dtype == IOPO_ST_F16 && b->dtype == IOPO_ST_BF16 && it->dtype == IOPO_ST_I32 && l->dtype == IOPO_ST_I64,
          "dtypes %d %d %d %d", h->dtype, b->dtype, it->dtype, l->dtype);
    float out[32];
    CHECK(iopo_st_read_f32(h, out, err, sizeof err), "%s", err);
    for (int i = 0; i < nf; i++)
        CHECK(f32_bits(out[i]) == f32_bits(f16[i].want), "F16 %04x -> %a, expected %a", f16[i].bits, out[i],
              f16[i].want);
    CHECK(isnan(out[nf]) && !signbit(out[nf]), "F16 7e00 -> %a, expected +NaN", out[nf]);
    CHECK(isnan(out[nf + 1]) && signbit(out[nf + 1]), "F16 fd01 -> %a, expected -NaN", out[nf + 1]);
    CHECK(iopo_st_read_f32(b, out, err, sizeof err), "%s", err);
    for (int i = 0; i < nb; i++)
        CHECK(f32_bits(out[i]) == f32_bits(bf16[i].want), "BF16 %04x -> %a, expected %a", bf16[i].bits, out[i],
              bf16[i].want);
    CHECK(isnan(out[nb]), "BF16 7fc0 -> %a, expected NaN", out[nb]);
    CHECK(iopo_st_load_f32(st, "f", 1, (const int64_t[]){2}, out, err, sizeof err), "%s", err);
    CHECK(out[0] == 1.5f && out[1] == -7.0f, "F32 at a misaligned offset: %g %g", out[0], out[1]);

    /* Integers are recognised, but asking for fp32 is an error naming the tensor, file and dtype. */
    err[0] = '\0';
    CHECK(!iopo_st_read_f32(it, out, err, sizeof err), "I32 converted to fp32");
    CHECK(strstr(err, "'i'") && strstr(err, "I32") && strstr(err, "half.safetensors"), "message: %s", err);
    err[0] = '\0';
    CHECK(!iopo_st_load_f32(st, "l", 1, (const int64_t[]){1}, out, err, sizeof err), "I64 converted to fp32");
    CHECK(strstr(err, "'l'") && strstr(err, "I64"), "message: %s", err);
    CHECK(!memcmp(it->data, iv, 8), "I32 bytes");
    iopo_st_close(st);
}

static void write_index(const char *path, const char *body) { write_bytes(path, body, strlen(body)); }

static void test_sharded(void) {
    char dir[512], p[512], q[512], err[1024];
    tpath(dir, "sharded");
    CHECK(iopo_mkdirs(dir, err, sizeof err), "%s", err);
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[3] = {7, 8, 9}, d[1] = {10};
    const iopo_st_entry s1[] = {{"a", a, 2, {2, 2}}, {"b", b, 1, {2}}};
    const iopo_st_entry s2[] = {{"c", c, 1, {3}}, {"transformer.d", d, 1, {1}}};
    const char *meta[] = {"format", "pt", NULL};
    join(p, dir, "model-00001-of-00002.safetensors");
    CHECK(iopo_st_write(p, s1, 2, meta, err, sizeof err), "%s", err);
    join(p, dir, "model-00002-of-00002.safetensors");
    CHECK(iopo_st_write(p, s2, 2, NULL, err, sizeof err), "%s", err);
    join(p, dir, "model.safetensors.index.json");
    write_index(p, "{\"metadata\": {\"total_size\": 40}, \"weight_map\": {"
                   "\"c\": \"model-00002-of-00002.safetensors\", \"a\": \"model-00001-of-00002.safetensors\","
                   "\"b\": \"model-00001-of-00002.safetensors\","
                   "\"transformer.d\": \"model-00002-of-00002.safetensors\"}}");

    for (int via = 0; via < 2; via++) {
        iopo_safetensors *st = iopo_st_open(via ? p : dir, err, sizeof err);
        CHECK(st, "%s", err);
        if (!st) continue;
        CHECK(iopo_st_count(st) == 4, "count %d", iopo_st_count(st));
        /* Shards in name order, tensors in offset order: a, b, c, transformer.d. */
        static const char *const order[] = {"a", "b", "c", "transformer.d"};
        for (int i = 0; i < 4 && i < iopo_st_count(st); i++)
            CHECK(!strcmp(iopo_st_at(st, i)->name, order[i]), "tensor %d is %s", i, iopo_st_at(st, i)->name);
        float out[4];
        CHECK(iopo_st_load_f32(st, "a", 2, (const int64_t[]){2, 2}, out, err, sizeof err), "%s", err);
        CHECK(out[0] == 1 && out[3] == 4, "a = %g..%g", out[0], out[3]);
        CHECK(iopo_st_load_f32(st, "c", 1, (const int64_t[]){3}, out, err, sizeof err), "%s", err);
        CHECK(out[0] == 7 && out[2] == 9, "c = %g..%g", out[0], out[2]);
        CHECK(iopo_st_load_f32(st, "d", 1, (const int64_t[]){1}, out, err, sizeof err), "%s", err);
        CHECK(out[0] == 10, "d = %g", out[0]);
        const iopo_st_tensor *t = iopo_st_find(st, "c");
        CHECK(t && strstr(t->file, "model-00002-of-00002.safetensors"), "c lives in %s", t ? t->file : "?");
        CHECK(iopo_st_metadata(st) && strstr(iopo_st_metadata(st), "\"pt\""), "metadata %s",
              iopo_st_metadata(st) ? iopo_st_metadata(st) : "(none)");
        iopo_st_close(st);
    }

    /* A directory with both: model.safetensors wins. */
    join(q, dir, "model.safetensors");
    CHECK(iopo_st_write(q, s2, 1, NULL, err, sizeof err), "%s", err);
    iopo_safetensors *st = iopo_st_open(dir, err, sizeof err);
    CHECK(st && iopo_st_count(st) == 1, "model.safetensors should win over the index");
    iopo_st_close(st);
    unlink(q);

    /* Broken indexes. */
    char sdir[512];
    tpath(sdir, "shard_bad");
    CHECK(iopo_mkdirs(sdir, err, sizeof err), "%s", err);
    const iopo_st_entry dup[] = {{"b", b, 1, {2}}};
    join(q, sdir, "s1.safetensors");
    CHECK(iopo_st_write(q, s1, 2, NULL, err, sizeof err), "%s", err);
    join(q, sdir, "s2.safetensors");
    CHECK(iopo_st_write(q, dup, 1, NULL, err, sizeof err), "%s", err);

    join(p, sdir, "dup.index.json");
    write_index(p, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}");
    expect_reject_naming(p, "s2.safetensors", "'b' is in both");

    join(p, sdir, "missing.index.json");
    write_index(p, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"z\": \"s9.safetensors\"}}");
    expect_reject_naming(p, "missing.index.json", "s9.safetensors (holding 'z') is missing");

    join(p, sdir, "lacks.index.json");
    write_index(p, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"c\": \"s1.safetensors\"}}");
    expect_reject_naming(p, "lacks.index.json", "'c' is mapped to shard s1.safetensors, which lacks it");

    join(p, sdir, "wrongshard.index.json");
    write_index(p, "{\"weight_map\": {\"a\": \"s2.safetensors\", \"b\": \"s2.safetensors\"}}");
    expect_reject_naming(p, "wrongshard.index.json", "'a' is mapped to shard s2.safetensors, which lacks it");

    join(p, sdir, "nomap.index.json");
    write_index(p, "{\"metadata\": {}}");
    expect_reject(p, "no \"weight_map\" object");

    join(p, sdir, "badjson.index.json");
    write_index(p, "{\"weight_map\": {\"a\": ");
    expect_reject(p, "not valid JSON");

    join(p, sdir, "badshard.index.json");
    join(q, sdir, "s3.safetensors");
    write_bytes(q, "abc", 3);
    write_index(p, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"q\": \"s3.safetensors\"}}");
    expect_reject_naming(p, q, "shorter than the 8-byte header length");

    tpath(p, "emptydir");
    CHECK(iopo_mkdirs(p, err, sizeof err), "%s", err);
    expect_reject(p, "holds neither model.safetensors nor model.safetensors.index.json");
    tpath(p, "does-not-exist.safetensors");
    expect_reject(p, strerror(ENOENT));
}

static void test_prefix_and_load_errors(void) {
    char p[512], err[1024];
    tpath(p, "gpt2old.safetensors");
    float w[6] = {1, 2, 3, 4, 5, 6}, l[6] = {6, 5, 4, 3, 2, 1};
    const iopo_st_entry e[] = {{"transformer.wte.weight", w, 2, {3, 2}}, {"lm_head.weight", l, 2, {3, 2}}};
    CHECK(iopo_st_write(p, e, 2, NULL, err, sizeof err), "%s", err);
    iopo_safetensors *st = iopo_st_open(p, err, sizeof err);
    CHECK(st, "%s", err);
    if (!st) return;
    const iopo_st_tensor *t = iopo_st_find(st, "wte.weight");
    CHECK(t && !strcmp(t->name, "transformer.wte.weight"), "prefix fallback found %s", t ? t->name : "nothing");
    t = iopo_st_find(st, "lm_head.weight");
    CHECK(t && !strcmp(t->name, "lm_head.weight"), "exact name");
    CHECK(!iopo_st_find(st, "transformer.lm_head.weight") && !iopo_st_find(st, "wpe.weight"), "false positives");
    /* A long name takes the heap path of the fallback. */
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(!iopo_st_find(st, longname), "long name");

    float out[6];
    CHECK(iopo_st_load_f32(st, "wte.weight", 2, (const int64_t[]){3, 2}, out, err, sizeof err), "%s", err);
    CHECK(out[0] == 1 && out[5] == 6, "wte values %g %g", out[0], out[5]);

    err[0] = '\0';
    CHECK(!iopo_st_load_f32(st, "wpe.weight", 2, (const int64_t[]){1024, 2}, out, err, sizeof err), "loaded nothing");
    CHECK(strstr(err, "'wpe.weight'") && strstr(err, "gpt2old.safetensors") && strstr(err, "not found") &&
              strstr(err, "[1024, 2]"),
          "message: %s", err);
    err[0] = '\0';
    CHECK(!iopo_st_load_f32(st, "wte.weight", 2, (const int64_t[]){2, 3}, out, err, sizeof err), "wrong shape loaded");
    CHECK(strstr(err, "transformer.wte.weight") && strstr(err, "gpt2old.safetensors") && strstr(err, "[3, 2]") &&
              strstr(err, "expected [2, 3]"),
          "message: %s", err);
    err[0] = '\0';
    CHECK(!iopo_st_load_f32(st, "lm_head.weight", 1, (const int64_t[]){6}, out, err, sizeof err), "wrong rank");
    CHECK(strstr(err, "[3, 2], expected [6]"), "message: %s", err);
    iopo_st_close(st);
}

static void test_rejections(void) {
    char p[512];
    tpath(p, "short.safetensors");
    write_bytes(p, "\x10\0\0\0\0", 5);
    expect_reject(p, "5 bytes, shorter than the 8-byte header length");
    tpath(p, "empty.safetensors");
    write_bytes(p, "", 0);
    expect_reject(p, "0 bytes, shorter than the 8-byte header length");
    tpath(p, "hlen.safetensors");
    write_bytes(p, "\xe8\x03\0\0\0\0\0\0{}", 10);
    expect_reject(p, "header length 1000 is beyond the end of the file (10 bytes)");
    tpath(p, "hlenhuge.safetensors");
    write_bytes(p, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    expect_reject(p, "is beyond the end of the file");

    REJECT("badjson.safetensors", "{\"a\": {\"dtype\": \"F32\", ", 0, "header is not valid JSON");
    REJECT("trailing.safetensors", "{}  x", 0, "header is not valid JSON (trailing bytes at header byte 4)");
    REJECT("notobject.safetensors", "[1, 2]", 0, "header is not a JSON object");
    REJECT("entry.safetensors", "{\"a\": 5}", 0, "tensor 'a': entry is not a JSON object");
    REJECT("nodtype.safetensors", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a': missing \"dtype\"");
    REJECT("noshape.safetensors", "{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
           "'a': missing \"shape\"");
    REJECT("nooffsets.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
           "'a': missing \"data_offsets\"");
    REJECT("dtypetype.safetensors", "{\"a\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
           "\"dtype\" is not a string");
    REJECT("shapetype.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4,
           "\"shape\" is not an array");
    REJECT("dimtype.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4,
           "shape dimension 0 is not a number");
    REJECT("offsetstype.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
           "\"data_offsets\" is not an array of two integers");
    REJECT("offsetneg.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
           "data_offsets[0] is negative");
    REJECT("offsetfrac.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.5]}}", 8,
           "data_offsets[1] is not an integer");
    REJECT("negdim.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 4]}}", 4,
           "shape dimension 1 is negative");
    REJECT("fracdim.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4,
           "shape dimension 0 is not an integer");
    REJECT("hugedim.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1e30], \"data_offsets\": [0, 4]}}", 4,
           "shape dimension 0 is too large");
    /* Each dimension is representable; their product is not. */
    REJECT("overflow.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 4]}}", 4,
           "shape [4294967296, 4294967296, 16] is too large");
    REJECT("overflow2.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427388, 1000], \"data_offsets\": [0, 4]}}", 4,
           "is too large (its byte size overflows)");
    REJECT("manydims.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
           "shape has 9 dimensions, more than 8");
    REJECT("dtype.safetensors", "{\"a\": {\"dtype\": \"F99\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
           "unknown dtype \"F99\"");
    REJECT("f64.safetensors", "{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8,
           "unsupported dtype \"F64\"");
    REJECT("beginend.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
           "data_offsets [8, 4]: begin is after end");
    REJECT("beyond.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [4, 16]}}", 12,
           "'a': data_offsets [4, 16]: end is beyond the data section (12 bytes)");
    REJECT("size.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 12,
           "data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12");
    REJECT("sizebf16.safetensors", "{\"a\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16,
           "hold 16 bytes, but shape [2, 2] of BF16 needs 8");
    REJECT("overlap.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
           " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
           20, "tensors 'a' [0, 16] and 'b' [12, 20] overlap");
    /* Listed out of offset order: the check sorts first. */
    REJECT("overlap2.safetensors",
           "{\"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [20, 24]},"
           " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]},"
           " \"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
           24, "tensors 'a' [0, 16] and 'b' [8, 16] overlap");
    REJECT("dupname.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
           " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
           8, "tensor 'a' appears twice");
    REJECT("meta.safetensors", "{\"__metadata__\": {\"k\": 1}}", 0, "\"__metadata__\" is not an object of strings");

    /* Empty tensors own no bytes, so sharing an offset with another tensor is fine (as HF writes them). */
    char err[512];
    tpath(p, "emptyok.safetensors");
    write_st(p,
             "{\"e\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [4, 4]},"
             " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
             "\0\0\x80\x3f\0\0\0\x40", 8);
    iopo_safetensors *st = iopo_st_open(p, err, sizeof err);
    CHECK(st && iopo_st_count(st) == 2, "empty tensor inside another's range: %s", st ? "wrong count" : err);
    iopo_st_close(st);
    /* A zero dimension empties the tensor however large the others are. */
    tpath(p, "zerohuge.safetensors");
    write_st(p, "{\"z\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 0], \"data_offsets\": [0, 0]}}", NULL,
             0);
    st = iopo_st_open(p, err, sizeof err);
    CHECK(st && iopo_st_count(st) == 1 && iopo_st_at(st, 0)->numel == 0 && iopo_st_at(st, 0)->shape[1] == 4294967296,
          "zero-size tensor with huge dims: %s", st ? "wrong contents" : err);
    iopo_st_close(st);
}

static void test_writer_errors(void) {
    char p[512], err[512];
    float v[2] = {1, 2};
    tpath(p, "nodir/sub/x.safetensors");
    const iopo_st_entry one[] = {{"a", v, 1, {2}}};
    err[0] = '\0';
    CHECK(!iopo_st_write(p, one, 1, NULL, err, sizeof err), "wrote into a missing directory");
    CHECK(strstr(err, "nodir/sub/x.safetensors") && strstr(err, strerror(ENOENT)), "message: %s", err);

    tpath(p, "werr.safetensors");
    const iopo_st_entry dup[] = {{"a", v, 1, {2}}, {"a", v, 1, {1}}};
    err[0] = '\0';
    CHECK(!iopo_st_write(p, dup, 2, NULL, err, sizeof err), "duplicate names written");
    CHECK(strstr(err, "'a' is used twice"), "message: %s", err);
    const iopo_st_entry neg[] = {{"a", v, 1, {-2}}};
    err[0] = '\0';
    CHECK(!iopo_st_write(p, neg, 1, NULL, err, sizeof err), "negative shape written");
    CHECK(strstr(err, "invalid shape [-2]"), "message: %s", err);
    const char *badmeta[] = {"k", "v", "k", "w", NULL};
    err[0] = '\0';
    CHECK(!iopo_st_write(p, one, 1, badmeta, err, sizeof err), "duplicate metadata written");
    CHECK(strstr(err, "'k' is used twice"), "message: %s", err);
    CHECK(access(p, F_OK) != 0, "a failed write left %s behind", p);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_fileio(void) {
    char dir[512], p[512], err[512];
    tpath(dir, "fileio");
    CHECK(iopo_mkdirs(dir, err, sizeof err), "%s", err);
    join(p, dir, "f.txt");

    /* Contents with an embedded NUL; the result is NUL-terminated past len. */
    CHECK(iopo_write_file_atomic(p, "old\0contents", 12, err, sizeof err), "%s", err);
    size_t len = 0;
    char *s = iopo_read_file(p, &len, err, sizeof err);
    CHECK(s && len == 12 && !memcmp(s, "old\0contents", 13), "read back %zu bytes", len);
    free(s);
    struct stat sb;
    mode_t mask = umask(0);
    umask(mask);
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~mask), "mode %o, umask %o", sb.st_mode & 0777, mask);

    /* Commit replaces the file. */
    iopo_atomic_file af;
    CHECK(iopo_atomic_open(&af, p, err, sizeof err), "%s", err);
    fputs("new", af.f);
    CHECK(count_entries(dir) == 2, "temporary file should exist beside the target while writing");
    CHECK(iopo_atomic_commit(&af, err, sizeof err), "%s", err);
    s = iopo_read_file(p, &len, err, sizeof err);
    CHECK(s && len == 3 && !strcmp(s, "new"), "after commit: %s", s ? s : err);
    free(s);
    CHECK(count_entries(dir) == 1, "%d entries after commit", count_entries(dir));

    /* Abort leaves the old file and nothing else. */
    CHECK(iopo_atomic_open(&af, p, err, sizeof err), "%s", err);
    fputs("discarded", af.f);
    fflush(af.f);
    iopo_atomic_abort(&af);
    iopo_atomic_abort(&af); /* twice is harmless */
    s = iopo_read_file(p, &len, err, sizeof err);
    CHECK(s && !strcmp(s, "new"), "after abort: %s", s ? s : err);
    free(s);
    CHECK(count_entries(dir) == 1, "%d entries after abort (temporary file left?)", count_entries(dir));

    /* Empty files. */
    join(p, dir, "empty");
    CHECK(iopo_write_file_atomic(p, NULL, 0, err, sizeof err), "%s", err);
    s = iopo_read_file(p, &len, err, sizeof err);
    CHECK(s && len == 0 && s[0] == '\0', "empty file");
    free(s);

    /* Errors name the path and the reason. */
    join(p, dir, "missing.txt");
    err[0] = '\0';
    CHECK(!iopo_read_file(p, &len, err, sizeof err), "read a missing file");
    CHECK(strstr(err, p) && strstr(err, strerror(ENOENT)), "message: %s", err);
    err[0] = '\0';
    CHECK(!iopo_read_file(dir, &len, err, sizeof err), "read a directory");
    CHECK(strstr(err, dir) && strstr(err, strerror(EISDIR)), "message: %s", err);
    join(p, dir, "nodir/x");
    err[0] = '\0';
    CHECK(!iopo_write_file_atomic(p, "x", 1, err, sizeof err), "wrote into a missing directory");
    CHECK(strstr(err, p) && strstr(err, strerror(ENOENT)), "message: %s", err);

    /* mkdirs: nested, idempotent, trailing slash, refuses to go through a file. */
    join(p, dir, "a/b/c");
    CHECK(iopo_mkdirs(p, err, sizeof err), "%s", err);
    CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode), "%s not created", p);
    CHECK(iopo_mkdirs(p, err, sizeof err), "second mkdirs: %s", err);
    join(p, dir, "a/d/");
    CHECK(iopo_mkdirs(p, err, sizeof err), "trailing slash: %s", err);
    join(p, dir, "f.txt/sub");
    err[0] = '\0';
    CHECK(!iopo_mkdirs(p, err, sizeof err), "mkdirs through a file");
    CHECK(strstr(err, p) && strstr(err, strerror(ENOTDIR)), "message: %s", err);
    join(p, dir, "f.txt");
    err[0] = '\0';
    CHECK(!iopo_mkdirs(p, err, sizeof err), "mkdirs on a file");
    CHECK(strstr(err, p) && strstr(err, "not a directory"), "message: %s", err);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The torch cross-check (tests/safetensors_check.py drives these).                                                  */

static int write_for_python(const char *path) {
    /* Values are small dyadic fractions: exact in fp32, so the script recomputes them with the same formula. */
    static float a[3 * 5], b[7], s[1];
    for (size_t i = 0; i < 15; i++) a[i] = pattern(1, i);
    for (size_t i = 0; i < 7; i++) b[i] = pattern(2, i);
    s[0] = pattern(3, 0);
    const iopo_st_entry e[] = {
        {"h.0.attn.c_attn.weight", a, 2, {3, 5}},
        {"odd", b, 1, {7}},
        {"scalar", s, 0, {0}},
        {"empty", NULL, 3, {2, 0, 4}},
        {"ln_f.bias", a, 3, {1, 3, 5}},
    };
    const char *meta[] = {"format", "pt", "iopo", "test \"quoted\"", NULL};
    char err[512];
    if (!iopo_st_write(path, e, 5, meta, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}

static int check_python_file(const char *path) {
    char err[1024];
    iopo_safetensors *st = iopo_st_open(path, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int pairs = 0, bad = 0;
    for (int i = 0; i < iopo_st_count(st); i++) {
        const iopo_st_tensor *t = iopo_st_at(st, i);
        char refname[256];
        snprintf(refname, sizeof refname, "%s.ref", t->name);
        const iopo_st_tensor *r = iopo_st_find(st, refname);
        if (!r) continue;
        if (r->numel != t->numel || r->dtype != IOPO_ST_F32) {
            fprintf(stderr, "%s: %s does not match %s\n", path, refname, t->name);
            bad++;
            continue;
        }
        float *got = malloc((t->numel + 1) * sizeof(float)), *want = malloc((t->numel + 1) * sizeof(float));
        if (!iopo_st_read_f32(t, got, err, sizeof err) || !iopo_st_read_f32(r, want, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            bad++;
        } else {
            size_t wrong = 0;
            for (size_t k = 0; k < t->numel; k++) {
                bool same = isnan(want[k]) ? isnan(got[k]) : f32_bits(got[k]) == f32_bits(want[k]);
                if (!same && wrong++ < 5)
                    fprintf(stderr, "%s[%zu]: got %a (0x%08x), torch says %a (0x%08x)\n", t->name, k, got[k],
                            f32_bits(got[k]), want[k], f32_bits(want[k]));
            }
            printf("%s (%d, %zu values): %zu mismatches\n", t->name, (int)t->dtype, t->numel, wrong);
            bad += wrong != 0;
        }
        free(got);
        free(want);
        pairs++;
    }
    iopo_st_close(st);
    if (pairs < 4) {
        fprintf(stderr, "%s: only %d tensor/reference pairs (expected 4)\n", path, pairs);
        return 1;
    }
    return bad ? 1 : 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* torch's .to(bfloat16) / .to(float16) of every value of "x" against iopo's conversions, bit for bit (NaN: NaN). */
static int check_rounding(const char *path) {
    char err[1024];
    iopo_safetensors *st = iopo_st_open(path, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const iopo_st_tensor *x = iopo_st_find(st, "x"), *b = iopo_st_find(st, "x.bf16"), *h = iopo_st_find(st, "x.f16");
    if (!x || !b || !h || x->dtype != IOPO_ST_F32 || b->dtype != IOPO_ST_BF16 || h->dtype != IOPO_ST_F16 ||
        b->numel != x->numel || h->numel != x->numel) {
        fprintf(stderr, "%s: expected F32 x, BF16 x.bf16 and F16 x.f16 of one length\n", path);
        iopo_st_close(st);
        return 1;
    }
    size_t bad[2] = {0, 0};
    for (size_t i = 0; i < x->numel; i++) {
        float v;
        memcpy(&v, (const uint8_t *)x->data + 4 * i, 4);   // raw bits: NaN payloads as torch wrote them
        const uint8_t *pb = (const uint8_t *)b->data + 2 * i, *ph = (const uint8_t *)h->data + 2 * i;
        uint16_t want[2] = {(uint16_t)(pb[0] | pb[1] << 8), (uint16_t)(ph[0] | ph[1] << 8)};
        uint16_t got[2] = {iopo_f32_to_bf16(v), iopo_f32_to_f16(v)};
        for (int k = 0; k < 2; k++) {
            float gw = k ? iopo_f16_to_f32(got[k]) : iopo_bf16_to_f32(got[k]);
            float ww = k ? iopo_f16_to_f32(want[k]) : iopo_bf16_to_f32(want[k]);
            bool same = isnan(ww) ? isnan(gw) : got[k] == want[k];
            if (!same && bad[k]++ < 5)
                fprintf(stderr, "%s(%a = 0x%08x): iopo 0x%04x, torch 0x%04x\n", k ? "f16" : "bf16", (double)v,
                        iopo_f32_bits(v), got[k], want[k]);
        }
    }
    printf("rounding of %zu fp32 values: %zu bf16 and %zu f16 mismatches with torch\n", x->numel, bad[0], bad[1]);
    iopo_st_close(st);
    return bad[0] || bad[1] ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-for-python")) return write_for_python(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--check-python-file")) return check_python_file(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--check-rounding")) return check_rounding(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write-for-python FILE | --check-python-file FILE | --check-rounding FILE]\n",
                argv[0]);
        return 2;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/iopo-st-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 2;
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"roundtrip", test_roundtrip},
        {"half_types", test_half_types},
        {"sharded", test_sharded},
        {"prefix_and_load_errors", test_prefix_and_load_errors},
        {"rejections", test_rejections},
        {"writer_errors", test_writer_errors},
        {"fileio", test_fileio},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        printf("%s\n", tests[i].name);
        tests[i].fn();
        printf("%s: %s\n", tests[i].name, failures == before ? "ok" : "FAILED");
    }
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
