/* `iopo bench ops`: per-op timings on one device, as ratios to that device's measured roofline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo bench ops [--device N|cpu] [--only NAME[,NAME...]] [--min-time SECONDS] [--quick] [--profile]\n\n"
            "Times each op family (see `iopo selftest --list` for names) on one device. Before the ops it measures\n"
            "the device's peak fp32 FMA rate and copy bandwidth with two probe shaders, so every row shows GFLOPS and\n"
            "GB/s and their share of that device's own peak. Timing is wall clock around batches of calls that are\n"
            "submitted and waited for; each case runs for at least --min-time seconds (default 0.5).\n"
            "  --quick     small shapes (used by the test suite to keep the benchmark itself working)\n"
            "  --profile   also time every dispatch with GPU timestamps and print the time per shader at the end\n"
            "              (adds a barrier between dispatches, so totals are slightly higher than unprofiled runs)\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "ops") != 0) {
        fprintf(stderr, "iopo bench: unknown benchmark '%s' (available: ops)\n", argv[1]);
        return 2;
    }
    const char *device = NULL, *only = NULL, *value;
    bool profile = false;
    bench_ctx bc = {.min_seconds = 0.5};
    for (int i = 2; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--only", &only)) {
        } else if (cli_flag_value(argc, argv, &i, "--min-time", &value)) {
            char *end;
            bc.min_seconds = strtod(value, &end);
            if (*end || end == value || bc.min_seconds < 0 || bc.min_seconds > 600) {
                fprintf(stderr, "iopo bench: --min-time '%s': expected seconds in [0, 600]\n", value);
                return 2;
            }
        } else if (strcmp(argv[i], "--quick") == 0) {
            bc.quick = true;
        } else if (strcmp(argv[i], "--profile") == 0) {
            profile = true;
        } else {
            fprintf(stderr, "iopo bench: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    bc.ctx = cli_open_device(device, profile);
    iopo_rng_seed(&bc.rng, 42);
    printf("device: %s\n", iopo_ctx_device_name(bc.ctx));
    bench_print_header();
    bench_measure_peaks(&bc);
    int ran = 0;
    for (int b = 0; b < bench_registry_count; b++) {
        const char *name = bench_registry[b].name;
        if (only) {
            const char *hit = strstr(only, name);
            size_t n = strlen(name);
            if (!hit || (hit != only && hit[-1] != ',') || (hit[n] != '\0' && hit[n] != ',')) continue;
        }
        bench_registry[b].run(&bc);
        ran++;
    }
    if (profile) {
        printf("\nGPU time per shader (timestamps):\n");
        iopo_profile_print(bc.ctx, stdout);
    }
    iopo_ctx_destroy(bc.ctx);
    if (!ran) {
        fprintf(stderr, "iopo bench: --only matched no benchmark\n");
        return 2;
    }
    return 0;
}
