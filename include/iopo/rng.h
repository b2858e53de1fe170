/* Seeded random numbers: the same seed gives the same stream on every machine. */
#ifndef IOPO_RNG_H
#define IOPO_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t state; } iopo_rng;

void iopo_rng_seed(iopo_rng *r, uint64_t seed);
uint64_t iopo_rng_u64(iopo_rng *r);
float iopo_rng_uniform(iopo_rng *r);                     /* [0, 1) */
float iopo_rng_normal(iopo_rng *r);                      /* mean 0, std 1 */
void iopo_rng_fill_uniform(iopo_rng *r, float *x, size_t n, float lo, float hi);
void iopo_rng_fill_normal(iopo_rng *r, float *x, size_t n, float mean, float std);

#endif
