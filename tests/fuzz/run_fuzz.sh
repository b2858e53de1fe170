#!/usr/bin/env bash
# One fuzz ctest: replays every reproducer in the harness's regression corpus (each must run clean), then fuzzes for
# SECONDS from the seeds into a fresh temporary corpus. A finding fails the test; its input is kept and named.
# Usage: run_fuzz.sh HARNESS REGRESSION_DIR SEED_DIR SECONDS
set -uo pipefail
harness=$1 regressions=$2 seeds=$3 seconds=$4
name=$(basename "$harness")
work=$(mktemp -d "${TMPDIR:-/tmp}/iopo-$name.XXXXXX")
trap 'rm -rf "$work/corpus"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

report() {
  echo "FAIL: $name found a problem; the input that shows it:"
  local found=0
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
    [ -e "$f" ] || continue
    found=1
    echo "  $f"
  done
  [ $found = 1 ] || echo "  (none written: see the output above)"
  echo "Reproduce: $harness FILE.  After fixing, copy the file into ${regressions#"$PWD"/}/ (named for what it"
  echo "shows) so every later run replays it."
  echo "The files stay in $work."
}

files=()
if [ -d "$regressions" ]; then
  while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$regressions" -type f ! -name '*.md' -print0 | sort -z)
fi
if [ ${#files[@]} -gt 0 ]; then
  echo "== $name: replaying ${#files[@]} regression input(s) from $regressions"
  if ! "$harness" -runs=1 -timeout=25 -rss_limit_mb=4096 -artifact_prefix="$work/" "${files[@]}" >"$work/replay.log" 2>&1; then
    cat "$work/replay.log"
    echo "FAIL: $name: a regression input fails again: $(grep '^Running: ' "$work/replay.log" | tail -1 | cut -c10-)"
    echo "Reproduce: $harness FILE"
    exit 1
  fi
fi

[ -d "$seeds" ] || { echo "FAIL: no seed directory $seeds (the fuzz.seeds test makes it)"; exit 1; }
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
mkdir -p "$work/corpus"
echo "== $name: fuzzing for ${seconds}s from $(find "$seeds" -type f | wc -l) seed(s), -seed=$seed"
"$harness" -seed="$seed" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
rc=$?
grep -E '^#[0-9]+.*(DONE|INITED)|^stat::number_of_executed_units|^Done ' "$work/fuzz.log" | tail -3
if [ $rc -ne 0 ]; then
  tail -n 80 "$work/fuzz.log"
  echo "(rerun the same search with -seed=$seed)"
  report
  exit 1
fi
rm -rf "$work"
exit 0
