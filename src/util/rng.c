#include "iopo/rng.h"

#include <math.h>

/* splitmix64: tiny, full-period, and identical on every platform. */
void iopo_rng_seed(iopo_rng *r, uint64_t seed) { r->state = seed ^ 0x9E3779B97F4A7C15ull; }

uint64_t iopo_rng_u64(iopo_rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float iopo_rng_uniform(iopo_rng *r) { return (float)(iopo_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float iopo_rng_normal(iopo_rng *r) {
    /* Box-Muller in double so the result does not depend on float transcendental accuracy. */
    double u1 = ((double)(iopo_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(iopo_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void iopo_rng_fill_uniform(iopo_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * iopo_rng_uniform(r);
}

void iopo_rng_fill_normal(iopo_rng *r, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * iopo_rng_normal(r);
}
