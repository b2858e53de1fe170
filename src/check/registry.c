#include "check/check.h"

void check_matmul(check_ctx *cc);
void check_norm(check_ctx *cc);
void check_eltwise(check_ctx *cc);
void check_dtype(check_ctx *cc);
void check_embedding(check_ctx *cc);
void check_attention(check_ctx *cc);
void check_decode(check_ctx *cc);
void check_rope(check_ctx *cc);
void check_qk_norm(check_ctx *cc);
void check_softmax_ce(check_ctx *cc);
void check_optim(check_ctx *cc);
void check_pref(check_ctx *cc);
void check_lora(check_ctx *cc);
void check_split(check_ctx *cc);

/* Order: cheap element-wise ops first, so a broken runtime shows on the simplest shader. */
const check_entry check_registry[] = {
    {"eltwise", check_eltwise},
    {"dtype", check_dtype},
    {"norm", check_norm},
    {"matmul", check_matmul},
    {"embedding", check_embedding},
    {"attention", check_attention},
    {"decode", check_decode},
    {"rope", check_rope},
    {"qk_norm", check_qk_norm},
    {"softmax_ce", check_softmax_ce},
    {"optim", check_optim},
    {"pref", check_pref},
    {"lora", check_lora},
    {"split", check_split},
};
const int check_registry_count = (int)(sizeof check_registry / sizeof check_registry[0]);
