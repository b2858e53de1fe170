/* `iopo devices`: every Vulkan device the loader reports, in the numbering --device uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vk/vk_internal.h"

int cmd_devices(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: iopo devices\n\n"
                   "Lists the Vulkan devices (name, type, driver, memory, subgroup size, limits, fp16/int8/cooperative\n"
                   "matrix support). The number in brackets is what --device N / IOPO_DEVICE=N select; the default is\n"
                   "marked. --device cpu selects the C reference backend instead of Vulkan.\n");
            return 0;
        }
        fprintf(stderr, "iopo devices: unknown argument '%s'\n", argv[i]);
        return 2;
    }
    vk_state s = {0};
    char err[512];
    const char *v = getenv("IOPO_VALIDATE");
    if (!vk_instance_create(&s, v && *v && strcmp(v, "0") != 0, err, sizeof err)) {
        fprintf(stderr, "iopo: %s\n", err);
        return 1;
    }
    vk_print_devices(stdout, s.instance);
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(s.instance, &n, NULL);
    vk_instance_destroy(&s);
    printf("[cpu] C reference backend (OpenMP + BLAS)\n");
    return n ? 0 : 1;
}
