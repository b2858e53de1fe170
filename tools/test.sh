#!/usr/bin/env bash
# Builds iopo twice (optimised, and with AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole ctest suite
# on each, with Vulkan validation on; then builds the libFuzzer harnesses with clang and runs each for a short fixed
# time after replaying its regression corpus (tests/fuzz/, docs/RELIABILITY.md). The device is the default one (IOPO_DEVICE overrides); on a machine without a GPU
# that is Mesa's lavapipe. Exits non-zero on the first failing build or test run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  # Tests share the device; running them one by one keeps lavapipe's threads from fighting over 2 cores.
  ctest --test-dir "$dir" --output-on-failure
}

echo "== release build =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== sanitizer build (ASan + UBSan) =="
run_suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOPO_SANITIZE=ON
echo "== fuzz build (clang, libFuzzer + ASan + UBSan) =="
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOPO_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs"
# The fuzz tests are CPU-bound for a fixed time each and use no device: one per core.
ctest --test-dir build-fuzz -L fuzz -j "$jobs" --output-on-failure
