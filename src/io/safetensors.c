/* safetensors reading (mmap, single files and index-listed shards) and fp32 writing (see include/iopo/safetensors.h).
 *
 * The format: 8-byte little-endian header length N, N bytes of JSON, then the data section; every tensor's
 * data_offsets are relative to the start of the data section. Everything in the header is untrusted: each number is
 * range-checked before it is used in size arithmetic, and every size product is overflow-checked. */
#include "iopo/safetensors.h"

#include "iopo/fileio.h"
#include "util/half.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader and writer copy it as is and need a little-endian host"
#endif

/* JSON numbers are doubles in cJSON: integers above 2^53 cannot be represented exactly, so they are rejected rather
 * than silently rounded. No real file comes near (that is 9 PB). */
#define JSON_INT_MAX 9007199254740992.0

typedef struct st_file {
    char *path;
    void *map;
    size_t map_len;
    const uint8_t *data; /* the data section */
    size_t data_len;
    char *metadata;      /* "__metadata__" re-serialised, or NULL */
} st_file;

typedef struct st_entry {
    iopo_st_tensor t;
    uint64_t begin, end; /* data_offsets, relative to the data section */
} st_entry;

struct iopo_safetensors {
    char *path; /* the file or index that was opened, for messages */
    st_file *files;
    int nfiles;
    st_entry *tensors;
    int ntensors, cap;
    const st_entry **by_name; /* sorted by name, for binary search */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *dtype_name(iopo_st_dtype d) {
    switch (d) {
    case IOPO_ST_F32: return "F32";
    case IOPO_ST_F16: return "F16";
    case IOPO_ST_BF16: return "BF16";
    case IOPO_ST_I32: return "I32";
    case IOPO_ST_I64: return "I64";
    }
    return "?";
}

static size_t dtype_size(iopo_st_dtype d) {
    switch (d) {
    case IOPO_ST_F16:
    case IOPO_ST_BF16: return 2;
    case IOPO_ST_F32:
    case IOPO_ST_I32: return 4;
    case IOPO_ST_I64: return 8;
    }
    return 0;
}

static void fmt_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Header parsing                                                                                                    */

typedef enum { NUM_OK, NUM_NOT_NUMBER, NUM_NEGATIVE, NUM_FRACTION, NUM_HUGE } num_status;

static num_status json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return NUM_NOT_NUMBER;
    double d = v->valuedouble;
    if (d < 0) return NUM_NEGATIVE;
    if (!(d <= JSON_INT_MAX)) return NUM_HUGE; /* also inf from "1e999" */
    if (d != floor(d)) return NUM_FRACTION;
    *out = (uint64_t)d;
    return NUM_OK;
}

static const char *num_problem(num_status s) {
    switch (s) {
    case NUM_NOT_NUMBER: return "is not a number";
    case NUM_NEGATIVE: return "is negative";
    case NUM_FRACTION: return "is not an integer";
    case NUM_HUGE: return "is too large";
    case NUM_OK: break;
    }
    return "is invalid";
}

static bool add_tensor(iopo_safetensors *st, const st_entry *e) {
    if (st->ntensors == st->cap) {
        int ncap = st->cap ? st->cap * 2 : 64;
        st_entry *nt = realloc(st->tensors, (size_t)ncap * sizeof *nt);
        if (!nt) return false;
        st->tensors = nt;
        st->cap = ncap;
    }
    st->tensors[st->ntensors++] = *e;
    return true;
}

