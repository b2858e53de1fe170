/* Checks of the 16-bit float types: the scalar conversions of src/util/half.h against formulas computed here in
 * float64 (every 16-bit value widened; narrowing at every rounding tie and its neighbours, NaN, inf, overflow, fp16
 * subnormals, random fp32 patterns), and iopo_convert on both backends bit for bit against those conversions (odd
 * counts, a view whose neighbours must survive, pieces of a tensor over one binding). Bit-identity with torch itself
 * is the safetensors_python test's (tests/safetensors_check.py): the conversions are checked there against torch's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "util/half.h"
#include "vk/vk.h"

/* The format's significant bits p (implicit bit included), smallest normal exponent and largest finite value. */
typedef struct half_format {
    iopo_dtype dt;
    int p, emin;
    double max_finite;
} half_format;

static const half_format BF16_FMT = {IOPO_BF16, 8, -126, 0x1.fep127};
static const half_format F16_FMT = {IOPO_F16, 11, -14, 65504.0};

/* The value of 16-bit pattern h, from the format's definition. NAN for NaN patterns. */
static double half_value(const half_format *f, uint16_t h) {
    int ebits = f->dt == IOPO_BF16 ? 8 : 5, mbits = f->p - 1, bias = (1 << (ebits - 1)) - 1;
    int e = (h >> mbits) & ((1 << ebits) - 1), man = h & ((1 << mbits) - 1);
    double sign = (h >> 15) ? -1.0 : 1.0, v;
    if (e == (1 << ebits) - 1) v = man ? NAN : INFINITY;
    else if (e == 0) v = ldexp(man, 1 - bias - mbits);
    else v = ldexp(man + (1 << mbits), e - bias - mbits);
    return sign * v;
}

/* x rounded to the format (nearest, ties to even) and encoded, computed in float64: the rounding quantum is the ulp of
 * x's binade (or of the smallest normal one, for subnormals); x / q is exact, nearbyint rounds half to even. Overflow
 * follows from the rounding itself: a result past the largest finite value is inf. NaN is not handled here. */
static uint16_t ref_narrow(const half_format *f, float x) {
    uint16_t sign = signbit(x) ? 0x8000u : 0;
    double a = fabs((double)x);
    int ebits = f->dt == IOPO_BF16 ? 8 : 5, mbits = f->p - 1, bias = (1 << (ebits - 1)) - 1;
    uint16_t inf = (uint16_t)(sign | (((1u << ebits) - 1) << mbits));
    if (isinf(a)) return inf;
    if (a == 0) return sign;
    int e;
    frexp(a, &e);
    e -= 1;   // a in [2^e, 2^(e+1))
    if (e < f->emin) e = f->emin;
    double q = ldexp(1.0, e - mbits), r = nearbyint(a / q) * q;
    if (r > f->max_finite) return inf;
    if (r < ldexp(1.0, f->emin)) return (uint16_t)(sign | (uint16_t)(r / ldexp(1.0, f->emin - mbits)));
    frexp(r, &e);
    e -= 1;
    uint32_t man = (uint32_t)(r / ldexp(1.0, e - mbits)) - (1u << mbits);
    return (uint16_t)(sign | ((uint32_t)(e + bias) << mbits) | man);
}

static uint16_t helper_narrow(iopo_dtype dt, float x) {
    return dt == IOPO_BF16 ? iopo_f32_to_bf16(x) : iopo_f32_to_f16(x);
}

static float helper_widen(iopo_dtype dt, uint16_t h) {
    return dt == IOPO_BF16 ? iopo_bf16_to_f32(h) : iopo_f16_to_f32(h);
}

