/* Op checks shared by `iopo selftest` and the ctest suite: each check builds seeded random inputs, runs an op on the
 * device under test and on the CPU reference and compares (|got - ref| <= atol + rtol*|ref|), checks the CPU backward
 * against central finite differences of the CPU forward, and checks that the device gives bit-identical results when
 * run twice. Every comparison becomes one row of the pass/fail table. */
#ifndef IOPO_CHECK_H
#define IOPO_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/context.h"
#include "iopo/ops.h"
#include "iopo/rng.h"

typedef struct check_ctx {
    iopo_ctx *dev;          /* device under test; NULL when selftest runs on the CPU backend alone */
    iopo_ctx *cpu;          /* reference backend */
    iopo_rng rng;
    int rows, failures;
} check_ctx;

/* One comparison of n floats; records a table row named op / shape / what; returns whether it passed. */
bool check_close(check_ctx *cc, const char *op, const char *shape, const char *what, const float *got,
                 const float *ref, size_t n, double atol, double rtol);
/* Bit-identical comparison (determinism). */
bool check_identical(check_ctx *cc, const char *op, const char *shape, const char *what, const void *a, const void *b,
                     size_t bytes);
/* A row computed by the caller: err against tol. */
bool check_row(check_ctx *cc, const char *op, const char *shape, const char *what, double err, double tol, bool pass);

/* Central finite differences of a scalar function of x, at `samples` indices drawn from [0, n) (all when n <= samples):
 * for each, (f(x + h e_i) - f(x - h e_i)) / 2h is compared with analytic[i] (atol + rtol*|fd|). eval(user) must read x
 * through the caller's own pointer; x is restored afterwards. One table row. */
typedef double (*check_scalar_fn)(void *user);
bool check_fd(check_ctx *cc, const char *op, const char *shape, const char *what, float *x, size_t n,
              const float *analytic, check_scalar_fn eval, void *user, int samples, float h, double atol, double rtol);

/* Host arrays (malloc'd, free with free()). */
float *check_randn(check_ctx *cc, size_t n, float std);
float *check_randu(check_ctx *cc, size_t n, float lo, float hi);
int32_t *check_randi(check_ctx *cc, size_t n, int32_t lo, int32_t hi_exclusive);
/* sum_i a[i]*b[i] in double: the scalar loss L = <out, r> whose gradient w.r.t. out is r. */
double check_dot(const float *a, const float *b, size_t n);

/* Tensors: new tensor on ctx holding a copy of host (NULL = zeros); download into a malloc'd array. */
iopo_tensor *check_tensor(iopo_ctx *ctx, iopo_dtype dt, const void *host, int ndim, const int64_t *shape);
iopo_tensor *check_tensor1(iopo_ctx *ctx, iopo_dtype dt, const void *host, int64_t n);
void *check_download(const iopo_tensor *t);
/* A float tensor of dtype dt (F32, BF16 or F16) holding host's fp32 values (rounded to dt as iopo_convert does). */
iopo_tensor *check_tensor_as(iopo_ctx *ctx, iopo_dtype dt, const float *host, int ndim, const int64_t *shape);
/* host's n values as a dt tensor holds them: rounded to dt and widened back (a malloc'd copy; F32: unchanged). The
 * fp64 references of ops on 16-bit inputs are computed from these. */
float *check_rounded(const float *host, size_t n, iopo_dtype dt);

/* A registered check: runs all its comparisons, returns the number of failed rows. */
typedef struct check_entry {
    const char *name;       /* matched by --only */
    void (*run)(check_ctx *cc);
} check_entry;

extern const check_entry check_registry[];
extern const int check_registry_count;

void check_print_header(void);

#endif
