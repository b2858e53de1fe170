/* safetensors reader: a checkpoint file's header and data section, and model.safetensors.index.json.
 * First input byte: even -> the rest is a .safetensors file; odd -> the rest is an index whose shards may name the
 * two valid shards the harness writes (model-00001-of-00002.safetensors, model-00002-of-00002.safetensors) or a
 * third one holding the same tensors as the first (a tensor in two shards).
 * Invariants of an accepted file: every tensor's bytes lie inside the data section at its data_offsets (checked
 * against an independent reading of the header), byte size = numel x dtype size, no two non-empty tensors overlap,
 * each name finds its tensor, and F32/F16/BF16 tensors convert. */
#include "fuzz_util.h"
#include "iopo/safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_shard(const char *name, const char *const *names, int n, float base) {
    float data[2][6];
    iopo_st_entry e[2];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++) data[i][k] = base + (float)(i * 6 + k);
        e[i] = (iopo_st_entry){.name = names[i], .data = data[i], .ndim = 2, .shape = {2, 3}};
    }
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    if (!iopo_st_write(path, e, n, NULL, err, sizeof err)) fz_fail("%s", err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    write_shard("model-00001-of-00002.safetensors", (const char *const[]){"wte.weight", "h.0.ln_1.weight"}, 2, 0);
    write_shard("model-00002-of-00002.safetensors", (const char *const[]){"ln_f.weight"}, 1, 100);
    write_shard("dup.safetensors", (const char *const[]){"wte.weight"}, 1, 200);
    return 0;
}

static size_t dtype_size(iopo_st_dtype d) {
    return d == IOPO_ST_F16 || d == IOPO_ST_BF16 ? 2 : d == IOPO_ST_I64 ? 8 : 4;
}

static int cmp_ptr(const void *a, const void *b) {
    const iopo_st_tensor *x = *(const iopo_st_tensor *const *)a, *y = *(const iopo_st_tensor *const *)b;
    const char *p = x->data, *q = y->data;
    return p < q ? -1 : p > q ? 1 : 0;
}

/* The header as the format defines it, read here without the library, to locate each tensor's bytes. */
static void check_layout(const iopo_safetensors *st, const uint8_t *file, size_t size) {
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)file[i] << (8 * i);
    FZ_CHECK(hlen <= size - 8, "accepted a header length %llu beyond the file (%zu bytes)", (unsigned long long)hlen,
             size);
    const uint8_t *data = file + 8 + hlen;
    size_t data_len = size - 8 - (size_t)hlen;
    cJSON *hdr = cJSON_ParseWithLength((const char *)file + 8, (size_t)hlen);
    FZ_CHECK(cJSON_IsObject(hdr), "accepted a header that is not a JSON object");
    int n = iopo_st_count(st);
    const iopo_st_tensor **by_ptr = malloc(((size_t)n + 1) * sizeof *by_ptr);
    const char *section = NULL; /* start of the data section in the library's mapping */
    for (int i = 0; i < n; i++) {
        const iopo_st_tensor *t = iopo_st_at(st, i);
        by_ptr[i] = t;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(hdr, t->name);
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        FZ_CHECK(cJSON_GetArraySize(offs) == 2, "tensor '%s' has no data_offsets in the header", t->name);
        double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
        FZ_CHECK(b >= 0 && b <= en && en <= (double)data_len, "tensor '%s' [%.0f, %.0f] is outside the data section "
                 "(%zu bytes)", t->name, b, en, data_len);
        size_t begin = (size_t)b, end = (size_t)en;
        FZ_CHECK(end - begin == t->nbytes, "tensor '%s': %zu bytes in the file, nbytes %zu", t->name, end - begin,
                 t->nbytes);
        FZ_CHECK(t->nbytes == t->numel * dtype_size(t->dtype), "tensor '%s': nbytes %zu != numel %zu x dtype size",
                 t->name, t->nbytes, t->numel);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        FZ_CHECK(numel == t->numel, "tensor '%s': numel %zu is not the product of its shape (%zu)", t->name, t->numel,
                 numel);
        if (!section) section = (const char *)t->data - begin;
        FZ_CHECK((const char *)t->data == section + begin, "tensor '%s' does not point at its data_offsets", t->name);
        FZ_CHECK(t->nbytes == 0 || memcmp(t->data, data + begin, t->nbytes) == 0,
                 "tensor '%s': its bytes are not the file's bytes at its offsets", t->name);
        FZ_CHECK(iopo_st_find(st, t->name) == t, "tensor '%s' is not found by its name", t->name);
    }
    qsort(by_ptr, (size_t)n, sizeof *by_ptr, cmp_ptr);
    const iopo_st_tensor *prev = NULL;
    for (int i = 0; i < n; i++) {
        if (!by_ptr[i]->nbytes) continue;
        FZ_CHECK(!prev || (const char *)prev->data + prev->nbytes <= (const char *)by_ptr[i]->data,
                 "tensors '%s' and '%s' overlap", prev ? prev->name : "", by_ptr[i]->name);
        prev = by_ptr[i];
    }
    free(by_ptr);
    cJSON_Delete(hdr);
}

static void convert_all(const iopo_safetensors *st) {
    char err[1024];
    for (int i = 0; i < iopo_st_count(st); i++) {
        const iopo_st_tensor *t = iopo_st_at(st, i);
        bool convertible = t->dtype == IOPO_ST_F32 || t->dtype == IOPO_ST_F16 || t->dtype == IOPO_ST_BF16;
        float *dst = malloc(t->numel * sizeof *dst + 1);
        bool ok = iopo_st_load_f32(st, t->name, t->ndim, t->shape, dst, err, sizeof err);
        FZ_CHECK(ok == convertible, "tensor '%s' (dtype %d): load_f32 %s: %s", t->name, (int)t->dtype,
                 ok ? "accepted" : "refused", ok ? "" : err);
        free(dst);
    }
    const char *meta = iopo_st_metadata(st);
    if (meta) {
        cJSON *m = cJSON_Parse(meta);
        FZ_CHECK(cJSON_IsObject(m), "metadata is not a JSON object: %s", meta);
        cJSON_Delete(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    bool index = in[0] & 1;
    in++;
    size--;
    char err[2048];
    /* The single file is removed after each input, so an index cannot name a file an earlier input left. */
    const char *path = fz_write(1, index ? "model.safetensors.index.json" : "single.safetensors", in, size);
    iopo_safetensors *st = iopo_st_open(path, err, sizeof err);
    if (!index) unlink(path);
    if (!st) {
        FZ_CHECK(err[0], "refused without a message");
        return 0;
    }
    if (!index) check_layout(st, in, size);
    convert_all(st);
    iopo_st_close(st);
    return 0;
}
