/* Picks a physical device, creates the logical device and one compute queue, and reads the limits ops depend on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

static bool device_has_extension(VkPhysicalDevice phys, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *ext = calloc(n, sizeof *ext);
    bool found = false;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, ext) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(ext[i].extensionName, name) == 0;
    free(ext);
    return found;
}

bool vk_device_create(vk_state *s, int device_index, char *err, size_t errlen, char *name, size_t namelen) {
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(s->instance, &n, NULL);
    if (n == 0) {
        snprintf(err, errlen,
                 "no Vulkan device found (the loader works but no driver reported a device): install a driver for "
                 "your GPU or Mesa's CPU device lavapipe (Debian: apt-get install mesa-vulkan-drivers), or use "
                 "--device cpu");
        return false;
    }
    VkPhysicalDevice *devs = calloc(n, sizeof *devs);
    vkEnumeratePhysicalDevices(s->instance, &n, devs);
    int idx = device_index;
    if (idx < 0) {
        idx = vk_default_device_index(devs, (int)n);
        if (idx < 0) {
            snprintf(err, errlen, "found %u Vulkan device(s) but none supports Vulkan 1.1 (see `iopo devices`)", n);
            free(devs);
            return false;
        }
    } else if (idx >= (int)n) {
        snprintf(err, errlen, "--device %d: only %u Vulkan device(s) exist (0..%u; see `iopo devices`)", idx, n, n - 1);
        free(devs);
        return false;
    }
    s->phys = devs[idx];
    free(devs);

    vkGetPhysicalDeviceProperties(s->phys, &s->props);
    vkGetPhysicalDeviceMemoryProperties(s->phys, &s->memprops);
    if (s->props.apiVersion < VK_API_VERSION_1_1) {
        snprintf(err, errlen, "device %d (%s) supports only Vulkan 1.0; iopo needs 1.1", idx, s->props.deviceName);
        return false;
    }
    snprintf(name, namelen, "%s", s->props.deviceName);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(s->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    vkGetPhysicalDeviceQueueFamilyProperties(s->phys, &nq, qf);
    int family = -1;
    /* A compute-only family is often the dedicated async-compute engine; otherwise any family with compute. */
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) family = (int)i;
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = (int)i;
    uint32_t ts_bits = family >= 0 ? qf[family].timestampValidBits : 0;
    free(qf);
    if (family < 0) {
        snprintf(err, errlen, "device %d (%s) has no compute queue", idx, s->props.deviceName);
        return false;
    }
    s->queue_family = (uint32_t)family;
    if (s->profile && ts_bits == 0) {
        fprintf(stderr, "iopo: --profile: the compute queue of %s has no timestamps; profiling is off\n",
                s->props.deviceName);
        s->profile = false;
    }

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = s->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    VkResult r = vkCreateDevice(s->phys, &dci, NULL, &s->device);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "vkCreateDevice failed on %s (VkResult %d)", s->props.deviceName, (int)r);
        return false;
    }
    volkLoadDevice(s->device);
    vkGetDeviceQueue(s->device, s->queue_family, 0, &s->queue);

    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                                 .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    /* maxBufferSize is core in 1.3 and VK_KHR_maintenance4; the instance asks for 1.1, so the extension decides. */
    VkPhysicalDeviceMaintenance4Properties m4 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES,
                                                 .pNext = p2.pNext};
    if (device_has_extension(s->phys, VK_KHR_MAINTENANCE_4_EXTENSION_NAME)) p2.pNext = &m4;
    vkGetPhysicalDeviceProperties2(s->phys, &p2);
    const VkPhysicalDeviceLimits *l = &s->props.limits;
    vk_limits *lim = &s->limits;
    lim->subgroup_size = sg.subgroupSize;
    lim->max_shared_bytes = l->maxComputeSharedMemorySize;
    lim->max_invocations = l->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        lim->max_group_size[i] = l->maxComputeWorkGroupSize[i];
        lim->max_group_count[i] = l->maxComputeWorkGroupCount[i];
    }
    lim->max_storage_range = l->maxStorageBufferRange;
    lim->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : l->maxStorageBufferRange;
    lim->max_buffer = m4.maxBufferSize ? m4.maxBufferSize : lim->max_alloc;
    lim->storage_align = l->minStorageBufferOffsetAlignment ? l->minStorageBufferOffsetAlignment : 4;
    if (lim->storage_align < 4) lim->storage_align = 4;
    lim->max_binding = lim->max_storage_range / lim->storage_align * lim->storage_align;
    const char *knob = getenv("IOPO_VK_MAX_BINDING_BYTES");
    if (knob && *knob) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(knob, &end, 10);
        if (errno || *end || knob[0] == '-' || v < VK_MIN_BINDING_ALIGNS * lim->storage_align) {
            snprintf(err, errlen, "IOPO_VK_MAX_BINDING_BYTES=%s: want a byte count of at least %llu", knob,
                     (unsigned long long)(VK_MIN_BINDING_ALIGNS * lim->storage_align));
            return false;
        }
        if (v < lim->max_binding) lim->max_binding = v / lim->storage_align * lim->storage_align;
    }
    lim->device_max_binding = lim->max_binding;
    s->timestamp_ns = l->timestampPeriod;
    return true;
}

