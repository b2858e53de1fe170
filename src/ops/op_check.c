#include "ops/op_check.h"

#include <stdio.h>
#include <stdlib.h>

/* dt < 0: any float dtype (F32, BF16, F16). */
static void check_impl(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, int dt, size_t numel,
                       bool optional, bool exact) {
    if (!t) {
        if (optional) return;
        fprintf(stderr, "iopo: internal error: %s: argument %s is NULL\n", op, name);
        abort();
    }
    if (t->ctx != ctx) {
        fprintf(stderr, "iopo: internal error: %s: argument %s belongs to another context\n", op, name);
        abort();
    }
    bool is_float = t->dtype == IOPO_F32 || t->dtype == IOPO_BF16 || t->dtype == IOPO_F16;
    if (dt < 0 ? !is_float : (int)t->dtype != dt) {
        fprintf(stderr, "iopo: internal error: %s: argument %s is %s, expected %s\n", op, name,
                iopo_dtype_name(t->dtype), dt < 0 ? "f32, bf16 or f16" : iopo_dtype_name((iopo_dtype)dt));
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
    check_impl(ctx, op, name, t, (int)dt, numel, optional, true);
}

void op_check_min(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt, size_t numel,
                  bool optional) {
    check_impl(ctx, op, name, t, (int)dt, numel, optional, false);
}

void op_check_float(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, size_t numel,
                    bool optional) {
    check_impl(ctx, op, name, t, -1, numel, optional, true);
}

void op_check_float_min(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, size_t numel,
                        bool optional) {
    check_impl(ctx, op, name, t, -1, numel, optional, false);
}

void op_require(bool cond, const char *op, const char *what) {
    if (cond) return;
    fprintf(stderr, "iopo: internal error: %s: %s\n", op, what);
    abort();
}