/* Narrowing x must give the reference (a NaN: a quiet NaN of x's sign). Counts mismatches, prints the first few. */
static size_t narrow_mismatch(const half_format *f, float x, size_t *shown) {
    uint16_t got = helper_narrow(f->dt, x);
    bool ok;
    uint16_t want = 0;
    if (isnan(x)) {
        int mbits = f->p - 1;
        bool is_nan = isnan(helper_widen(f->dt, got)), quiet = (got >> (mbits - 1)) & 1u;
        ok = is_nan && quiet && ((got >> 15) != 0) == (signbit(x) != 0);
    } else {
        want = ref_narrow(f, x);
        ok = got == want;
    }
    if (!ok && (*shown)++ < 5)
        printf("    %s(%a = 0x%08x): got 0x%04x, expected 0x%04x\n", iopo_dtype_name(f->dt), (double)x,
               iopo_f32_bits(x), got, want);
    return !ok;
}

/* The fp32 values where narrowing decides: every 16-bit value, the midpoints to its neighbours (the ties) and the
 * fp32 values just either side of those, the extremes and NaNs, and random fp32 bit patterns. Returns a malloc'd
 * array and its count. */
static float *narrow_inputs(check_ctx *cc, const half_format *f, size_t *count) {
    const size_t nrand = 1 << 18;
    size_t cap = 65536 * 5 + nrand + 32, n = 0;
    float *x = malloc(cap * sizeof *x);
    for (uint32_t h = 0; h < 65536; h++) {
        double v = half_value(f, (uint16_t)h);
        if (isnan(v) || isinf(v)) continue;
        // the next value away from zero (past the largest finite: where inf would sit, 2^(emax+1))
        uint16_t up = (uint16_t)(h + 1);
        bool top = (h & 0x7fffu) == (f->dt == IOPO_BF16 ? 0x7f7fu : 0x7bffu);
        double vu = top ? ldexp(1.0, f->dt == IOPO_BF16 ? 128 : 16) : fabs(half_value(f, up));
        double mid = (fabs(v) + vu) / 2 * (signbit(v) ? -1.0 : 1.0);
        float m = (float)mid;   // exact: a midpoint needs p + 1 significant bits, and fp32 has 24
        x[n++] = (float)v;
        x[n++] = m;
        x[n++] = nextafterf(m, 0.0f);
        x[n++] = nextafterf(m, signbit(v) ? -INFINITY : INFINITY);
        x[n++] = nextafterf((float)v, 0.0f);
    }
    const float extra[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 0x1.fffffep127f, -0x1.fffffep127f, 0x1p-149f,
                           -0x1p-149f, 0x1p-126f, 65504.0f, 65519.996f, 65520.0f, 65536.0f, 0x1p-24f, 0x1p-25f,
                           0x1.000002p-25f, 0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f, 1.0f};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) x[n++] = extra[i];
    const uint32_t nan_bits[] = {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu, 0xffffffffu, 0x7f802000u};
    for (size_t i = 0; i < sizeof nan_bits / sizeof nan_bits[0]; i++) x[n++] = iopo_bits_f32(nan_bits[i]);
    for (size_t i = 0; i < nrand; i++) x[n++] = iopo_bits_f32((uint32_t)iopo_rng_u64(&cc->rng));
    *count = n;
    return x;
}

static void scalar_checks(check_ctx *cc, const half_format *f) {
    const char *name = iopo_dtype_name(f->dt);
    // widening: all 65,536 patterns against the format's definition (NaN: a NaN of the same sign)
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = helper_widen(f->dt, (uint16_t)h);
        double want = half_value(f, (uint16_t)h);
        bool ok = isnan(want) ? isnan(got) && (signbit(got) != 0) == (h >> 15 != 0)
                              : (double)got == want && (signbit(got) != 0) == (h >> 15 != 0);
        if (!ok && bad++ < 5) printf("    %s 0x%04x: got %a, expected %a\n", name, h, (double)got, want);
    }
    check_row(cc, "convert", name, "widen all 65536 == formula", (double)bad, 0, bad == 0);

    // narrowing against the float64 rounding
    size_t n, shown = 0;
    float *x = narrow_inputs(cc, f, &n);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += narrow_mismatch(f, x[i], &shown);
    char what[64];
    snprintf(what, sizeof what, "narrow %zu values == fp64 rne", n);
    check_row(cc, "convert", name, what, (double)bad, 0, bad == 0);
    free(x);

    // round trip: every non-NaN value narrows back to itself
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = helper_widen(f->dt, (uint16_t)h);
        if (!isnan(v) && helper_narrow(f->dt, v) != h && bad++ < 5)
            printf("    %s 0x%04x does not round-trip\n", name, h);
    }
    check_row(cc, "convert", name, "narrow(widen(h)) == h", (double)bad, 0, bad == 0);
}

