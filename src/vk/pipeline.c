/* Compute pipelines, created the first time a (shader variant, specialization constants) pair is dispatched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/shaders.h"
#include "vk/vk_internal.h"

static int find_blob(const char *name) {
    for (int i = 0; i < iopo_spirv_blob_count; i++)
        if (strcmp(iopo_spirv_blobs[i].name, name) == 0) return i;
    return -1;
}

static VkPipelineLayout layout_for(vk_state *s, int nargs) {
    if (s->pipeline_layouts[nargs]) return s->pipeline_layouts[nargs];
    VkDescriptorSetLayoutBinding bindings[VK_MAX_ARGS];
    for (int i = 0; i < nargs; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dslci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)nargs,
        .pBindings = bindings,
    };
    VK_CHECK(vkCreateDescriptorSetLayout(s->device, &dslci, NULL, &s->set_layouts[nargs]));
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_MAX_PUSH};
    VkPipelineLayoutCreateInfo plci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &s->set_layouts[nargs],
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &range,
    };
    VK_CHECK(vkCreatePipelineLayout(s->device, &plci, NULL, &s->pipeline_layouts[nargs]));
    return s->pipeline_layouts[nargs];
}

VkPipeline vk_pipeline_get(vk_state *s, const char *shader, const uint32_t *spec, int nspec, int nargs,
                           const char **label) {
    int blob = find_blob(shader);
    if (blob < 0) {
        fprintf(stderr, "iopo: internal error: no embedded shader named '%s'\n", shader);
        abort();
    }
    if (nspec > VK_MAX_SPEC || nargs > VK_MAX_ARGS || nargs < 0) {
        fprintf(stderr, "iopo: internal error: shader '%s': %d spec constants / %d buffers exceed the limits\n", shader,
                nspec, nargs);
        abort();
    }
    *label = iopo_spirv_blobs[blob].name;
    for (int i = 0; i < s->npipelines; i++) {
        vk_pipeline_entry *e = &s->pipelines[i];
        if (e->blob == blob && e->nspec == nspec && e->nargs == nargs &&
            (nspec == 0 || memcmp(e->spec, spec, (size_t)nspec * sizeof *spec) == 0))
            return e->pipeline;
    }
    if (!s->modules) s->modules = calloc((size_t)iopo_spirv_blob_count, sizeof *s->modules);
    if (!s->modules[blob]) {
        VkShaderModuleCreateInfo smci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = iopo_spirv_blobs[blob].nwords * 4,
            .pCode = iopo_spirv_blobs[blob].words,
        };
        VK_CHECK(vkCreateShaderModule(s->device, &smci, NULL, &s->modules[blob]));
    }
    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (int i = 0; i < nspec; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = (uint32_t)(4 * i), .size = 4};
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)nspec,
        .pMapEntries = entries,
        .dataSize = (size_t)nspec * 4,
        .pData = spec,
    };
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = s->modules[blob],
                .pName = "main",
                .pSpecializationInfo = nspec ? &si : NULL,
            },
        .layout = layout_for(s, nargs),
    };
    VkPipeline p;
    VK_CHECK(vkCreateComputePipelines(s->device, VK_NULL_HANDLE, 1, &cpci, NULL, &p));
    if (s->npipelines == s->cappipelines) {
        s->cappipelines = s->cappipelines ? 2 * s->cappipelines : 32;
        s->pipelines = realloc(s->pipelines, (size_t)s->cappipelines * sizeof *s->pipelines);
    }
    vk_pipeline_entry e = {.blob = blob, .nspec = nspec, .nargs = nargs, .pipeline = p};
    if (nspec) memcpy(e.spec, spec, (size_t)nspec * sizeof *spec);
    s->pipelines[s->npipelines++] = e;
    return p;
}

void vk_pipelines_destroy(vk_state *s) {
    for (int i = 0; i < s->npipelines; i++) vkDestroyPipeline(s->device, s->pipelines[i].pipeline, NULL);
    free(s->pipelines);
    s->pipelines = NULL;
    s->npipelines = s->cappipelines = 0;
    if (s->modules)
        for (int i = 0; i < iopo_spirv_blob_count; i++)
            if (s->modules[i]) vkDestroyShaderModule(s->device, s->modules[i], NULL);
    free(s->modules);
    s->modules = NULL;
    for (int i = 0; i <= VK_MAX_ARGS; i++) {
        if (s->pipeline_layouts[i]) vkDestroyPipelineLayout(s->device, s->pipeline_layouts[i], NULL);
        if (s->set_layouts[i]) vkDestroyDescriptorSetLayout(s->device, s->set_layouts[i], NULL);
        s->pipeline_layouts[i] = VK_NULL_HANDLE;
        s->set_layouts[i] = VK_NULL_HANDLE;
    }
}
