/* The command stream: dispatches and copies are recorded into one command buffer and submitted together at sync.
 * A barrier is inserted only when a command touches a buffer range that an earlier, not yet fenced-off command wrote
 * (read-after-write, write-after-write) or read (write-after-read). With profiling on, every dispatch is followed by a
 * pair of timestamps and separated by barriers, so each op's time is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

#define DESC_POOL_SETS 1024
#define QUERY_CAPACITY 8192

/* A failed creation in context creation is returned, not sent to the failure handler. */
#define INIT_CHECK(call)                                                                                             \
    do {                                                                                                             \
        VkResult r_ = (call);                                                                                        \
        if (r_ != VK_SUCCESS) {                                                                                      \
            snprintf(err, errlen, "%s failed (VkResult %d) on %s", #call, (int)r_, s->props.deviceName);            \
            return false;                                                                                            \
        }                                                                                                            \
    } while (0)

bool vk_stream_init(vk_state *s, char *err, size_t errlen) {
    VkCommandPoolCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = s->queue_family,
    };
    INIT_CHECK(vkCreateCommandPool(s->device, &cpci, NULL, &s->cmd_pool));
    VkCommandBufferAllocateInfo cbai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = s->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    INIT_CHECK(vkAllocateCommandBuffers(s->device, &cbai, &s->cmd));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    INIT_CHECK(vkCreateFence(s->device, &fci, NULL, &s->fence));
    if (s->profile) {
        VkQueryPoolCreateInfo qpci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = QUERY_CAPACITY,
        };
        INIT_CHECK(vkCreateQueryPool(s->device, &qpci, NULL, &s->query_pool));
        s->query_capacity = QUERY_CAPACITY;
        s->query_labels = calloc(QUERY_CAPACITY, sizeof *s->query_labels);
    }
    return true;
}
#undef INIT_CHECK

void vk_stream_destroy(vk_state *s) {
    for (int i = 0; i < s->ndesc_pools; i++) vkDestroyDescriptorPool(s->device, s->desc_pools[i], NULL);
    free(s->desc_pools);
    s->desc_pools = NULL;
    if (s->query_pool) vkDestroyQueryPool(s->device, s->query_pool, NULL);
    free(s->query_labels);
    free(s->prof);
    free(s->pending);
    if (s->fence) vkDestroyFence(s->device, s->fence, NULL);
    if (s->cmd_pool) vkDestroyCommandPool(s->device, s->cmd_pool, NULL);
}

static void full_barrier(VkCommandBuffer cmd) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

VkCommandBuffer vk_stream_cmd(vk_state *s) {
    if (s->recording) return s->cmd;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    /* Staging is recycled only now, not at submit, so a download can still read its data after the fence. */
    vk_staging_reset(s);
    VK_CHECK(vkBeginCommandBuffer(s->cmd, &bi));
    s->recording = true;
    if (s->profile) {
        vkCmdResetQueryPool(s->cmd, s->query_pool, 0, s->query_capacity);
        s->nqueries = 0;
    }
    return s->cmd;
}

static bool overlaps(const vk_access *a, const vk_access *b) {
    return a->buffer == b->buffer && a->begin < b->end && b->begin < a->end;
}

void vk_stream_track(vk_state *s, const vk_access *acc, int n) {
    VkCommandBuffer cmd = vk_stream_cmd(s);
    bool conflict = false;
    for (int i = 0; i < n && !conflict; i++)
        for (int j = 0; j < s->npending && !conflict; j++)
            if ((acc[i].write || s->pending[j].write) && overlaps(&acc[i], &s->pending[j])) conflict = true;
    if (conflict) {
        full_barrier(cmd);
        s->npending = 0;
    }
    if (s->npending + n > s->cappending) {
        s->cappending = 2 * (s->npending + n);
        s->pending = realloc(s->pending, (size_t)s->cappending * sizeof *s->pending);
    }
    memcpy(&s->pending[s->npending], acc, (size_t)n * sizeof *acc);
    s->npending += n;
}

static VkDescriptorSet alloc_set(vk_state *s, int nargs) {
    for (;;) {
        if (s->cur_desc_pool < s->ndesc_pools) {
            VkDescriptorSetAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                .descriptorPool = s->desc_pools[s->cur_desc_pool],
                .descriptorSetCount = 1,
                .pSetLayouts = &s->set_layouts[nargs],
            };
            VkDescriptorSet set;
            VkResult r = vkAllocateDescriptorSets(s->device, &ai, &set);
            if (r == VK_SUCCESS) return set;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_CHECK(r);
            s->cur_desc_pool++;
            continue;
        }
        VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                     .descriptorCount = DESC_POOL_SETS * VK_MAX_ARGS};
        VkDescriptorPoolCreateInfo dpci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = DESC_POOL_SETS,
            .poolSizeCount = 1,
            .pPoolSizes = &size,
        };
        if (s->ndesc_pools == s->capdesc_pools) {
            s->capdesc_pools = s->capdesc_pools ? 2 * s->capdesc_pools : 4;
            s->desc_pools = realloc(s->desc_pools, (size_t)s->capdesc_pools * sizeof *s->desc_pools);
        }
        VK_CHECK(vkCreateDescriptorPool(s->device, &dpci, NULL, &s->desc_pools[s->ndesc_pools]));
        s->cur_desc_pool = s->ndesc_pools++;
    }
}

