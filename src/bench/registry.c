#include "bench/bench.h"

void bench_eltwise(bench_ctx *bc);
void bench_norm(bench_ctx *bc);
void bench_matmul(bench_ctx *bc);
void bench_embedding(bench_ctx *bc);
void bench_attention(bench_ctx *bc);
void bench_decode(bench_ctx *bc);
void bench_rope(bench_ctx *bc);
void bench_qk_norm(bench_ctx *bc);
void bench_softmax_ce(bench_ctx *bc);
void bench_optim(bench_ctx *bc);
void bench_lora(bench_ctx *bc);
void bench_convert(bench_ctx *bc);

const bench_entry bench_registry[] = {
    {"eltwise", bench_eltwise},
    {"norm", bench_norm},
    {"matmul", bench_matmul},
    {"embedding", bench_embedding},
    {"attention", bench_attention},
    {"decode", bench_decode},
    {"rope", bench_rope},
    {"qk_norm", bench_qk_norm},
    {"softmax_ce", bench_softmax_ce},
    {"optim", bench_optim},
    {"lora", bench_lora},
    {"convert", bench_convert},
};
const int bench_registry_count = (int)(sizeof bench_registry / sizeof bench_registry[0]);
