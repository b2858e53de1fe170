#!/usr/bin/env bash
# A long fuzzing campaign of one harness, counted in CPU time: runs it in chunks of CHUNK wall-seconds
# (-max_total_time) over a persistent corpus until the chunks' user+sys CPU time reaches CPU_SECONDS, and logs each
# chunk (CPU seconds, executions, cov/ft, corpus size) and the totals. Stops at the first finding (exit 2) and names
# the crash file; fix it, add the file to tests/fuzz/regressions/HARNESS/, and start the harness again (the log keeps
# the CPU time already spent). Run it at low priority on a shared machine: nice -n 19 tools/fuzz-campaign.sh ...
#
# Usage: tools/fuzz-campaign.sh HARNESS_BINARY CPU_SECONDS WORK_DIR [SEED_DIR] [CHUNK]
#   HARNESS_BINARY  e.g. build-fuzz/fuzz_encode (a copy of it is taken, so rebuilding does not disturb the run)
#   WORK_DIR        holds corpus/, artifacts/ and HARNESS.log (an existing log is continued: its CPU total counts)
#   SEED_DIR        read at every chunk (default: build-fuzz/fuzz-seeds/HARNESS, from tests/fuzz/make_seeds.py)
#   CHUNK           wall seconds per libFuzzer run (default 300)
# FUZZ_LOG=PATH puts the log elsewhere (default WORK_DIR/HARNESS.log).
# The log's last TOTAL line (written after every chunk) is "TOTAL harness=... cpu_s=... execs=... cov=... ft=... corpus=... findings=... status=...".
set -uo pipefail
bin=$1 target=$2 work=$3
name=$(basename "$bin")
seeds=${4:-$(dirname "$bin")/fuzz-seeds/$name}
chunk=${5:-300}
mkdir -p "$work/corpus" "$work/artifacts" "$work/bin"
cp -f "$bin" "$work/bin/$name"
bin=$work/bin/$name
log=${FUZZ_LOG:-$work/$name.log}
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

# Children's CPU seconds (user + sys) so far: the shell's `times`, run in this shell (a subshell's children would be
# its own), second line "USERmU.UUUs SYSmS.SSSs".
cpu_awk='{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.2f", s }'
total_cpu=0 total_execs=0 findings=0 chunks=0
if [ -f "$log" ]; then
  last=$(grep '^TOTAL ' "$log" | tail -1)
  total_cpu=$(echo "$last" | sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p')
  total_execs=$(echo "$last" | sed -n 's/.*execs=\([0-9]*\).*/\1/p')
  findings=$(echo "$last" | sed -n 's/.*findings=\([0-9]*\).*/\1/p')
  total_cpu=${total_cpu:-0} total_execs=${total_execs:-0} findings=${findings:-0}
  echo "$(date -u +%FT%TZ) continuing: cpu_s=$total_cpu execs=$total_execs" >>"$log"
else
  echo "$(date -u +%FT%TZ) start $name target_cpu_s=$target chunk=${chunk}s seeds=$seeds host=$(uname -n)" \
       "cpus=$(nproc) cc=$(clang --version 2>/dev/null | head -1)" >>"$log"
fi
status=running cov=? ft=?
while awk -v a="$total_cpu" -v b="$target" 'BEGIN { exit !(a < b) }'; do
  chunks=$((chunks + 1))
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  times >"$work/.times"; before=$(tail -1 "$work/.times" | awk "$cpu_awk")
  "$bin" -seed="$seed" -max_total_time="$chunk" -timeout=25 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$work/chunk.out" 2>&1
  rc=$?
  times >"$work/.times"; after=$(tail -1 "$work/.times" | awk "$cpu_awk")
  cpu=$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.2f", b - a }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/chunk.out" | tail -1)
  line=$(grep -E '^#[0-9]+.*cov: ' "$work/chunk.out" | tail -1)
  cov=$(echo "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  corpus=$(find "$work/corpus" -type f | wc -l)
  total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { printf "%.2f", a + b }')
  total_execs=$((total_execs + ${execs:-0}))
  echo "$(date -u +%FT%TZ) chunk seed=$seed rc=$rc cpu_s=$cpu execs=${execs:-?} cov=${cov:-?} ft=${ft:-?}" \
       "corpus=$corpus" >>"$log"
  [ $rc -eq 0 ] && echo "TOTAL harness=$name cpu_s=$total_cpu execs=$total_execs cov=${cov:-?} ft=${ft:-?}" \
       "corpus=$corpus findings=$findings status=running" >>"$log"
  if [ $rc -ne 0 ]; then
    findings=$((findings + 1))
    crash=$(grep -o "Test unit written to [^ ]*" "$work/chunk.out" | tail -1 | cut -d' ' -f5)
    # (a crash inside a call whose stderr the harness silences does not print that line: take the newest artifact)
    [ -n "$crash" ] || crash=$(ls -t "$work"/artifacts/crash-* "$work"/artifacts/leak-* "$work"/artifacts/timeout-* \
                                     "$work"/artifacts/oom-* 2>/dev/null | head -1)
    cp "$work/chunk.out" "$work/artifacts/finding-$(date -u +%H%M%S).log"
    echo "$(date -u +%FT%TZ) FINDING rc=$rc file=${crash:-?} (log kept in $work/artifacts/)" >>"$log"
    grep -E 'ERROR|SUMMARY|INVARIANT|runtime error' "$work/chunk.out" | head -5 | sed 's/^/    /' >>"$log"
    status=finding
    break
  fi
done
[ "$status" = running ] && status=done
echo "TOTAL harness=$name cpu_s=$total_cpu execs=$total_execs cov=${cov:-?} ft=${ft:-?}" \
     "corpus=$(find "$work/corpus" -type f | wc -l) findings=$findings status=$status" >>"$log"
[ "$status" = done ] || exit 2
