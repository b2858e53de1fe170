/* Vulkan instance, validation-layer message counting, and device enumeration for `iopo devices`. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk_internal.h"

static _Atomic uint64_t validation_messages;

uint64_t iopo_validation_message_count(void) { return atomic_load(&validation_messages); }

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT type,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    (void)user;
    atomic_fetch_add(&validation_messages, 1);
    fprintf(stderr, "iopo: vulkan %s: %s\n",
            (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "validation error" : "validation warning",
            data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

void vk_check_result(VkResult r, const char *what) {
    if (r == VK_SUCCESS) return;
    iopo_fail("Vulkan call failed (VkResult %d): %s", (int)r, what);
}

static bool has_layer(const char *name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *props = calloc(n ? n : 1, sizeof *props);
    vkEnumerateInstanceLayerProperties(&n, props);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(props[i].layerName, name) == 0) found = true;
    free(props);
    return found;
}

static bool has_instance_extension(const char *name) {
    uint32_t n = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &n, NULL);
    VkExtensionProperties *props = calloc(n ? n : 1, sizeof *props);
    vkEnumerateInstanceExtensionProperties(NULL, &n, props);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(props[i].extensionName, name) == 0) found = true;
    free(props);
    return found;
}

#define NO_DRIVER_HINT                                                                                               \
    "install a Vulkan driver for your GPU, or Mesa's CPU device lavapipe (Debian: apt-get install "                 \
    "mesa-vulkan-drivers libvulkan1), or run on the CPU backend with --device cpu"

bool vk_instance_create(vk_state *s, bool validate, char *err, size_t errlen) {
    if (volkInitialize() != VK_SUCCESS) {
        snprintf(err, errlen, "no Vulkan loader (libvulkan.so.1) found: %s", NO_DRIVER_HINT);
        return false;
    }
    if (volkGetInstanceVersion() < VK_API_VERSION_1_1) {
        snprintf(err, errlen, "the Vulkan loader supports only Vulkan 1.0; iopo needs 1.1: %s", NO_DRIVER_HINT);
        return false;
    }
    const char *layers[1];
    const char *exts[2];
    uint32_t nlayers = 0, nexts = 0;
    if (validate) {
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            snprintf(err, errlen,
                     "IOPO_VALIDATE=1 but the layer VK_LAYER_KHRONOS_validation is not installed "
                     "(Debian: apt-get install vulkan-validationlayers)");
            return false;
        }
        if (!has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            snprintf(err, errlen, "IOPO_VALIDATE=1 but the loader lacks %s", VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
            return false;
        }
        layers[nlayers++] = "VK_LAYER_KHRONOS_validation";
        exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "iopo",
        .applicationVersion = VK_MAKE_VERSION(0, 1, 0),
        .pEngineName = "iopo",
        .apiVersion = VK_API_VERSION_1_1,
    };
    /* Synchronization validation catches a missing barrier in the command stream, which core validation cannot. */
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .pNext = &features,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_debug_message,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &messenger_info : NULL,   /* also reports problems inside vkCreateInstance itself */
        .pApplicationInfo = &app,
        .enabledLayerCount = nlayers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = nexts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &s->instance);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "vkCreateInstance failed (VkResult %d): %s", (int)r, NO_DRIVER_HINT);
        return false;
    }
    volkLoadInstance(s->instance);
    if (validate) {
        messenger_info.pNext = NULL;
        r = vkCreateDebugUtilsMessengerEXT(s->instance, &messenger_info, NULL, &s->messenger);
        if (r != VK_SUCCESS) {
            snprintf(err, errlen, "vkCreateDebugUtilsMessengerEXT failed (VkResult %d): validation needs it", (int)r);
            return false;
        }
    }
    return true;
}

void vk_instance_destroy(vk_state *s) {
    if (!s->instance) return;
    if (s->messenger) vkDestroyDebugUtilsMessengerEXT(s->instance, s->messenger, NULL);
    vkDestroyInstance(s->instance, NULL);
    s->instance = VK_NULL_HANDLE;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

int vk_default_device_index(VkPhysicalDevice *devs, int n) {
    int best = -1, best_rank = 99;
    for (int i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        if (p.apiVersion < VK_API_VERSION_1_1) continue;
        int rank = type_rank(p.deviceType);
        if (rank < best_rank) best = i, best_rank = rank;
    }
    return best;
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static bool has_device_extension(VkPhysicalDevice dev, const char *name) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(dev, NULL, &n, NULL);
    VkExtensionProperties *props = calloc(n ? n : 1, sizeof *props);
    vkEnumerateDeviceExtensionProperties(dev, NULL, &n, props);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(props[i].extensionName, name) == 0) found = true;
    free(props);
    return found;
}