void vk_dispatch(iopo_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, const vk_arg *args, int nargs,
                 const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    vk_state *s = ctx->vk;
    if (push_size > VK_MAX_PUSH) {
        fprintf(stderr, "iopo: internal error: shader '%s': %u bytes of push constants (max %d)\n", shader, push_size,
                VK_MAX_PUSH);
        abort();
    }
    const vk_limits *l = &s->limits;
    if (gx > l->max_group_count[0] || gy > l->max_group_count[1] || gz > l->max_group_count[2]) {
        fprintf(stderr, "iopo: internal error: shader '%s': grid %u x %u x %u exceeds the device's %u x %u x %u\n",
                shader, gx, gy, gz, l->max_group_count[0], l->max_group_count[1], l->max_group_count[2]);
        abort();
    }
    if (gx == 0 || gy == 0 || gz == 0) return;
    const char *label;
    VkPipeline pipeline = vk_pipeline_get(s, shader, spec, nspec, nargs, &label);
    if (s->profile && s->nqueries + 2 > s->query_capacity) iopo_sync(ctx);   /* query pool full: drain it */

    VkDescriptorSet set = alloc_set(s, nargs);
    VkDescriptorBufferInfo infos[VK_MAX_ARGS];
    VkWriteDescriptorSet writes[VK_MAX_ARGS];
    vk_access acc[VK_MAX_ARGS];
    for (int i = 0; i < nargs; i++) {
        const vk_slice *sl = args[i].t->vk;
        VkDeviceSize bind_off = sl->offset, bind_range = sl->size;
        if (args[i].window) {
            if (!args[i].bytes || args[i].offset + args[i].bytes > sl->size || args[i].offset % l->storage_align) {
                fprintf(stderr, "iopo: internal error: shader '%s': argument %d window is misplaced\n", shader, i);
                abort();
            }
            bind_off += args[i].offset;
            bind_range = args[i].bytes;
        }
        if (bind_range > l->max_binding)
            iopo_fail("op '%s' binds %llu bytes of one tensor (argument %d), more than one storage binding holds on "
                      "%s (%llu bytes; maxStorageBufferRange %llu): this op does not split such a tensor",
                      shader, (unsigned long long)bind_range, i, s->props.deviceName,
                      (unsigned long long)l->max_binding, (unsigned long long)l->max_storage_range);
        infos[i] = (VkDescriptorBufferInfo){.buffer = sl->buffer, .offset = bind_off, .range = bind_range};
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
        VkDeviceSize begin = sl->offset, end = sl->offset + sl->size;
        if (args[i].bytes && !args[i].window) {
            if (args[i].offset + args[i].bytes > sl->size) {
                fprintf(stderr, "iopo: internal error: shader '%s': argument %d range exceeds its tensor\n", shader, i);
                abort();
            }
            begin = sl->offset + args[i].offset;
            end = begin + args[i].bytes;
        }
        if (args[i].window) {
            begin = bind_off;
            end = bind_off + bind_range;
        }
        acc[i] = (vk_access){sl->buffer, begin, end, args[i].write};
    }
    vkUpdateDescriptorSets(s->device, (uint32_t)nargs, writes, 0, NULL);

    VkCommandBuffer cmd = vk_stream_cmd(s);
    if (s->profile) {
        /* Serialise and stamp: a bottom-of-pipe timestamp is written once all earlier commands have finished, so
         * the pair around the dispatch measures it alone (uploads and fills recorded before it excluded). */
        full_barrier(cmd);
        s->npending = 0;
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->query_pool, s->nqueries++);
    }
    vk_stream_track(s, acc, nargs);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, s->pipeline_layouts[nargs], 0, 1, &set, 0, NULL);
    if (push_size) vkCmdPushConstants(cmd, s->pipeline_layouts[nargs], VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vkCmdDispatch(cmd, gx, gy, gz);
    s->dispatches_recorded++;
    if (s->profile) {
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->query_pool, s->nqueries);
        s->query_labels[s->nqueries++] = label;
    }
}

