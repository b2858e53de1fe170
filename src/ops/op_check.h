/* Argument checks shared by the op dispatchers in src/ops/: a wrong shape or backend mix-up is a programming error,
 * so it aborts with a message naming the op and the argument instead of corrupting memory. */
#ifndef IOPO_OP_CHECK_H
#define IOPO_OP_CHECK_H

#include <stdint.h>

#include "iopo/context.h"

/* Aborts unless t belongs to ctx, has dtype dt and exactly numel elements. A NULL t passes when optional. */
void op_check(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt, size_t numel,
              bool optional);
/* Like op_check, but t may hold more than numel elements (e.g. a positional table longer than T). */
void op_check_min(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, iopo_dtype dt, size_t numel,
                  bool optional);
/* Like op_check / op_check_min, for an input that may be F32, BF16 or F16 (a weight kept in its own precision). */
void op_check_float(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, size_t numel,
                    bool optional);
void op_check_float_min(iopo_ctx *ctx, const char *op, const char *name, const iopo_tensor *t, size_t numel,
                        bool optional);
void op_require(bool cond, const char *op, const char *what);
/* The element data of an optional tensor (NULL for NULL) and its dtype (F32 for NULL). */
static inline const void *op_data(const iopo_tensor *t) { return t ? t->data : NULL; }
static inline iopo_dtype op_dtype(const iopo_tensor *t) { return t ? t->dtype : IOPO_F32; }

static inline bool op_on_cpu(const iopo_ctx *ctx) { return iopo_ctx_backend(ctx) == IOPO_BACKEND_CPU; }
static inline float *op_f32(const iopo_tensor *t) { return t ? (float *)t->data : NULL; }
static inline int32_t *op_i32(const iopo_tensor *t) { return t ? (int32_t *)t->data : NULL; }

#endif