/* iopo_convert of n values on ctx, src given as host bytes of src_dt; returns the downloaded dst bytes. */
static void *run_convert(iopo_ctx *ctx, iopo_dtype dst_dt, iopo_dtype src_dt, const void *src, size_t n) {
    iopo_tensor *s = iopo_tensor_new1(ctx, src_dt, (int64_t)n), *d = iopo_tensor_new1(ctx, dst_dt, (int64_t)n);
    iopo_tensor_upload(s, src);
    iopo_convert(ctx, d, s, n);
    void *out = check_download(d);
    iopo_tensor_free(s);
    iopo_tensor_free(d);
    return out;
}

/* Both directions for one format: the CPU backend equals the scalar conversions, the device equals the CPU, bit for
 * bit (NaN payloads included: both take the same integer steps). n is odd: the last word is half used. */
static void convert_checks(check_ctx *cc, const half_format *f, size_t n) {
    char shape[48];
    snprintf(shape, sizeof shape, "N=%zu %s", n, iopo_dtype_name(f->dt));
    size_t nin;
    float *x = narrow_inputs(cc, f, &nin);
    float *src32 = malloc(n * sizeof *src32);
    for (size_t i = 0; i < n; i++) src32[i] = x[(i * 7919) % nin];   // spread the interesting values over the range
    uint16_t *want16 = malloc(n * sizeof *want16), *src16 = malloc(n * sizeof *src16);
    float *want32 = malloc(n * sizeof *want32);
    for (size_t i = 0; i < n; i++) {
        want16[i] = helper_narrow(f->dt, src32[i]);
        src16[i] = (uint16_t)iopo_rng_u64(&cc->rng);   // every pattern, NaNs included
        want32[i] = helper_widen(f->dt, src16[i]);
    }
    uint16_t *cpu16 = run_convert(cc->cpu, f->dt, IOPO_F32, src32, n);
    float *cpu32 = run_convert(cc->cpu, IOPO_F32, f->dt, src16, n);
    check_identical(cc, "convert", shape, "cpu f32->16 == scalar", cpu16, want16, n * 2);
    check_identical(cc, "convert", shape, "cpu 16->f32 == scalar", cpu32, want32, n * 4);
    if (cc->dev) {
        uint16_t *dev16 = run_convert(cc->dev, f->dt, IOPO_F32, src32, n);
        float *dev32 = run_convert(cc->dev, IOPO_F32, f->dt, src16, n);
        check_identical(cc, "convert", shape, "vulkan f32->16 == cpu", dev16, cpu16, n * 2);
        check_identical(cc, "convert", shape, "vulkan 16->f32 == cpu", dev32, cpu32, n * 4);
        free(dev16);
        free(dev32);
    }
    free(cpu16);
    free(cpu32);
    free(x);
    free(src32);
    free(want16);
    free(src16);
    free(want32);
}

/* Narrowing into a view of odd length inside a larger 16-bit tensor: the element after the view shares the view's
 * last 32-bit word and must keep its value, and nothing outside the view may change. The view starts at the
 * device's storage-buffer alignment (in elements), as views must. */