/* Parses one header entry into e (name not yet set). */
static bool parse_entry(const st_file *f, const cJSON *item, st_entry *e, char *err, size_t errlen) {
    const char *name = item->string;
    if (!cJSON_IsObject(item)) {
        set_err(err, errlen, "%s: tensor '%s': entry is not a JSON object", f->path, name);
        return false;
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing) {
        set_err(err, errlen, "%s: tensor '%s': missing \"%s\"", f->path, name, missing);
        return false;
    }
    if (!cJSON_IsString(dtype)) {
        set_err(err, errlen, "%s: tensor '%s': \"dtype\" is not a string", f->path, name);
        return false;
    }
    if (!cJSON_IsArray(shape)) {
        set_err(err, errlen, "%s: tensor '%s': \"shape\" is not an array", f->path, name);
        return false;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
        set_err(err, errlen, "%s: tensor '%s': \"data_offsets\" is not an array of two integers", f->path, name);
        return false;
    }

    const char *ds = dtype->valuestring;
    if (!strcmp(ds, "F32")) e->t.dtype = IOPO_ST_F32;
    else if (!strcmp(ds, "F16")) e->t.dtype = IOPO_ST_F16;
    else if (!strcmp(ds, "BF16")) e->t.dtype = IOPO_ST_BF16;
    else if (!strcmp(ds, "I32")) e->t.dtype = IOPO_ST_I32;
    else if (!strcmp(ds, "I64")) e->t.dtype = IOPO_ST_I64;
    else {
        static const char *const other[] = {"BOOL", "U8", "I8", "I16", "U16", "U32", "U64", "F64", "F8_E5M2",
                                            "F8_E4M3", NULL};
        bool known = false;
        for (int i = 0; other[i]; i++) known |= !strcmp(ds, other[i]);
        set_err(err, errlen, "%s: tensor '%s': %s dtype \"%.32s\" (iopo reads F32, F16, BF16, I32, I64)", f->path,
                name, known ? "unsupported" : "unknown", ds);
        return false;
    }

    int ndim = cJSON_GetArraySize(shape);
    if (ndim > IOPO_ST_MAX_DIMS) {
        set_err(err, errlen, "%s: tensor '%s': shape has %d dimensions, more than %d", f->path, name, ndim,
                IOPO_ST_MAX_DIMS);
        return false;
    }
    e->t.ndim = ndim;
    size_t numel = 1;
    bool overflow = false, has_zero = false;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = 0;
        num_status s = json_u64(cJSON_GetArrayItem(shape, i), &d);
        if (s != NUM_OK) {
            set_err(err, errlen, "%s: tensor '%s': shape dimension %d %s", f->path, name, i, num_problem(s));
            return false;
        }
        e->t.shape[i] = (int64_t)d;
        has_zero |= d == 0;
        if (d > SIZE_MAX || __builtin_mul_overflow(numel, (size_t)d, &numel)) overflow = true;
    }
    /* A zero dimension makes the tensor empty whatever the other dimensions multiply to (a wrapped product can
     * also be 0, so only an actual zero dimension counts). */
    if (has_zero) {
        numel = 0;
        overflow = false;
    }
    char sbuf[160];
    fmt_shape(sbuf, sizeof sbuf, ndim, e->t.shape);
    size_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, dtype_size(e->t.dtype), &nbytes)) {
        set_err(err, errlen, "%s: tensor '%s': shape %s is too large (its byte size overflows)", f->path, name, sbuf);
        return false;
    }
    e->t.numel = numel;
    e->t.nbytes = nbytes;

    uint64_t o[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        num_status s = json_u64(cJSON_GetArrayItem(offs, i), &o[i]);
        if (s != NUM_OK) {
            set_err(err, errlen, "%s: tensor '%s': data_offsets[%d] %s", f->path, name, i, num_problem(s));
            return false;
        }
    }
    if (o[0] > o[1]) {
        set_err(err, errlen, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "]: begin is after end", f->path,
                name, o[0], o[1]);
        return false;
    }
    if (o[1] > f->data_len) {
        set_err(err, errlen,
                "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "]: end is beyond the data section (%zu bytes)",
                f->path, name, o[0], o[1], f->data_len);
        return false;
    }
    if (o[1] - o[0] != nbytes) {
        set_err(err, errlen,
                "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                " bytes, but shape %s of %s needs %zu",
                f->path, name, o[0], o[1], o[1] - o[0], sbuf, ds, nbytes);
        return false;
    }
    e->begin = o[0];
    e->end = o[1];
    e->t.data = f->data + o[0];
    e->t.file = f->path;
    return true;
}

