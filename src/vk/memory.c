/* Device memory: a few large blocks, each one VkBuffer over one allocation, sub-allocated into tensors (first fit,
 * coalescing free list), plus a host-visible staging arena for uploads and downloads that is recycled per submit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

#define DEFAULT_BLOCK_BYTES ((VkDeviceSize)256 << 20)
#define STAGING_CHUNK_BYTES ((VkDeviceSize)64 << 20)

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

uint32_t vk_find_memory_type(const vk_state *s, uint32_t type_bits, VkMemoryPropertyFlags want,
                             VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < s->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = s->memprops.memoryTypes[i].propertyFlags;
        if ((type_bits & (1u << i)) && (f & want) == want && !(f & avoid)) return i;
    }
    return UINT32_MAX;
}

static VkDeviceSize device_local_heap_bytes(const vk_state *s) {
    VkDeviceSize total = 0;
    for (uint32_t h = 0; h < s->memprops.memoryHeapCount; h++)
        if (s->memprops.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) total += s->memprops.memoryHeaps[h].size;
    return total;
}

static VkDeviceSize bytes_in_use(const vk_state *s) {
    VkDeviceSize total = 0;
    for (int i = 0; i < s->nblocks; i++) total += s->blocks[i].size;
    return total;
}

/* Creates a buffer and binds fresh memory of a type with `want` flags (falling back to any type that fits). */
static VkResult create_buffer(vk_state *s, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                              VkMemoryPropertyFlags prefer, VkBuffer *buf, VkDeviceMemory *mem) {
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(s->device, &bci, NULL, buf);
    if (r != VK_SUCCESS) return r;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(s->device, *buf, &req);
    uint32_t type = vk_find_memory_type(s, req.memoryTypeBits, want | prefer, 0);
    if (type == UINT32_MAX) type = vk_find_memory_type(s, req.memoryTypeBits, want, 0);
    if (type == UINT32_MAX) {
        vkDestroyBuffer(s->device, *buf, NULL);
        return VK_ERROR_FEATURE_NOT_PRESENT;
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = vkAllocateMemory(s->device, &mai, NULL, mem);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(s->device, *buf, NULL);
        return r;
    }
    r = vkBindBufferMemory(s->device, *buf, *mem, 0);
    if (r != VK_SUCCESS) {
        vkFreeMemory(s->device, *mem, NULL);
        vkDestroyBuffer(s->device, *buf, NULL);
    }
    return r;
}

static void free_list_insert(vk_block *b, int at, vk_range r) {
    if (b->nfree == b->capfree) {
        b->capfree = b->capfree ? 2 * b->capfree : 16;
        b->free = realloc(b->free, (size_t)b->capfree * sizeof *b->free);
    }
    memmove(&b->free[at + 1], &b->free[at], (size_t)(b->nfree - at) * sizeof *b->free);
    b->free[at] = r;
    b->nfree++;
}

static void free_list_remove(vk_block *b, int at) {
    memmove(&b->free[at], &b->free[at + 1], (size_t)(b->nfree - at - 1) * sizeof *b->free);
    b->nfree--;
}

static bool block_take(vk_block *b, VkDeviceSize bytes, VkDeviceSize *offset) {
    for (int i = 0; i < b->nfree; i++) {
        if (b->free[i].size < bytes) continue;
        *offset = b->free[i].offset;
        b->free[i].offset += bytes;
        b->free[i].size -= bytes;
        if (b->free[i].size == 0) free_list_remove(b, i);
        b->used += bytes;
        return true;
    }
    return false;
}

static bool add_block(vk_state *s, VkDeviceSize size, char *err, size_t errlen, VkDeviceSize request) {
    vk_block b = {.size = size};
    VkResult r = create_buffer(s, size,
                               VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                   VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, &b.buffer, &b.memory);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen,
                 "out of device memory on %s: a tensor of %llu bytes needs a new %llu-byte block, %llu bytes are "
                 "already allocated, the device-local heaps hold %llu bytes (VkResult %d)",
                 s->props.deviceName, (unsigned long long)request, (unsigned long long)size,
                 (unsigned long long)bytes_in_use(s), (unsigned long long)device_local_heap_bytes(s), (int)r);
        return false;
    }
    free_list_insert(&b, 0, (vk_range){0, size});
    if (s->nblocks == s->capblocks) {
        s->capblocks = s->capblocks ? 2 * s->capblocks : 8;
        s->blocks = realloc(s->blocks, (size_t)s->capblocks * sizeof *s->blocks);
    }
    s->blocks[s->nblocks++] = b;
    return true;
}

