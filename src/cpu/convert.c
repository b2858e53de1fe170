/* CPU reference of iopo_convert (include/iopo/ops.h): the scalar conversions of util/half.h over the elements. */
#include "cpu/cpu_ops.h"
#include "util/half.h"

void cpu_convert(void *dst, iopo_dtype dst_dt, const void *src, iopo_dtype src_dt, size_t N) {
    // dst (N), src (N): one side F32, the other BF16 or F16
    const size_t chunk = 1 << 16;   // per task: long enough to amortise the scheduling, short enough to balance
    if (src_dt == IOPO_F32) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < N; i += chunk)
            iopo_narrow_f32((uint16_t *)dst + i, dst_dt, (const float *)src + i, N - i < chunk ? N - i : chunk);
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < N; i += chunk)
            iopo_widen_f32((float *)dst + i, src, src_dt, i, N - i < chunk ? N - i : chunk);
    }
}