static int cmp_offsets(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Maps f->path and appends its tensors to st, sorted by offset. */
static bool load_file(iopo_safetensors *st, st_file *f, char *err, size_t errlen) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: %s", f->path, strerror(errno));
        return false;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        set_err(err, errlen, "%s: %s", f->path, strerror(errno));
        close(fd);
        return false;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", f->path);
        close(fd);
        return false;
    }
    if (sb.st_size < 8) {
        set_err(err, errlen, "%s: file is %lld bytes, shorter than the 8-byte header length", f->path,
                (long long)sb.st_size);
        close(fd);
        return false;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        set_err(err, errlen, "%s: file is too large to map", f->path);
        close(fd);
        return false;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        set_err(err, errlen, "%s: mmap: %s", f->path, strerror(errno));
        return false;
    }
    f->map = map;
    f->map_len = size;
    const uint8_t *p = map;

    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)p[i] << (8 * i);
    if (hlen > size - 8) {
        set_err(err, errlen, "%s: header length %" PRIu64 " is beyond the end of the file (%zu bytes)", f->path, hlen,
                size);
        return false;
    }
    const char *hdr = (const char *)p + 8;
    f->data = p + 8 + hlen;
    f->data_len = size - 8 - (size_t)hlen;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        set_err(err, errlen, "%s: header is not valid JSON (error at header byte %zu)", f->path, at);
        return false;
    }
    /* Writers pad the header with spaces to align the data; anything else after the JSON value is corrupt. */
    for (const char *q = end; q < hdr + hlen; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            set_err(err, errlen, "%s: header is not valid JSON (trailing bytes at header byte %zu)", f->path,
                    (size_t)(q - hdr));
            cJSON_Delete(root);
            return false;
        }
    }
    if (!cJSON_IsObject(root)) {
        set_err(err, errlen, "%s: header is not a JSON object", f->path);
        cJSON_Delete(root);
        return false;
    }

    int first = st->ntensors;
    bool ok = true;
    for (const cJSON *item = root->child; item && ok; item = item->next) {
        if (!strcmp(item->string, "__metadata__")) {
            bool strings = cJSON_IsObject(item);
            for (const cJSON *m = strings ? item->child : NULL; m; m = m->next) strings &= cJSON_IsString(m);
            if (!strings) {
                set_err(err, errlen, "%s: \"__metadata__\" is not an object of strings", f->path);
                ok = false;
            } else if (!f->metadata && !(f->metadata = cJSON_PrintUnformatted(item))) {
                set_err(err, errlen, "%s: out of memory", f->path);
                ok = false;
            }
            continue;
        }
        st_entry e;
        memset(&e, 0, sizeof e);
        if (!parse_entry(f, item, &e, err, errlen)) {
            ok = false;
            break;
        }
        char *name = strdup(item->string);
        e.t.name = name;
        if (!name || !add_tensor(st, &e)) {
            free(name);
            set_err(err, errlen, "%s: out of memory", f->path);
            ok = false;
        }
    }
    cJSON_Delete(root);
    if (!ok) return false;

    /* Two tensors sharing bytes would alias: writing one through a loaded model would change the other. Empty
     * tensors own no bytes and may sit anywhere. */
    size_t n = (size_t)(st->ntensors - first);
    if (n == 0) return true;
    st_entry *mine = st->tensors + first;
    qsort(mine, n, sizeof *mine, cmp_offsets);
    const st_entry *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (mine[i].begin == mine[i].end) continue;
        if (prev && mine[i].begin < prev->end) {
            set_err(err, errlen,
                    "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %" PRIu64 "] overlap", f->path,
                    prev->t.name, prev->begin, prev->end, mine[i].t.name, mine[i].begin, mine[i].end);
            return false;
        }
        prev = &mine[i];
    }
    return true;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp((*(const st_entry *const *)a)->t.name, (*(const st_entry *const *)b)->t.name);
}

/* Builds the name index once every file is loaded (st->tensors no longer moves); a name seen twice is an error,
 * within one header or across shards. */
static bool build_index(iopo_safetensors *st, char *err, size_t errlen) {
    st->by_name = malloc(((size_t)st->ntensors + 1) * sizeof *st->by_name);
    if (!st->by_name) {
        set_err(err, errlen, "%s: out of memory", st->path);
        return false;
    }
    for (int i = 0; i < st->ntensors; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->ntensors, sizeof *st->by_name, cmp_by_name);
    for (int i = 1; i < st->ntensors; i++) {
        const iopo_st_tensor *a = &st->by_name[i - 1]->t, *b = &st->by_name[i]->t;
        if (strcmp(a->name, b->name)) continue;
        if (a->file == b->file)
            set_err(err, errlen, "%s: tensor '%s' appears twice in the header", a->file, a->name);
        else
            set_err(err, errlen, "%s: tensor '%s' is in both %s and %s", st->path, a->name, a->file, b->file);
        return false;
    }
    return true;
}

