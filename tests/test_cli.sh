#!/usr/bin/env bash
# Command-line behaviour: help for every command, clear errors and exit codes for bad input, `iopo devices`, and the
# benchmark running end to end on small shapes. Usage: test_cli.sh PATH/TO/iopo
set -u
iopo=$1
fails=0
passes=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect EXIT_CODE PATTERN -- command...: runs the command, checks its exit code and that its output matches PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  "$@" >"$out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$pattern" "$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output must match /$pattern/:"
    sed 's/^/    /' "$out" | head -20
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

expect 0 "usage: iopo <command>" -- "$iopo" --help
expect 2 "usage: iopo <command>" -- "$iopo"
expect 2 "unknown command 'frobnicate'" -- "$iopo" frobnicate
for cmd in devices selftest; do
  expect 0 "usage: iopo $cmd" -- "$iopo" "$cmd" --help
done
expect 0 "usage: iopo bench ops" -- "$iopo" bench --help
expect 2 "unknown argument '--bogus'" -- "$iopo" selftest --bogus
expect 2 "--seed 'x'" -- "$iopo" selftest --seed x
expect 2 "no check named 'nope'" -- "$iopo" selftest --only nope
expect 2 "--device 'gpu'" -- "$iopo" selftest --device gpu
expect 1 "--device 99: only [0-9]+ Vulkan device" -- "$iopo" selftest --device 99
expect 2 "IOPO_DEVICE 'x'" -- env IOPO_DEVICE=x "$iopo" selftest --only eltwise
expect 0 "^matmul$" -- "$iopo" selftest --list

expect 0 "\[0\] .*default" -- "$iopo" devices
expect 0 "subgroup size" -- "$iopo" devices
expect 0 "maxStorageBufferRange" -- "$iopo" devices

# The reference-only selftest runs (finite-difference rows) with the CPU selected by environment.
expect 0 "selftest: [1-9][0-9]* passed, 0 failed" -- env IOPO_DEVICE=cpu "$iopo" selftest --only eltwise

# Benchmark: probes and one row per op family, measured numbers (not dashes) in the GFLOPS/GB/s columns.
expect 0 "peak fma \(probe\) .* [0-9.]+ +[0-9.]+%" -- "$iopo" bench ops --quick --min-time 0
# Every family reports rows, and no row is NaN or infinite.
bench_out=$(mktemp)
"$iopo" bench ops --quick --min-time 0 >"$bench_out" 2>&1
for op in gelu_forward layernorm_backward rmsnorm_forward matmul_forward embedding_backward attention_forward \
          attention_decode scatter_rows gather_rows_add \
          rope_forward rope_backward qk_rmsnorm_forward qk_rmsnorm_backward \
          softmax_ce_bwd adamw grad_norm; do
  if grep -qE "^$op" "$bench_out"; then passes=$((passes + 1)); else echo "FAIL: bench has no $op row"; fails=$((fails + 1)); fi
done
if grep -qiE "nan|inf" "$bench_out"; then echo "FAIL: bench printed NaN/inf"; fails=$((fails + 1)); else passes=$((passes + 1)); fi
rm -f "$bench_out"
expect 0 "copy bandwidth \(probe\)" -- "$iopo" bench ops --quick --min-time 0 --only eltwise
expect 0 "bench_copy .*[0-9]+ +[0-9.]+" -- "$iopo" bench ops --quick --min-time 0 --only eltwise --profile
expect 2 "unknown benchmark 'foo'" -- "$iopo" bench foo
expect 2 "--min-time 'abc'" -- "$iopo" bench ops --min-time abc

echo "cli: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
