/* State of one Vulkan context, shared by the runtime files in src/vk/ (instance, device, memory, pipeline, stream). */
#ifndef IOPO_VK_INTERNAL_H
#define IOPO_VK_INTERNAL_H

#include <stdio.h>

#include "core/context_internal.h"
#include "vk/vk.h"

typedef struct vk_range {
    VkDeviceSize offset, size;
} vk_range;

typedef struct vk_block {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize size;
    vk_range *free;            /* free ranges sorted by offset, coalesced */
    int nfree, capfree;
    VkDeviceSize used;
} vk_block;

typedef struct vk_staging_chunk {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *mapped;
    VkDeviceSize size, used;
} vk_staging_chunk;

typedef struct vk_pipeline_entry {
    int blob;
    int nspec;
    uint32_t spec[VK_MAX_SPEC];
    int nargs;
    VkPipeline pipeline;
} vk_pipeline_entry;

typedef struct vk_access {
    VkBuffer buffer;
    VkDeviceSize begin, end;
    bool write;
} vk_access;

typedef struct vk_profile_row {
    const char *label;          /* points into the embedded blob table: lives as long as the process */
    double ms;
    uint64_t calls;
} vk_profile_row;

typedef struct vk_state {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    vk_limits limits;

    /* memory */
    uint32_t device_type_bits_cache;
    VkDeviceSize block_size;
    vk_block *blocks;
    int nblocks, capblocks;
    vk_staging_chunk *staging;
    int nstaging, capstaging;

    /* pipelines */
    VkShaderModule *modules;                     /* one per embedded blob, created on first use */
    VkDescriptorSetLayout set_layouts[VK_MAX_ARGS + 1];
    VkPipelineLayout pipeline_layouts[VK_MAX_ARGS + 1];
    vk_pipeline_entry *pipelines;
    int npipelines, cappipelines;

    /* stream */
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;
    VkDescriptorPool *desc_pools;
    int ndesc_pools, capdesc_pools, cur_desc_pool;
    vk_access *pending;
    int npending, cappending;
    uint64_t dispatches_recorded;

    /* profiling */
    bool profile;
    VkQueryPool query_pool;
    uint32_t query_capacity, nqueries;
    const char **query_labels;                   /* label of the dispatch ending at query i */
    vk_profile_row *prof;
    int nprof, capprof;
    double timestamp_ns;

    vk_slice *deferred;                          /* freed tensors whose ranges recorded commands may still use */
    int ndeferred, capdeferred;

    iopo_tensor *dummy;
} vk_state;

/* instance.c */
bool vk_instance_create(vk_state *s, bool validate, char *err, size_t errlen);
void vk_instance_destroy(vk_state *s);
/* Lists the physical devices in selection order with their properties; returns -1 and sets err when none. */
int vk_default_device_index(VkPhysicalDevice *devs, int n);
void vk_print_devices(FILE *out, VkInstance instance);

/* device.c */
bool vk_device_create(vk_state *s, int device_index, char *err, size_t errlen, char *name, size_t namelen);
void vk_device_destroy(vk_state *s);

/* memory.c */
bool vk_memory_alloc(vk_state *s, VkDeviceSize bytes, vk_slice *out, char *err, size_t errlen);
void vk_memory_free(vk_state *s, const vk_slice *slice);
/* Frees at the next submit (or now when nothing is recorded). */
void vk_memory_free_deferred(vk_state *s, const vk_slice *slice);
void vk_memory_release_deferred(vk_state *s);
void vk_memory_destroy(vk_state *s);
/* Host-visible staging space valid until the next submit. */
void *vk_staging_alloc(vk_state *s, VkDeviceSize bytes, VkBuffer *buffer, VkDeviceSize *offset);
void vk_staging_reset(vk_state *s);
uint32_t vk_find_memory_type(const vk_state *s, uint32_t type_bits, VkMemoryPropertyFlags want,
                             VkMemoryPropertyFlags avoid);

/* pipeline.c */
VkPipeline vk_pipeline_get(vk_state *s, const char *shader, const uint32_t *spec, int nspec, int nargs,
                           const char **label);
void vk_pipelines_destroy(vk_state *s);

/* stream.c */
bool vk_stream_init(vk_state *s, char *err, size_t errlen);   /* false + err: creation failed */
void vk_stream_destroy(vk_state *s);
VkCommandBuffer vk_stream_cmd(vk_state *s);       /* begins recording when needed */
void vk_stream_track(vk_state *s, const vk_access *acc, int n);  /* adds a barrier when acc conflicts */
void vk_stream_submit_wait(vk_state *s);
void vk_profile_print(vk_state *s, FILE *out);
void vk_profile_reset(vk_state *s);

void vk_check_result(VkResult r, const char *what);
#define VK_CHECK(call) vk_check_result((call), #call)

#endif