static const iopo_st_tensor *find_exact(const iopo_safetensors *st, const char *name) {
    int lo = 0, hi = st->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const iopo_st_tensor *t = &st->by_name[mid]->t;
        int c = strcmp(name, t->name);
        if (!c) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static st_file *new_file(iopo_safetensors *st, const char *path) {
    st_file *nf = realloc(st->files, ((size_t)st->nfiles + 1) * sizeof *nf);
    if (!nf) return NULL;
    st->files = nf;
    st_file *f = &st->files[st->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return NULL;
    st->nfiles++;
    return f;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}. Each shard
 * is mapped once, in name order (model-00001-of-0000N first), and every weight_map entry must be in its shard. */
static bool load_index(iopo_safetensors *st, const char *path, char *err, size_t errlen) {
    char ferr[512];
    char *text = iopo_read_file(path, NULL, ferr, sizeof ferr);
    if (!text) {
        set_err(err, errlen, "%s", ferr);
        return false;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        set_err(err, errlen, "%s: not valid JSON (error at byte %zu)", path, end ? (size_t)(end - text) : (size_t)0);
        free(text);
        return false;
    }
    free(text);
    bool ok = false;
    char *dir = NULL;
    const char **shards = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        set_err(err, errlen, "%s: index has no \"weight_map\" object", path);
        goto done;
    }
    int n = cJSON_GetArraySize(wm), k = 0;
    shards = malloc(((size_t)n + 1) * sizeof *shards);
    const char *slash = strrchr(path, '/');
    dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!shards || !dir) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (const cJSON *it = wm->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            set_err(err, errlen, "%s: weight_map entry '%s' is not a file name", path, it->string);
            goto done;
        }
        shards[k++] = it->valuestring;
    }
    qsort(shards, (size_t)k, sizeof *shards, cmp_str);
    for (int i = 0; i < k; i++) {
        if (i && !strcmp(shards[i], shards[i - 1])) continue;
        char *full = join_path(dir, shards[i]);
        if (!full) {
            set_err(err, errlen, "%s: out of memory", path);
            goto done;
        }
        struct stat sb;
        if (stat(full, &sb) != 0) {
            const char *who = "";
            for (const cJSON *it = wm->child; it; it = it->next)
                if (!strcmp(it->valuestring, shards[i])) {
                    who = it->string;
                    break;
                }
            set_err(err, errlen, "%s: shard %s (holding '%s') is missing: %s", path, full, who, strerror(errno));
            free(full);
            goto done;
        }
        st_file *f = new_file(st, full);
        free(full);
        if (!f) {
            set_err(err, errlen, "%s: out of memory", path);
            goto done;
        }
        if (!load_file(st, f, err, errlen)) goto done;
    }
    if (!build_index(st, err, errlen)) goto done;
    for (const cJSON *it = wm->child; it; it = it->next) {
        const iopo_st_tensor *t = find_exact(st, it->string);
        const char *base = t ? strrchr(t->file, '/') : NULL;
        base = base ? base + 1 : t ? t->file : NULL;
        char *want = join_path(dir, it->valuestring);
        bool here = t && want && !strcmp(t->file, want);
        free(want);
        if (!here) {
            set_err(err, errlen, "%s: tensor '%s' is mapped to shard %s, which lacks it%s%s", path, it->string,
                    it->valuestring, t ? "; it is in " : "", t ? base : "");
            goto done;
        }
    }
    ok = true;
done:
    free(shards);
    free(dir);
    cJSON_Delete(root);
    return ok;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

iopo_safetensors *iopo_st_open(const char *path, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    struct stat sb;
    if (stat(path, &sb) != 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *resolved = NULL;
    if (S_ISDIR(sb.st_mode)) {
        /* The single file wins when both exist, as in transformers. */
        static const char *const names[] = {"model.safetensors", "model.safetensors.index.json"};
        for (int i = 0; i < 2 && !resolved; i++) {
            char *p = join_path(path, names[i]);
            if (p && stat(p, &sb) == 0) resolved = p;
            else free(p);
        }
        if (!resolved) {
            set_err(err, errlen, "%s: holds neither model.safetensors nor model.safetensors.index.json", path);
            return NULL;
        }
    } else if (!(resolved = strdup(path))) {
        set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    iopo_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        free(resolved);
        set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    st->path = resolved;
    bool ok;
    if (ends_with(resolved, ".json")) {
        ok = load_index(st, resolved, err, errlen);
    } else {
        st_file *f = new_file(st, resolved);
        ok = f && load_file(st, f, err, errlen) && build_index(st, err, errlen);
        if (!f) set_err(err, errlen, "%s: out of memory", resolved);
    }
    if (!ok) {
        iopo_st_close(st);
        return NULL;
    }
    return st;
}

void iopo_st_close(iopo_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->ntensors; i++) free((char *)st->tensors[i].t.name);
    for (int i = 0; i < st->nfiles; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].map_len);
        free(st->files[i].metadata);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->tensors);
    free(st->by_name);
    free(st->path);
    free(st);
}

