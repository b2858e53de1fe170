/* Vulkan recorder of iopo_convert (shaders/convert.comp). */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct convert_push {
    uint32_t ngroups, n, dst_shift, src_shift;
} convert_push;

void vkop_convert(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N) {
    // dst (N), src (N): one side F32, the other BF16 or F16
    uint32_t spec[3] = {vk_group_size(ctx, 256, 0), (uint32_t)src->dtype, (uint32_t)dst->dtype};
    /* Tensors over one binding convert in pieces, each a window of both: a piece holds as many elements as an fp32
     * window does (the 16-bit side's window is half as wide) and starts at an even element, so its 16-bit window
     * starts on a whole word and its pairs stay whole words. Every element converts on its own: splitting changes
     * no bit. */
    bool whole = vk_fits(ctx, dst) && vk_fits(ctx, src);
    uint64_t piece = whole ? (uint64_t)N : vk_window_elems(ctx, IOPO_F32) / 2 * 2;
    op_require(piece < ((uint64_t)1 << 31), "convert", "over 2^31 elements in one binding are not supported");
    for (uint64_t begin = 0; begin < (uint64_t)N; begin += piece) {
        uint64_t end = (uint64_t)N - begin < piece ? (uint64_t)N : begin + piece;
        uint64_t words = (end - begin + 1) / 2;
        uint32_t wg = spec[0];
        uint64_t groups = (words + wg - 1) / wg;
        convert_push pc = {(uint32_t)groups, (uint32_t)(end - begin), 0, 0};
        vk_arg args[2] = {VK_W(dst), VK_R(src)};
        if (!whole) {
            vk_window wd = vk_window_of(ctx, dst, true, begin, end), ws = vk_window_of(ctx, src, false, begin, end);
            args[0] = wd.arg;
            args[1] = ws.arg;
            pc.dst_shift = wd.shift;
            pc.src_shift = ws.shift;
        }
        vk_dispatch_1d(ctx, "convert", spec, 3, args, 2, &pc, sizeof pc, groups);
    }
}
