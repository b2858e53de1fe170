// LoRA dropout's keep mask, shared in meaning with src/cpu/lora.c (cpu_lora_keep): the same 32-bit integer hash
// (a lowbias32-style mixer: xor-shift and odd multipliers) of the element index and the seed; an element is kept when
// the hash's top 24 bits are at least threshold = round(p * 2^24).
uint lora_mix(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

bool lora_keep(uint seed, uint index, uint threshold) {
    return (lora_mix(index * 0x9e3779b9u ^ lora_mix(seed)) >> 8) >= threshold;
}