int iopo_st_count(const iopo_safetensors *st) { return st ? st->ntensors : 0; }

const iopo_st_tensor *iopo_st_at(const iopo_safetensors *st, int i) {
    return st && i >= 0 && i < st->ntensors ? &st->tensors[i].t : NULL;
}

const iopo_st_tensor *iopo_st_find(const iopo_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    const iopo_st_tensor *t = find_exact(st, name);
    if (t) return t;
    static const char prefix[] = "transformer.";
    size_t n = strlen(name);
    char stack[256];
    char *full = n + sizeof prefix <= sizeof stack ? stack : malloc(n + sizeof prefix);
    if (!full) return NULL;
    memcpy(full, prefix, sizeof prefix - 1);
    memcpy(full + sizeof prefix - 1, name, n + 1);
    t = find_exact(st, full);
    if (full != stack) free(full);
    return t;
}

const char *iopo_st_metadata(const iopo_safetensors *st) {
    for (int i = 0; st && i < st->nfiles; i++)
        if (st->files[i].metadata) return st->files[i].metadata;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Conversion                                                                                                        */

/* The scalar conversions are util/half.h's, shared with the CPU backend and the shaders' mirror of them. Bytes are
 * assembled by hand: the data section need not be 2-byte aligned. */
bool iopo_st_read_f32(const iopo_st_tensor *t, float *dst, char *err, size_t errlen) {
    const uint8_t *p = t->data;
    size_t n = t->numel;
    switch (t->dtype) {
    case IOPO_ST_F32:
        /* The data section need not be 4-byte aligned (the header length is arbitrary): copy bytes. */
        if (n) memcpy(dst, p, t->nbytes);
        return true;
    case IOPO_ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = iopo_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return true;
    case IOPO_ST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = iopo_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return true;
    case IOPO_ST_I32:
    case IOPO_ST_I64: break;
    }
    set_err(err, errlen, "%s: tensor '%s' has dtype %s, which is not a floating-point type to read as fp32", t->file,
            t->name, dtype_name(t->dtype));
    return false;
}

bool iopo_st_load_f32(const iopo_safetensors *st, const char *name, int ndim, const int64_t *shape, float *dst,
                      char *err, size_t errlen) {
    const iopo_st_tensor *t = iopo_st_find(st, name);
    char want[160], have[160];
    fmt_shape(want, sizeof want, ndim, shape);
    if (!t) {
        set_err(err, errlen, "%s: tensor '%s' (or 'transformer.%s') not found; expected shape %s", st->path, name,
                name, want);
        return false;
    }
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        fmt_shape(have, sizeof have, t->ndim, t->shape);
        set_err(err, errlen, "%s: tensor '%s' has shape %s, expected %s", t->file, t->name, have, want);
        return false;
    }
    return iopo_st_read_f32(t, dst, err, errlen);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Writing                                                                                                           */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof tmp) sb_put(b, tmp, (size_t)n);
    else b->oom = true; /* only used for short numeric pieces */
}

/* A JSON string literal. Bytes >= 0x80 pass through: names are UTF-8 already. */
static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            sb_printf(b, "\\u%04x", *p);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static bool write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

static bool write_tensor(FILE *f, const float *data, size_t nbytes, bool bf16) {
    if (!bf16) return write_all(f, data, nbytes);
    size_t n = nbytes / 2;
    uint16_t buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) buf[j] = iopo_f32_to_bf16(data[i + j]);   /* as torch rounds (util/half.h) */
        if (!write_all(f, buf, k * 2)) return false;
        i += k;
    }
    return true;
}

static bool st_write(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, bool bf16,
                     char *err, size_t errlen);

bool iopo_st_write(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, char *err,
                   size_t errlen) {
    return st_write(path, entries, n, metadata, false, err, errlen);
}

bool iopo_st_write_bf16(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, char *err,
                        size_t errlen) {
    return st_write(path, entries, n, metadata, true, err, errlen);
}

