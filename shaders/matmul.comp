// variant: matmul_nn -DTRANS_A=0 -DTRANS_B=0
// variant: matmul_nt -DTRANS_A=0 -DTRANS_B=1
// variant: matmul_tn -DTRANS_A=1 -DTRANS_B=0
// variant: matmul_tt -DTRANS_A=1 -DTRANS_B=1
//
// Tiled GEMM: C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C + bias (N).
// TRANS_A: A is stored (K,M); TRANS_B: B is stored (N,K). Each workgroup owns one BM x BN tile of C and walks K in
// BK-deep slices staged in shared memory; each invocation keeps TM x TN outputs in registers. The tile sizes are
// specialization constants picked by the recorder from the device limits (src/vkops/matmul.c).
// Every output sums its K products in increasing k order, so results do not depend on scheduling.
// B and the bias may be 16-bit (a weight kept in its checkpoint's precision): bound as uint words and widened to fp32
// as they are staged (shaders/half.glsl), so the products and sums are fp32 whatever their storage.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "half.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint B_DT = 0;      // B's dtype (DT_F32, DT_BF16, DT_F16)
layout(constant_id = 7) const uint BIAS_DT = 0;   // the bias's dtype

layout(std430, set = 0, binding = 0) buffer CBuf { float c[]; };                 // (M,N)
layout(std430, set = 0, binding = 1) readonly buffer ABuf { float a[]; };        // (M,K), or (K,M) with TRANS_A
layout(std430, set = 0, binding = 2) readonly buffer BBuf { uint b[]; };         // (K,N), or (N,K) with TRANS_B
layout(std430, set = 0, binding = 3) readonly buffer BiasBuf { uint bias[]; };   // (N); a dummy when has_bias == 0

float load_b(uint i) { return iopo_widen(b[iopo_word_index(i, B_DT)], i, B_DT); }
float load_bias(uint i) { return iopo_widen(bias[iopo_word_index(i, BIAS_DT)], i, BIAS_DT); }

layout(push_constant) uniform Push {
    uint M, N, K;
    float alpha, beta;      // beta == 0: C's old contents are never read (they may be NaN)
    uint has_bias;
    uint tiles_n;           // tiles along N; the linear tile index is tile_m * tiles_n + tile_n
    uint ntiles;            // total tiles: groups past it (from folding the grid) exit
    // Row strides of the stored A, B, C and the index of each one's first element in its binding: a product whose
    // operands exceed one binding runs as sub-products over windows of them (src/vkops/matmul.c). Unsplit the
    // strides are the dense ones and the shifts 0.
    uint lda, ldb, ldc;
    uint a_shift, b_shift, c_shift, bias_shift;
} p;

const uint WG = (BM / TM) * (BN / TN);   // must equal local_size_x (the recorder guarantees it)
const uint RM = BM / TM;                 // invocations along m: thread ty owns rows ty, ty+RM, ...
const uint RN = BN / TN;                 // invocations along n: thread tx owns columns tx, tx+RN, ...
// Both tiles are stored k-major ([k][m], [k][n]) so the inner loop reads TM (TN) values of one k row. The +1 pad
// keeps the k-fastest stores of the non-contiguous layouts (A untransposed, B transposed) off a single bank.
const uint SA = BM + 1;
const uint SB = BN + 1;
shared float As[BK * SA];
shared float Bs[BK * SB];

void main() {
    uint tile = iopo_group_id();
    if (tile >= p.ntiles) return;   // uniform across the workgroup, so no barrier is skipped by part of it
    uint m0 = (tile / p.tiles_n) * BM;
    uint n0 = (tile % p.tiles_n) * BN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % RN;
    uint ty = tid / RN;

    float acc[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        // Stage op(A)[m0:m0+BM, k0:k0+BK] and op(B)[k0:k0+BK, n0:n0+BN]; out-of-range elements become 0 so the
        // edge tiles (M, N or K not a multiple of the tile) need no test in the inner loop.
        [[unroll]] for (uint l = 0; l < (BM * BK + WG - 1) / WG; ++l) {
            uint idx = tid + l * WG;
            if (idx < BM * BK) {
#if TRANS_A
                uint mm = idx % BM, kk = idx / BM;   // consecutive invocations read consecutive m: coalesced
                uint gm = m0 + mm, gk = k0 + kk;
                As[kk * SA + mm] = (gm < p.M && gk < p.K) ? a[p.a_shift + gk * p.lda + gm] : 0.0;
#else
                uint kk = idx % BK, mm = idx / BK;   // consecutive invocations read consecutive k: coalesced
                uint gm = m0 + mm, gk = k0 + kk;
                As[kk * SA + mm] = (gm < p.M && gk < p.K) ? a[p.a_shift + gm * p.lda + gk] : 0.0;
#endif
            }
        }
        [[unroll]] for (uint l = 0; l < (BN * BK + WG - 1) / WG; ++l) {
            uint idx = tid + l * WG;
            if (idx < BN * BK) {
#if TRANS_B
                uint kk = idx % BK, nn = idx / BK;
                uint gn = n0 + nn, gk = k0 + kk;
                Bs[kk * SB + nn] = (gn < p.N && gk < p.K) ? load_b(p.b_shift + gn * p.ldb + gk) : 0.0;
#else
                uint nn = idx % BN, kk = idx / BN;
                uint gn = n0 + nn, gk = k0 + kk;
                Bs[kk * SB + nn] = (gn < p.N && gk < p.K) ? load_b(p.b_shift + gk * p.ldb + gn) : 0.0;
#endif
            }
        }
        barrier();

        [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
            float ra[TM], rb[TN];
            [[unroll]] for (uint i = 0; i < TM; ++i) ra[i] = As[kk * SA + ty + i * RM];
            [[unroll]] for (uint j = 0; j < TN; ++j) rb[j] = Bs[kk * SB + tx + j * RN];
            [[unroll]] for (uint i = 0; i < TM; ++i)
                [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = fma(ra[i], rb[j], acc[i][j]);
        }
        barrier();   // the next slice overwrites the tiles
    }

    [[unroll]] for (uint i = 0; i < TM; ++i) {
        uint m = m0 + ty + i * RM;
        if (m >= p.M) continue;
        [[unroll]] for (uint j = 0; j < TN; ++j) {
            uint n = n0 + tx + j * RN;
            if (n >= p.N) continue;
            uint o = p.c_shift + m * p.ldc + n;
            float v = p.alpha * acc[i][j];
            if (p.beta != 0.0) v += p.beta * c[o];
            if (p.has_bias != 0u) v += load_bias(p.bias_shift + n);
            c[o] = v;
        }
    }
}
