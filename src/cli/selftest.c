/* `iopo selftest`: runs the op checks of src/check/ on the chosen device and prints a pass/fail table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cli/cli.h"

static bool selected(const char *only, const char *name) {
    if (!only) return true;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return true;
        if (!comma) break;
        p = comma + 1;
    }
    return false;
}

int cmd_selftest(int argc, char **argv) {
    const char *device = NULL, *only = NULL, *value;
    uint64_t seed = 1234;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: iopo selftest [--device N|cpu] [--only NAME[,NAME...]] [--seed S] [--list]\n\n"
                   "Checks every op (forward and backward) on the device against the C reference backend with seeded\n"
                   "random inputs, checks the reference backward against finite differences, and checks that the\n"
                   "device gives bit-identical results twice. Prints one row per comparison and exits non-zero if any\n"
                   "fails. With --device cpu only the reference checks run.\n\n"
                   "  --device N|cpu   device from `iopo devices` (default: IOPO_DEVICE, else the best GPU)\n"
                   "  --only NAMES     run only these checks (see --list)\n"
                   "  --seed S         seed of the random inputs (default 1234)\n"
                   "  --list           print the check names and exit\n");
            return 0;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (int c = 0; c < check_registry_count; c++) printf("%s\n", check_registry[c].name);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--only", &only)) {
        } else if (cli_flag_value(argc, argv, &i, "--seed", &value)) {
            seed = (uint64_t)cli_parse_long("--seed", value, 0, 0x7fffffffL);
        } else {
            fprintf(stderr, "iopo selftest: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (only) {
        for (const char *p = only; *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            bool known = false;
            for (int c = 0; c < check_registry_count; c++)
                known |= strlen(check_registry[c].name) == len && strncmp(check_registry[c].name, p, len) == 0;
            if (!known) {
                fprintf(stderr, "iopo selftest: --only: no check named '%.*s' (see --list)\n", (int)len, p);
                return 2;
            }
            if (!comma) break;
            p = comma + 1;
        }
    }

    iopo_ctx *dev = cli_open_device(device, false);
    iopo_ctx_options cpu_opts = {.backend = IOPO_BACKEND_CPU, .device_index = -1};
    char err[256];
    iopo_ctx *cpu = iopo_ctx_create(&cpu_opts, err, sizeof err);
    check_ctx cc = {.cpu = cpu, .dev = iopo_ctx_backend(dev) == IOPO_BACKEND_CPU ? NULL : dev};
    printf("device under test: %s\n", cc.dev ? iopo_ctx_device_name(dev) : "none (reference checks only)");
    check_print_header();
    for (int c = 0; c < check_registry_count; c++) {
        if (!selected(only, check_registry[c].name)) continue;
        /* Each check gets its own stream of random numbers, so --only does not change what a check sees. */
        uint64_t h = 1469598103934665603ull;   /* FNV-1a of the name */
        for (const char *p = check_registry[c].name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        iopo_rng_seed(&cc.rng, seed ^ h);
        check_registry[c].run(&cc);
    }
    iopo_ctx_destroy(dev);
    iopo_ctx_destroy(cpu);
    printf("\nselftest: %d passed, %d failed\n", cc.rows - cc.failures, cc.failures);
    if (cc.rows == 0) {
        fprintf(stderr, "iopo selftest: no check ran\n");
        return 1;
    }
    return cc.failures ? 1 : 0;
}