static bool st_write(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, bool bf16,
                     char *err, size_t errlen) {
    if (n < 0 || (n > 0 && !entries)) {
        set_err(err, errlen, "%s: invalid tensor list (n = %d)", path, n);
        return false;
    }
    /* Names must be unique, or readers keep only one of them. */
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    size_t *nbytes = malloc(((size_t)n + 1) * sizeof *nbytes);
    sbuf h = {0};
    bool ok = false;
    if (!names || !nbytes) {
        set_err(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const iopo_st_entry *e = &entries[i];
        if (!e->name || !strcmp(e->name, "__metadata__")) {
            set_err(err, errlen, "%s: tensor %d has %s name", path, i, e->name ? "the reserved" : "no");
            goto done;
        }
        if (e->ndim < 0 || e->ndim > IOPO_ST_MAX_DIMS) {
            set_err(err, errlen, "%s: tensor '%s' has %d dimensions (0..%d allowed)", path, e->name, e->ndim,
                    IOPO_ST_MAX_DIMS);
            goto done;
        }
        size_t numel = 1;
        bool bad = false;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || (uint64_t)e->shape[d] > (uint64_t)JSON_INT_MAX) bad = true;
            else if (__builtin_mul_overflow(numel, (size_t)e->shape[d], &numel)) bad = true;
        }
        if (bad || __builtin_mul_overflow(numel, (size_t)(bf16 ? 2 : 4), &nbytes[i])) {
            char s[160];
            fmt_shape(s, sizeof s, e->ndim, e->shape);
            set_err(err, errlen, "%s: tensor '%s' has an invalid shape %s", path, e->name, s);
            goto done;
        }
        if (numel && !e->data) {
            set_err(err, errlen, "%s: tensor '%s' has no data", path, e->name);
            goto done;
        }
        names[i] = e->name;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(names[i], names[i - 1])) {
            set_err(err, errlen, "%s: tensor name '%s' is used twice", path, names[i]);
            goto done;
        }

    /* The header is built by hand rather than with cJSON: cJSON prints large integers in exponent form ("1e+15"),
     * which strict readers (serde's usize) refuse. */
    sb_put(&h, "{", 1);
    bool comma = false;
    if (metadata && metadata[0]) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                set_err(err, errlen, "%s: metadata key '%s' has no value", path, metadata[i]);
                goto done;
            }
            for (int j = 0; j < i; j += 2)
                if (!strcmp(metadata[j], metadata[i])) {
                    set_err(err, errlen, "%s: metadata key '%s' is used twice", path, metadata[i]);
                    goto done;
                }
            if (i) sb_put(&h, ",", 1);
            sb_json_string(&h, metadata[i]);
            sb_put(&h, ":", 1);
            sb_json_string(&h, metadata[i + 1]);
        }
        sb_put(&h, "}", 1);
        comma = true;
    }
    /* Tensors are packed back to back from offset 0 with nothing after the last one: the reference implementation
     * rejects gaps. Every tensor stays aligned to its element size once the data section is 8-byte aligned. */
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const iopo_st_entry *e = &entries[i];
        if (comma) sb_put(&h, ",", 1);
        comma = true;
        sb_json_string(&h, e->name);
        sb_puts(&h, bf16 ? ":{\"dtype\":\"BF16\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) sb_printf(&h, "%s%" PRId64, d ? "," : "", e->shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%" PRIu64 ",", off);
        off += nbytes[i];
        sb_printf(&h, "%" PRIu64 "]}", off);
    }
    sb_put(&h, "}", 1);
    while (!h.oom && h.len % 8) sb_put(&h, " ", 1);
    if (h.oom) {
        set_err(err, errlen, "%s: out of memory building the header", path);
        goto done;
    }

    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) goto done;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    bool wrote = write_all(af.f, len8, 8) && write_all(af.f, h.s, h.len);
    for (int i = 0; i < n && wrote; i++) wrote = write_tensor(af.f, entries[i].data, nbytes[i], bf16);
    if (!wrote) {
        set_err(err, errlen, "%s: writing %s: %s", path, af.tmp_path, strerror(errno));
        iopo_atomic_abort(&af);
        goto done;
    }
    ok = iopo_atomic_commit(&af, err, errlen);
done:
    free(names);
    free(nbytes);
    free(h.s);
    return ok;
}
