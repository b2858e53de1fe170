#include "ops/op_check.h"

#include <stdio.h>
#include <stdlib.h>

static const char *dtype_name(iopo_dtype dt) { return dt == IOPO_F32 ? "f32" : "i32"; }

static void check_impl(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt,
                       size_t numel, bool optional, bool exact) {
    if (!t) {
        if (optional) return;
        fprintf(stderr, "iopo: internal error: %s: argument %s is NULL\n", op, name);
        abort();
    }
    if (t->ctx != ctx) {
        fprintf(stderr, "iopo: internal error: %s: argument %s belongs to another context\n", op, name);
        abort();
    }
    if (t->dtype != dt) {
        fprintf(stderr, "iopo: internal error: %s: argument %s is %s, expected %s\n", op, name, dtype_name(t->dtype),
                dtype_name(dt));
        abort();
    }
    if (exact ? t->numel != numel : t->numel < numel) {
        fprintf(stderr, "iopo: internal error: %s: argument %s has %zu elements, expected %s%zu\n", op, name, t->numel,
                exact ? "" : "at least ", numel);
        abort();
    }
}

void op_check(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt, size_t numel,
              bool optional) {
    check_impl(ctx, op, name, t, dt, numel, optional, true);
}

void op_check_min(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt, size_t numel,
                  bool optional) {
    check_impl(ctx, op, name, t, dt, numel, optional, false);
}

void op_require(bool cond, const char *op, const char *what) {
    if (cond) return;
    fprintf(stderr, "iopo: internal error: %s: %s\n", op, what);
    abort();
}