static void print_bytes(FILE *out, const char *label, VkDeviceSize b) {
    fprintf(out, "    %-28s %.1f MiB (%llu bytes)\n", label, (double)b / (1024.0 * 1024.0), (unsigned long long)b);
}

void vk_print_devices(FILE *out, VkInstance instance) {
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(instance, &n, NULL);
    VkPhysicalDevice *devs = calloc(n ? n : 1, sizeof *devs);
    vkEnumeratePhysicalDevices(instance, &n, devs);
    int def = vk_default_device_index(devs, (int)n);
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
        VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceProperties basic;
        vkGetPhysicalDeviceProperties(devs[i], &basic);
        bool v12 = basic.apiVersion >= VK_API_VERSION_1_2;
        subgroup.pNext = v12 ? &driver : NULL;
        VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
        vkGetPhysicalDeviceProperties2(devs[i], &props);
        const VkPhysicalDeviceProperties *p = &props.properties;
        const VkPhysicalDeviceLimits *l = &p->limits;

        VkPhysicalDeviceShaderFloat16Int8Features f16 = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
        VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
        bool has_f16ext = v12 || has_device_extension(devs[i], "VK_KHR_shader_float16_int8");
        s16.pNext = has_f16ext ? &f16 : NULL;
        VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
        vkGetPhysicalDeviceFeatures2(devs[i], &feats);

        VkPhysicalDeviceMemoryProperties mem;
        vkGetPhysicalDeviceMemoryProperties(devs[i], &mem);
        VkDeviceSize local = 0;
        for (uint32_t h = 0; h < mem.memoryHeapCount; h++)
            if (mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) local += mem.memoryHeaps[h].size;

        fprintf(out, "[%u] %s%s\n", i, p->deviceName, (int)i == def ? "   (default)" : "");
        fprintf(out, "    %-28s %s\n", "type", type_name(p->deviceType));
        if (v12)
            fprintf(out, "    %-28s %s %s\n", "driver", driver.driverName, driver.driverInfo);
        else
            fprintf(out, "    %-28s version 0x%x\n", "driver", p->driverVersion);
        fprintf(out, "    %-28s %u.%u.%u\n", "Vulkan", VK_API_VERSION_MAJOR(p->apiVersion),
                VK_API_VERSION_MINOR(p->apiVersion), VK_API_VERSION_PATCH(p->apiVersion));
        print_bytes(out, "device-local memory", local);
        fprintf(out, "    %-28s %u\n", "subgroup size", subgroup.subgroupSize);
        fprintf(out, "    %-28s %u bytes\n", "shared memory", l->maxComputeSharedMemorySize);
        fprintf(out, "    %-28s %u (max %u x %u x %u)\n", "workgroup invocations", l->maxComputeWorkGroupInvocations,
                l->maxComputeWorkGroupSize[0], l->maxComputeWorkGroupSize[1], l->maxComputeWorkGroupSize[2]);
        fprintf(out, "    %-28s %u x %u x %u\n", "workgroup count", l->maxComputeWorkGroupCount[0],
                l->maxComputeWorkGroupCount[1], l->maxComputeWorkGroupCount[2]);
        print_bytes(out, "maxStorageBufferRange", l->maxStorageBufferRange);
        if (v12) {
            VkPhysicalDeviceMaintenance3Properties m3 = {.sType =
                                                             VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
            VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
            vkGetPhysicalDeviceProperties2(devs[i], &p2);
            print_bytes(out, "maxMemoryAllocationSize", m3.maxMemoryAllocationSize);
        }
        fprintf(out, "    %-28s %llu bytes\n", "storage offset alignment",
                (unsigned long long)l->minStorageBufferOffsetAlignment);
        fprintf(out, "    %-28s %s\n", "fp16 arithmetic", has_f16ext && f16.shaderFloat16 ? "yes" : "no");
        fprintf(out, "    %-28s %s\n", "int8 arithmetic", has_f16ext && f16.shaderInt8 ? "yes" : "no");
        fprintf(out, "    %-28s %s\n", "16-bit storage", s16.storageBuffer16BitAccess ? "yes" : "no");
        fprintf(out, "    %-28s %s\n", "cooperative matrix",
                has_device_extension(devs[i], "VK_KHR_cooperative_matrix")  ? "yes (KHR)"
                : has_device_extension(devs[i], "VK_NV_cooperative_matrix") ? "yes (NV)"
                                                                             : "no");
        fprintf(out, "    %-28s %s\n", "timestamps",
                l->timestampComputeAndGraphics ? "yes" : "queue-dependent");
    }
    if (n == 0) fprintf(out, "no Vulkan devices found: %s\n", NO_DRIVER_HINT);
    free(devs);
}