static void view_case(check_ctx *cc, iopo_ctx *ctx, const char *backend) {
    size_t align = ctx == cc->dev && iopo_ctx_backend(ctx) == IOPO_BACKEND_VULKAN
                       ? (size_t)vk_get_limits(ctx)->storage_align / 2
                       : 8;
    size_t total = 4 * align + 64, off = 2 * align, n = 2 * align + 5;   // odd: the last word is shared
    uint16_t *base0 = malloc(total * 2);
    for (size_t i = 0; i < total; i++) base0[i] = (uint16_t)(0x3c00u + i);   // fp16 values, all distinct
    float *src = check_randn(cc, n, 3.0f);
    iopo_tensor *base = iopo_tensor_new1(ctx, IOPO_F16, (int64_t)total);
    iopo_tensor_upload(base, base0);
    iopo_tensor *view = iopo_tensor_view(base, off, 1, (int64_t[]){(int64_t)n});
    iopo_tensor *s = check_tensor1(ctx, IOPO_F32, src, (int64_t)n);
    iopo_convert(ctx, view, s, n);
    uint16_t *got = check_download(base);
    for (size_t i = 0; i < n; i++) base0[off + i] = iopo_f32_to_f16(src[i]);
    char what[64];
    snprintf(what, sizeof what, "%s into a view, neighbours kept", backend);
    check_identical(cc, "convert", "F16 view N=2a+5 at 2a", what, got, base0, total * 2);
    free(got);
    iopo_tensor_free(s);
    iopo_tensor_free(view);
    iopo_tensor_free(base);
    free(base0);
    free(src);
}

/* A tensor over the binding limit converts in pieces (lowered with iopo_ctx_set_max_binding): more dispatches, the
 * same bits as unsplit, both directions. */
static void split_case(check_ctx *cc) {
    if (!cc->dev || iopo_ctx_backend(cc->dev) != IOPO_BACKEND_VULKAN) return;
    const size_t n = 100003;   // fp32 400 KB, bf16 200 KB: both over a 64 KiB limit, the last piece short
    float *src32 = check_randn(cc, n, 1.0f);
    uint16_t *src16 = malloc(n * 2);
    for (size_t i = 0; i < n; i++) src16[i] = (uint16_t)iopo_rng_u64(&cc->rng);
    uint16_t *whole16 = run_convert(cc->dev, IOPO_BF16, IOPO_F32, src32, n);
    float *whole32 = run_convert(cc->dev, IOPO_F32, IOPO_BF16, src16, n);
    iopo_ctx_set_max_binding(cc->dev, 64 << 10);
    uint64_t before = vk_dispatch_count(cc->dev);
    uint16_t *split16 = run_convert(cc->dev, IOPO_BF16, IOPO_F32, src32, n);
    float *split32 = run_convert(cc->dev, IOPO_F32, IOPO_BF16, src16, n);
    uint64_t dispatches = vk_dispatch_count(cc->dev) - before;
    iopo_ctx_set_max_binding(cc->dev, 0);
    const char *shape = "N=100003 bf16 limit 64K";
    check_row(cc, "convert", shape, "split: dispatches for 2 calls", (double)dispatches, 2, dispatches > 2);
    check_identical(cc, "convert", shape, "split f32->bf16 == unsplit", split16, whole16, n * 2);
    check_identical(cc, "convert", shape, "split bf16->f32 == unsplit", split32, whole32, n * 4);
    free(src32), free(src16), free(whole16), free(whole32), free(split16), free(split32);
}

void check_dtype(check_ctx *cc) {
    const half_format *fmts[2] = {&BF16_FMT, &F16_FMT};
    for (int i = 0; i < 2; i++) {
        scalar_checks(cc, fmts[i]);
        convert_checks(cc, fmts[i], 1);
        convert_checks(cc, fmts[i], 300007);
    }
    view_case(cc, cc->cpu, "cpu");
    if (cc->dev) view_case(cc, cc->dev, "vulkan");
    split_case(cc);
}