bool vk_memory_alloc(vk_state *s, VkDeviceSize bytes, vk_slice *out, char *err, size_t errlen) {
    const vk_limits *l = &s->limits;
    if (!s->block_size) {
        VkDeviceSize limit = l->max_storage_range < l->max_alloc ? l->max_storage_range : l->max_alloc;
        s->block_size = DEFAULT_BLOCK_BYTES < limit ? DEFAULT_BLOCK_BYTES : limit;
        s->block_size = s->block_size / l->storage_align * l->storage_align;
    }
    /* A tensor may exceed one binding (ops split their work, see vk_window) but must be one buffer in one
     * allocation: its rows are addressed by one VkBuffer. */
    VkDeviceSize limit = l->max_buffer < l->max_alloc ? l->max_buffer : l->max_alloc;
    VkDeviceSize size = align_up(bytes ? bytes : 4, l->storage_align);
    if (size > limit) {
        snprintf(err, errlen,
                 "a tensor of %llu bytes exceeds the largest buffer %s can allocate (maxMemoryAllocationSize %llu, "
                 "maxBufferSize %llu)",
                 (unsigned long long)bytes, s->props.deviceName, (unsigned long long)l->max_alloc,
                 (unsigned long long)l->max_buffer);
        return false;
    }
    for (int i = 0; i < s->nblocks; i++) {
        VkDeviceSize off;
        if (block_take(&s->blocks[i], size, &off)) {
            *out = (vk_slice){.buffer = s->blocks[i].buffer, .offset = off, .size = size, .block = i};
            return true;
        }
    }
    /* Tensors larger than a standard block get a block of their own so a big embedding does not fragment others. */
    if (!add_block(s, size > s->block_size ? size : s->block_size, err, errlen, bytes)) return false;
    int i = s->nblocks - 1;
    VkDeviceSize off = 0;
    block_take(&s->blocks[i], size, &off);
    *out = (vk_slice){.buffer = s->blocks[i].buffer, .offset = off, .size = size, .block = i};
    return true;
}

void vk_memory_free(vk_state *s, const vk_slice *slice) {
    vk_block *b = &s->blocks[slice->block];
    vk_range r = {slice->offset, slice->size};
    int at = 0;
    while (at < b->nfree && b->free[at].offset < r.offset) at++;
    free_list_insert(b, at, r);
    b->used -= r.size;
    if (at + 1 < b->nfree && b->free[at].offset + b->free[at].size == b->free[at + 1].offset) {
        b->free[at].size += b->free[at + 1].size;
        free_list_remove(b, at + 1);
    }
    if (at > 0 && b->free[at - 1].offset + b->free[at - 1].size == b->free[at].offset) {
        b->free[at - 1].size += b->free[at].size;
        free_list_remove(b, at);
    }
}

void vk_memory_free_deferred(vk_state *s, const vk_slice *slice) {
    if (!s->recording) {
        vk_memory_free(s, slice);
        return;
    }
    if (s->ndeferred == s->capdeferred) {
        s->capdeferred = s->capdeferred ? 2 * s->capdeferred : 16;
        s->deferred = realloc(s->deferred, (size_t)s->capdeferred * sizeof *s->deferred);
    }
    s->deferred[s->ndeferred++] = *slice;
}

void vk_memory_release_deferred(vk_state *s) {
    for (int i = 0; i < s->ndeferred; i++) vk_memory_free(s, &s->deferred[i]);
    s->ndeferred = 0;
}

void *vk_staging_alloc(vk_state *s, VkDeviceSize bytes, VkBuffer *buffer, VkDeviceSize *offset) {
    bytes = align_up(bytes ? bytes : 4, 16);
    for (int i = 0; i < s->nstaging; i++) {
        vk_staging_chunk *c = &s->staging[i];
        if (c->size - c->used >= bytes) {
            *buffer = c->buffer;
            *offset = c->used;
            c->used += bytes;
            return (char *)c->mapped + *offset;
        }
    }
    vk_staging_chunk c = {.size = bytes > STAGING_CHUNK_BYTES ? bytes : STAGING_CHUNK_BYTES};
    VkResult r = create_buffer(s, c.size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                               VK_MEMORY_PROPERTY_HOST_CACHED_BIT, &c.buffer, &c.memory);
    if (r != VK_SUCCESS)
        iopo_fail("out of host-visible memory on %s: a staging buffer of %llu bytes failed (VkResult %d)",
                  s->props.deviceName, (unsigned long long)c.size, (int)r);
    VK_CHECK(vkMapMemory(s->device, c.memory, 0, VK_WHOLE_SIZE, 0, &c.mapped));
    c.used = bytes;
    if (s->nstaging == s->capstaging) {
        s->capstaging = s->capstaging ? 2 * s->capstaging : 4;
        s->staging = realloc(s->staging, (size_t)s->capstaging * sizeof *s->staging);
    }
    s->staging[s->nstaging++] = c;
    *buffer = c.buffer;
    *offset = 0;
    return c.mapped;
}

static void staging_chunk_destroy(vk_state *s, vk_staging_chunk *c) {
    vkUnmapMemory(s->device, c->memory);
    vkDestroyBuffer(s->device, c->buffer, NULL);
    vkFreeMemory(s->device, c->memory, NULL);
}

void vk_staging_reset(vk_state *s) {
    /* Keep one chunk for the next step; release the rest so one large upload (a checkpoint) does not pin memory. */
    for (int i = 1; i < s->nstaging; i++) staging_chunk_destroy(s, &s->staging[i]);
    if (s->nstaging > 1) s->nstaging = 1;
    if (s->nstaging == 1) s->staging[0].used = 0;
}

void vk_memory_destroy(vk_state *s) {
    vk_memory_release_deferred(s);
    free(s->deferred);
    s->deferred = NULL;
    for (int i = 0; i < s->nstaging; i++) staging_chunk_destroy(s, &s->staging[i]);
    free(s->staging);
    s->staging = NULL;
    s->nstaging = s->capstaging = 0;
    for (int i = 0; i < s->nblocks; i++) {
        vkDestroyBuffer(s->device, s->blocks[i].buffer, NULL);
        vkFreeMemory(s->device, s->blocks[i].memory, NULL);
        free(s->blocks[i].free);
    }
    free(s->blocks);
    s->blocks = NULL;
    s->nblocks = s->capblocks = 0;
}
