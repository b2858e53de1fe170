/* The context as both backends see it. Public code holds iopo_ctx opaquely (include/iopo/context.h). */
#ifndef IOPO_CONTEXT_INTERNAL_H
#define IOPO_CONTEXT_INTERNAL_H

#include "iopo/context.h"

struct vk_state;

struct iopo_ctx {
    iopo_backend_kind kind;
    char device_name[256];
    struct vk_state *vk;       /* NULL on the CPU backend */
    size_t tensor_bytes, tensor_bytes_peak;
};

/* Sends message (printf format) to the failure handler of iopo_set_failure_handler; does not return. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void iopo_fail(const char *fmt, ...);

#endif