void vk_dispatch_1d(iopo_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, const vk_arg *args, int nargs,
                    const void *push, uint32_t push_size, uint64_t groups) {
    const vk_limits *l = &ctx->vk->limits;
    uint64_t gx = groups, gy = 1;
    if (gx > l->max_group_count[0]) {
        gx = l->max_group_count[0];
        gy = (groups + gx - 1) / gx;
        if (gy > l->max_group_count[1]) {
            fprintf(stderr, "iopo: internal error: shader '%s': %llu workgroups exceed the device's grid\n", shader,
                    (unsigned long long)groups);
            abort();
        }
        gx = (groups + gy - 1) / gy;   /* balance the rows: at most gy - 1 idle groups instead of up to gx - 1 */
    }
    vk_dispatch(ctx, shader, spec, nspec, args, nargs, push, push_size, (uint32_t)gx, (uint32_t)gy, 1);
}

uint64_t vk_dispatch_count(const iopo_ctx *ctx) { return ctx->vk->dispatches_recorded; }

void vk_copy(iopo_ctx *ctx, const iopo_tensor *dst, VkDeviceSize dst_off, const iopo_tensor *src, VkDeviceSize src_off,
             VkDeviceSize bytes) {
    vk_state *s = ctx->vk;
    if (!bytes) return;
    const vk_slice *d = dst->vk, *sr = src->vk;
    vk_access acc[2] = {
        {sr->buffer, sr->offset + src_off, sr->offset + src_off + bytes, false},
        {d->buffer, d->offset + dst_off, d->offset + dst_off + bytes, true},
    };
    vk_stream_track(s, acc, 2);
    VkBufferCopy region = {.srcOffset = sr->offset + src_off, .dstOffset = d->offset + dst_off, .size = bytes};
    vkCmdCopyBuffer(vk_stream_cmd(s), sr->buffer, d->buffer, 1, &region);
}

static void profile_add(vk_state *s, const char *label, double ms) {
    for (int i = 0; i < s->nprof; i++)
        if (s->prof[i].label == label) {
            s->prof[i].ms += ms;
            s->prof[i].calls++;
            return;
        }
    if (s->nprof == s->capprof) {
        s->capprof = s->capprof ? 2 * s->capprof : 32;
        s->prof = realloc(s->prof, (size_t)s->capprof * sizeof *s->prof);
    }
    s->prof[s->nprof++] = (vk_profile_row){label, ms, 1};
}

void vk_stream_submit_wait(vk_state *s) {
    if (!s->recording) return;
    /* Make every device write visible to the host before staging buffers are read after the fence. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VK_CHECK(vkEndCommandBuffer(s->cmd));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cmd};
    VK_CHECK(vkQueueSubmit(s->queue, 1, &si, s->fence));
    VK_CHECK(vkWaitForFences(s->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
    VK_CHECK(vkResetFences(s->device, 1, &s->fence));
    VK_CHECK(vkResetCommandBuffer(s->cmd, 0));
    s->recording = false;
    s->npending = 0;
    for (int i = 0; i < s->ndesc_pools; i++) VK_CHECK(vkResetDescriptorPool(s->device, s->desc_pools[i], 0));
    s->cur_desc_pool = 0;
    vk_memory_release_deferred(s);
    if (s->profile && s->nqueries > 0) {
        uint64_t *ts = malloc(s->nqueries * sizeof *ts);
        VK_CHECK(vkGetQueryPoolResults(s->device, s->query_pool, 0, s->nqueries, s->nqueries * sizeof *ts, ts,
                                       sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
        for (uint32_t i = 1; i < s->nqueries; i += 2)
            profile_add(s, s->query_labels[i], (double)(ts[i] - ts[i - 1]) * s->timestamp_ns * 1e-6);
        free(ts);
    }
    s->nqueries = 0;
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const vk_profile_row *)a)->ms, y = ((const vk_profile_row *)b)->ms;
    return (x < y) - (x > y);
}

void vk_profile_print(vk_state *s, FILE *out) {
    qsort(s->prof, (size_t)s->nprof, sizeof *s->prof, by_time_desc);
    double total = 0;
    for (int i = 0; i < s->nprof; i++) total += s->prof[i].ms;
    fprintf(out, "%-32s %10s %12s %10s %7s\n", "shader", "calls", "total ms", "ms/call", "share");
    for (int i = 0; i < s->nprof; i++) {
        const vk_profile_row *r = &s->prof[i];
        fprintf(out, "%-32s %10llu %12.3f %10.4f %6.1f%%\n", r->label, (unsigned long long)r->calls, r->ms,
                r->ms / (double)r->calls, total > 0 ? 100.0 * r->ms / total : 0.0);
    }
    fprintf(out, "%-32s %10s %12.3f\n", "total", "", total);
}

void vk_profile_reset(vk_state *s) { s->nprof = 0; }