void vk_device_destroy(vk_state *s) {
    if (s->device) vkDestroyDevice(s->device, NULL);
    s->device = VK_NULL_HANDLE;
}

const vk_limits *vk_get_limits(const iopo_ctx *ctx) { return &ctx->vk->limits; }

bool vk_fits(const iopo_ctx *ctx, const iopo_tensor *t) { return t->vk->size <= ctx->vk->limits.max_binding; }

uint64_t vk_window_elems(const iopo_ctx *ctx, iopo_dtype dtype) {
    /* A window starts up to storage_align - es bytes before its first element, and a 16-bit one is rounded up to a
     * whole 32-bit word: both stay within max_binding (a multiple of storage_align, itself of 4). */
    const vk_limits *l = &ctx->vk->limits;
    return (l->max_binding - l->storage_align) / iopo_dtype_size(dtype) + 1;
}

vk_window vk_window_of(const iopo_ctx *ctx, const iopo_tensor *t, bool write, uint64_t begin, uint64_t end) {
    VkDeviceSize align = ctx->vk->limits.storage_align;
    uint64_t es = iopo_dtype_size(t->dtype);
    uint64_t first = begin * es / align * align;
    /* Shaders read 16-bit elements as 32-bit words, so the window ends on a whole word (the tensor's slice is rounded
     * up to storage_align, so the word is inside it). */
    uint64_t bytes = (end * es - first + 3) / 4 * 4;
    if (bytes > t->vk->size - first) bytes = t->vk->size - first;
    vk_window w = {{t, write, first, bytes, true}, (uint32_t)((begin * es - first) / es)};
    return w;
}

uint64_t vk_rows_per_window(const iopo_ctx *ctx, const char *op, const vk_arg *args, const uint64_t *row_elems,
                            int n) {
    bool split = false;
    for (int i = 0; i < n; i++) split = split || (row_elems[i] && !vk_fits(ctx, args[i].t));
    if (!split) return 0;
    uint64_t rows = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        if (!row_elems[i]) continue;
        uint64_t r = vk_window_elems(ctx, args[i].t->dtype) / row_elems[i];
        if (r == 0)
            iopo_fail("%s: one row of argument %d (%llu values) exceeds one storage binding (%llu bytes)", op, i,
                      (unsigned long long)row_elems[i], (unsigned long long)ctx->vk->limits.max_binding);
        if (r < rows) rows = r;
    }
    return rows;
}

void vk_row_windows(const iopo_ctx *ctx, const vk_arg *args, const uint64_t *row_elems, int n, uint64_t r0,
                    uint64_t r1, vk_arg *out, uint32_t *shift) {
    for (int i = 0; i < n; i++) {
        out[i] = args[i];
        shift[i] = 0;
        if (!row_elems[i]) continue;
        vk_window w = vk_window_of(ctx, args[i].t, args[i].write, r0 * row_elems[i], r1 * row_elems[i]);
        out[i] = w.arg;
        shift[i] = w.shift;
    }
}

uint32_t vk_group_size(const iopo_ctx *ctx, uint32_t want, uint32_t shared_per_invocation) {
    const vk_limits *l = &ctx->vk->limits;
    uint32_t cap = want;
    if (cap > l->max_invocations) cap = l->max_invocations;
    if (cap > l->max_group_size[0]) cap = l->max_group_size[0];
    if (shared_per_invocation && cap > l->max_shared_bytes / shared_per_invocation)
        cap = l->max_shared_bytes / shared_per_invocation;
    uint32_t wg = 1;
    while (wg * 2 <= cap) wg *= 2;
    return wg;
}
