// Shared by the softmax_ce_*.comp shaders.
// Rows are the B*T token positions; each owns V contiguous logits.
// A target outside [0, V) on a row whose mask is non-zero is a caller bug; it is clamped into range so that the read
// stays inside the row (no device fault), and the forward and backward use the same clamped index, so the gradient
// still matches the (meaningless) loss. The CPU backend does the same.

#define SCE_HAS_DLOSS 1u
#define SCE_HAS_DSEQ 2u

uint sce_clamp_target(int t, uint V) { return uint(clamp(t, 0, int(V) - 1)); }
