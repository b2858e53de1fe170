#!/usr/bin/env bash
# The run directory (`iopo train --out DIR`), end to end on a tiny model:
#  - a second run into a locked --out stops at once naming the first's pid; a free lock file is not "in use";
#  - SIGTERM: the step finishes, a checkpoint is written, exit 143 with the resume command;
#  - an --out holding a finished run is refused; --overwrite removes it, saying what it removed; --resume continues;
#    files that are not part of a run are never removed, even with --overwrite;
#  - SIGINT mid-run: exit 130, the checkpoint and the exact resume command printed; running that command reaches the
#    same final weights as an uninterrupted run, and metrics.jsonl holds every step once with the same losses;
#  - a second SIGINT (both sent while the run is held inside a save) exits at once (130), and the last complete
#    checkpoint still resumes to the same weights;
#  - leftovers of an interrupted save (fabricated, then a deterministic SIGKILL inside a save, then real SIGKILLs at
#    random moments with save_every 1) are removed and named, and the resumed run ends bit-identical;
#  - train_config.json holds the effective config; a changed key on --resume is printed; a key that defines the run
#    is refused unless --allow-config-change;
#  - pruning keeps this run's newest checkpoints and the one `latest` names, not an abandoned continuation's;
#  - out/final is a plain model directory; score, generate and train --model accept a run directory.
# Usage: test_rundir.sh IOPO SOURCE_DIR WORK_DIR [DEVICE] [quick]
#   quick: only the signal, kill and resume cases (run on the default Vulkan device as well).
set -u
iopo=$1 src=$2 work=$3 device=${4:-} mode=${5:-all}
dev=()
[ -n "$device" ] && dev=(--device "$device")
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"

"$iopo" init --arch gpt2 --layers 2 --heads 2 --dim 32 --ctx 32 --tokenizer "$src/assets/demo/tokenizer.json" \
  --seed 5 --out "$work/init" >"$work/init.log" 2>&1 || fail "init: $(cat "$work/init.log")"
head -c 6000 "$src/assets/demo/corpus.txt" >"$work/train.txt"
cat >"$work/run.json" <<JSON
{"model": "$work/init", "data": "$work/train.txt", "steps": 40, "batch_size": 4, "seq_len": 32, "lr": 0.005,
 "warmup_steps": 2, "log_every": 1, "seed": 3}
JSON
train() { "$iopo" train --config "$work/run.json" "${dev[@]}" "$@"; }
# In the background, as the process itself (exec), so that $! is the pid that signals go to.
train_bg() { exec "$iopo" train --config "$work/run.json" "${dev[@]}" "$@"; }
# metrics.jsonl without the timing fields; the step numbers logged more than once.
losses() { sed 's/"tokens_per_s": [^,]*, "ms_per_step": [^,]*, //' "$1"; }
dup_steps() { sed 's/.*"step": \([0-9]*\),.*/\1/' "$1" | sort -n | uniq -d | tr '\n' ' '; }
nlines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# Waits (at most 120 s) until file $1 has at least $2 lines.
wait_lines() { for _ in $(seq 1200); do [ "$(nlines "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }

# The uninterrupted reference runs.
train --out "$work/ref40" >"$work/ref40.log" 2>&1 || fail "reference run: $(tail -3 "$work/ref40.log")"
train --steps 8 --out "$work/ref8" >"$work/ref8.log" 2>&1 || fail "reference run: $(tail -3 "$work/ref8.log")"

# --- SIGINT mid-run, then the printed resume command.
# Held after step 3 (testing-only IOPO_TEST_HOLD_AFTER_STEP) until the signal: a tiny model on a quiet machine would
# otherwise finish its 40 steps before the signal is sent.
IOPO_TEST_HOLD_AFTER_STEP=3 train_bg --out "$work/int" --save-every 0 >"$work/int.log" 2>&1 &
pid=$!
wait_lines "$work/int/metrics.jsonl" 3
kill -INT $pid
wait $pid
rc=$?
check "[ $rc -eq 130 ]" "SIGINT exits 130 (got $rc): $(tail -3 "$work/int.log")"
k=$(sed -n 's/^interrupted by SIGINT after step \([0-9]*\)\/40; checkpoint .*checkpoint-\([0-9]*\)$/\1/p' "$work/int.log")
check "[ -n '$k' ] && [ '$k' -lt 40 ] && [ -f '$work/int/checkpoint-$k/trainer_state.json' ]" \
  "SIGINT: the step finished, checkpoint-$k written and named: $(grep interrupted "$work/int.log")"
check "[ \"\$(cat '$work/int/latest')\" = checkpoint-$k ] && [ ! -e '$work/int/final' ]" "latest = checkpoint-$k, no final/"
check "[ \$(nlines '$work/int/metrics.jsonl') -eq '$k' ]" "metrics.jsonl has the $k steps done"
cmd=$(sed -n 's/^resume with: iopo train //p' "$work/int.log")
check "[ -n \"\$cmd\" ] && [ \"\${cmd% --resume}\" != \"\$cmd\" ]" "the resume command is printed: $cmd"
eval "\"\$iopo\" train $cmd" >"$work/int2.log" 2>&1 || fail "the printed resume command: $(tail -3 "$work/int2.log")"
check "grep -q 'resumed from .*checkpoint-$k at step $k' '$work/int2.log'" "resumed at step $k"
check "cmp -s '$work/ref40/final/model.safetensors' '$work/int/final/model.safetensors'" \
  "SIGINT + resume ends with the uninterrupted run's weights"
check "[ \$(nlines '$work/int/metrics.jsonl') -eq 40 ] && [ -z \"\$(dup_steps '$work/int/metrics.jsonl')\" ]" \
  "metrics.jsonl holds each of the 40 steps once"
check "[ \"\$(losses '$work/ref40/metrics.jsonl')\" = \"\$(losses '$work/int/metrics.jsonl')\" ]" \
  "metrics.jsonl equals the uninterrupted run's"

# --- A second SIGINT exits at once; the last checkpoint stays good. The run is held inside the save of checkpoint 3
# (testing-only IOPO_TEST_HOLD_IN_SAVE), so both signals land there however fast the machine is.
wait_grep() { for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
IOPO_TEST_HOLD_IN_SAVE=3 train_bg --steps 8 --out "$work/int2x" --save-every 1 >"$work/int2x.log" 2>&1 &
pid=$!
wait_grep "$work/int2x.log" 'holding inside the save of checkpoint 3' || fail "the run never reached the held save"
kill -INT $pid
wait_grep "$work/int2x.log" 'stopping after this step' || fail "the first SIGINT was not acknowledged"
kill -INT $pid
wait $pid
rc=$?
check "[ $rc -eq 130 ] && ! grep -q '^interrupted by' '$work/int2x.log'" \
  "a second SIGINT exits at once with 130 (got $rc): $(tail -2 "$work/int2x.log")"
check "[ \"\$(cat '$work/int2x/latest')\" = checkpoint-2 ] && [ ! -e '$work/int2x/checkpoint-3' ]" \
  "after a double SIGINT inside a save, latest still names checkpoint-2 and checkpoint-3 does not exist"
train --steps 8 --out "$work/int2x" --save-every 1 --resume >"$work/int2x2.log" 2>&1 ||
  fail "resume after a double SIGINT: $(tail -3 "$work/int2x2.log")"
check "grep -q 'removed leftovers of an interrupted save from .*int2x: .checkpoint-3.tmp/' '$work/int2x2.log'" \
  "the save cut by the second SIGINT is removed and named: $(grep leftovers "$work/int2x2.log")"
check "cmp -s '$work/ref8/final/model.safetensors' '$work/int2x/final/model.safetensors'" \
  "after a double SIGINT the last checkpoint resumes to the uninterrupted weights"

# --- Two runs into one --out: the second stops at once naming the first; SIGTERM stops the first with 143.
IOPO_TEST_HOLD_AFTER_STEP=1 train_bg --out "$work/two" --steps 400 >"$work/two1.log" 2>&1 &
pid=$!
wait_lines "$work/two/metrics.jsonl" 1
train --out "$work/two" --steps 400 --resume >"$work/two2.log" 2>&1
rc=$?
check "[ $rc -ne 0 ] && grep -q 'two is in use by another iopo train (pid $pid on .*, started ' '$work/two2.log'" \
  "second run into a locked --out refused naming pid $pid: $(cat "$work/two2.log")"
kill -TERM $pid
wait $pid
rc=$?
check "[ $rc -eq 143 ] && grep -q '^interrupted by SIGTERM after step [0-9]*/400; checkpoint ' '$work/two1.log'" \
  "SIGTERM exits 143 after a checkpoint (got $rc): $(tail -2 "$work/two1.log")"
check "grep -q 'resume with: iopo train --config .* --out .*two --steps 400 --resume' '$work/two1.log'" \
  "SIGTERM prints the resume command"
check "[ -f '$work/two/.lock' ]" "the lock file stays"
train --out "$work/two" --steps 400 --stop-at 1 >"$work/two3.log" 2>&1
check "! grep -q 'in use' '$work/two3.log' && grep -q 'already holds a training run' '$work/two3.log'" \
  "a lock file whose flock is free is not in use: $(tail -1 "$work/two3.log")"

# --- `iopo train --resume RUN` alone: the run's train_config.json supplies every key (stop_at is not carried over).
train --steps 8 --stop-at 4 --out "$work/alone" >"$work/alone.log" 2>&1 || fail "run to stop_at 4: $(tail -3 "$work/alone.log")"
"$iopo" train --resume "$work/alone" "${dev[@]}" >"$work/alone2.log" 2>&1 ||
  fail "--resume RUN alone: $(tail -3 "$work/alone2.log")"
check "cmp -s '$work/ref8/final/model.safetensors' '$work/alone/final/model.safetensors'" \
  "--resume RUN alone continues with the saved config to the uninterrupted weights: $(tail -1 "$work/alone2.log")"
"$iopo" train --resume "$work/alone/checkpoint-4" --seq-len 16 "${dev[@]}" >"$work/alone3.log" 2>&1
rc=$?
check "[ $rc -ne 0 ] && grep -q 'seq_len: 32 -> 16  (defines the run)' '$work/alone3.log'" \
  "--resume CHECKPOINT takes its run's config, and a key given again is compared: $(tail -1 "$work/alone3.log")"

# --- A deterministic SIGKILL inside a save (testing-only IOPO_TEST_KILL_IN_SAVE), then --resume.
IOPO_TEST_KILL_IN_SAVE=4 train --steps 8 --save-every 2 --out "$work/kill" >"$work/kill.log" 2>&1
rc=$?
check "[ $rc -eq 137 ] && [ -d '$work/kill/.checkpoint-4.tmp' ] && [ ! -e '$work/kill/checkpoint-4' ]" \
  "killed inside the save of checkpoint 4 (rc $rc): only .checkpoint-4.tmp/ exists"
check "[ \"\$(cat '$work/kill/latest')\" = checkpoint-2 ]" "latest still names checkpoint-2"
train --steps 8 --save-every 2 --out "$work/kill" --resume >"$work/kill2.log" 2>&1 ||
  fail "resume after a kill: $(tail -3 "$work/kill2.log")"
check "grep -q 'removed leftovers of an interrupted save from .*kill: .checkpoint-4.tmp/' '$work/kill2.log'" \
  "the half-written checkpoint is removed and named: $(grep leftovers "$work/kill2.log")"
check "grep -q 'metrics.jsonl: dropped 2 records after step 2' '$work/kill2.log'" "metrics cut back to step 2"
check "cmp -s '$work/ref8/final/model.safetensors' '$work/kill/final/model.safetensors'" \
  "kill in a save + resume ends with the uninterrupted weights"
check "[ \"\$(losses '$work/ref8/metrics.jsonl')\" = \"\$(losses '$work/kill/metrics.jsonl')\" ]" \
  "metrics.jsonl after the kill and resume equals the uninterrupted run's (each step once)"

# --- Real SIGKILLs of a run that saves every step, each followed by a restart: odd rounds kill as soon as a checkpoint
# folder is being written (.checkpoint-N.tmp/ exists), even rounds after a delay. Whenever a kill left a half-written
# folder, the next start must remove and name it.
round=0 hits=0
for delay in 0.7 0.3 1.1 0.5 0.9 0.2; do
  round=$((round + 1))
  if [ -f "$work/kill9/latest" ]; then more=(--resume); elif [ -d "$work/kill9" ]; then more=(--overwrite); else more=(); fi
  train_bg --out "$work/kill9" --save-every 1 "${more[@]}" >"$work/kill9.$round.log" 2>&1 &
  pid=$!
  wait_lines "$work/kill9/metrics.jsonl" 1
  if [ $((round % 2)) -eq 1 ]; then
    for _ in $(seq 1000); do compgen -G "$work/kill9/.checkpoint-*.tmp" >/dev/null && break; sleep 0.005; done
  else
    sleep "$delay"
  fi
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null
  left=$(cd "$work/kill9" && ls -d .checkpoint-*.tmp 2>/dev/null | head -1)
  if [ -n "$left" ]; then
    hits=$((hits + 1))
    if [ -f "$work/kill9/latest" ]; then more=(--resume); else more=(--overwrite); fi
    train --out "$work/kill9" --save-every 1 "${more[@]}" --stop-at 1 >"$work/kill9.$round.next.log" 2>&1
    check "grep -q 'removed leftovers of an interrupted save from .*kill9: .*$left/' '$work/kill9.$round.next.log'" \
      "round $round: kill -9 left $left, the next start removes and names it: $(grep -h leftovers "$work/kill9.$round.next.log")"
  fi
done
if [ -f "$work/kill9/latest" ]; then more=(--resume); else more=(--overwrite); fi
train --out "$work/kill9" --save-every 1 "${more[@]}" >"$work/kill9b.log" 2>&1 || fail "final resume: $(tail -3 "$work/kill9b.log")"
check "cmp -s '$work/ref40/final/model.safetensors' '$work/kill9/final/model.safetensors'" \
  "six SIGKILLs + resumes end with the uninterrupted weights"
check "[ \"\$(losses '$work/ref40/metrics.jsonl')\" = \"\$(losses '$work/kill9/metrics.jsonl')\" ]" \
  "metrics.jsonl after six SIGKILLs equals the uninterrupted run's: dup steps: $(dup_steps "$work/kill9/metrics.jsonl")"
echo "SIGKILL loop: $hits of 6 kills landed inside a checkpoint save"

if [ "$mode" != quick ]; then
  # --- A finished run: a second run is refused; --overwrite says what it removed; --resume continues.
  train --steps 6 --save-every 3 --out "$work/fin" >"$work/fin.log" 2>&1 || fail "finished run"
  sum=$(cksum <"$work/fin/checkpoint-6/model.safetensors")
  train --steps 6 --save-every 3 --out "$work/fin" >"$work/fin2.log" 2>&1
  rc=$?
  check "[ $rc -ne 0 ] && grep -q 'fin already holds a training run (checkpoint-3/, checkpoint-6/, final/, latest, metrics.jsonl, metrics.svg, train_config.json): add --resume .* or --overwrite' '$work/fin2.log'" \
    "a second run into a finished one is refused: $(cat "$work/fin2.log")"
  check "[ \"\$(cksum <'$work/fin/checkpoint-6/model.safetensors')\" = \"$sum\" ] && [ \$(nlines '$work/fin/metrics.jsonl') -eq 6 ]" \
    "the refused run changed nothing"
  train --steps 6 --save-every 3 --out "$work/fin" --overwrite >"$work/fin3.log" 2>&1 || fail "--overwrite"
  check "grep -q -- '--overwrite: removed the previous run from .*fin: checkpoint-3/, checkpoint-6/, final/, latest, metrics.jsonl, metrics.svg, train_config.json' '$work/fin3.log'" \
    "--overwrite names what it removed: $(grep overwrite "$work/fin3.log")"
  check "[ \$(nlines '$work/fin/metrics.jsonl') -eq 6 ] && [ -z \"\$(dup_steps '$work/fin/metrics.jsonl')\" ]" \
    "after --overwrite metrics.jsonl holds only the new run"
  train --steps 9 --save-every 3 --out "$work/fin" --resume >"$work/fin4.log" 2>&1 || fail "--resume: $(tail -3 "$work/fin4.log")"
  check "grep -q 'resumed from .*fin/checkpoint-6 at step 6' '$work/fin4.log' && grep -q '^  steps: 6 -> 9\$' '$work/fin4.log' && [ \$(nlines '$work/fin/metrics.jsonl') -eq 9 ]" \
    "--resume prints the harmless change of steps and continues to step 9"

  # --- Files that are not part of a run are never removed.
  mkdir -p "$work/mine" && echo keep >"$work/mine/notes.txt"
  train --steps 2 --out "$work/mine" --overwrite >"$work/mine.log" 2>&1
  rc=$?
  check "[ $rc -ne 0 ] && grep -q 'mine holds .*mine/notes.txt, which is not part of an iopo run' '$work/mine.log' && [ -f '$work/mine/notes.txt' ]" \
    "an unrelated file is named and kept even with --overwrite: $(cat "$work/mine.log")"
  echo keep >"$work/fin/README"
  train --steps 9 --out "$work/fin" --overwrite >"$work/fin5.log" 2>&1
  rc=$?
  check "[ $rc -ne 0 ] && grep -q 'fin/README, which is not part of an iopo run' '$work/fin5.log' && [ -d '$work/fin/checkpoint-9' ]" \
    "a run directory with an unrelated file is not overwritten"
  rm "$work/fin/README"

  # --- Fabricated leftovers of an interrupted save are removed and named.
  mkdir -p "$work/fin/.checkpoint-12.tmp" "$work/fin/.final.old" "$work/fin/checkpoint-11"
  echo x >"$work/fin/.checkpoint-12.tmp/model.safetensors"
  echo x >"$work/fin/latest.tmp.123.0.abc"
  echo x >"$work/fin/metrics.jsonl.tmp.55.1.ff"
  echo x >"$work/fin/metrics.svg.tmp.56.1.ab"
  echo x >"$work/fin/checkpoint-9/optimizer.safetensors.tmp.7.2.3"
  cp "$work/fin/checkpoint-9/config.json" "$work/fin/checkpoint-11/"
  train --steps 10 --save-every 3 --out "$work/fin" --resume >"$work/fin6.log" 2>&1 || fail "resume over leftovers: $(tail -3 "$work/fin6.log")"
  check "grep -q 'removed leftovers of an interrupted save from .*fin: .checkpoint-12.tmp/, .final.old/, checkpoint-11/, checkpoint-9/optimizer.safetensors.tmp.7.2.3, latest.tmp.123.0.abc, metrics.jsonl.tmp.55.1.ff, metrics.svg.tmp.56.1.ab' '$work/fin6.log'" \
    "fabricated leftovers named: $(grep leftovers "$work/fin6.log")"
  check "[ ! -e '$work/fin/.checkpoint-12.tmp' ] && [ ! -e '$work/fin/checkpoint-11' ] && [ ! -e '$work/fin/latest.tmp.123.0.abc' ] && [ ! -e '$work/fin/checkpoint-9/optimizer.safetensors.tmp.7.2.3' ] && [ -f '$work/fin/checkpoint-10/trainer_state.json' ]" \
    "leftovers gone, the run continued to step 10"

  # --- out/final: a plain model directory; every model argument accepts a run directory.
  check "[ \"\$(ls '$work/fin/final' | tr '\n' ' ')\" = 'config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json ' ]" \
    "final/ holds a Hugging Face model directory and nothing else: $(ls "$work/fin/final" | tr '\n' ' ')"
  check "cmp -s '$work/fin/final/model.safetensors' '$work/fin/checkpoint-10/model.safetensors'" "final/ = the last checkpoint's weights"
  g1=$("$iopo" generate --model "$work/fin" --prompt "The sun" --max-tokens 8 "${dev[@]}" 2>&1)
  g2=$("$iopo" generate --model "$work/fin/checkpoint-10" --prompt "The sun" --max-tokens 8 "${dev[@]}" 2>&1)
  g3=$("$iopo" generate --model "$work/fin/final" --prompt "The sun" --max-tokens 8 "${dev[@]}" 2>&1)
  check "[ \"\$g1\" = \"\$g2\" ] && [ \"\$g1\" = \"\$g3\" ] && [ \"\${g1#The sun}\" != \"\$g1\" ]" \
    "generate --model RUN follows latest: '$g1' / '$g2' / '$g3'"
  printf '{"prompt_ids": [1, 2, 3], "response_ids": [4, 5]}\n' >"$work/score.jsonl"
  printf '{"prompt_ids": [1, 2], "chosen_ids": [4, 5], "rejected_ids": [6]}\n' >"$work/pref.jsonl"
  s1=$("$iopo" score --model "$work/fin" --data "$work/score.jsonl" "${dev[@]}" 2>&1)
  s2=$("$iopo" score --model "$work/fin/checkpoint-10" --data "$work/score.jsonl" "${dev[@]}" 2>&1)
  check "[ \"\$s1\" = \"\$s2\" ] && [ \"\${s1#*logps}\" != \"\$s1\" ]" "score --model RUN follows latest: $s1"
  s3=$("$iopo" score --model "$work/init" --ref "$work/fin" --objective dpo --data "$work/pref.jsonl" "${dev[@]}" 2>&1)
  s4=$("$iopo" score --model "$work/init" --ref "$work/fin/checkpoint-10" --objective dpo --data "$work/pref.jsonl" "${dev[@]}" 2>&1)
  check "[ \"\$s3\" = \"\$s4\" ] && [ \"\${s3#*ref_logps}\" != \"\$s3\" ]" "score --ref RUN follows latest: $s3"
  train --model "$work/fin" --steps 1 --warmup-steps 0 --out "$work/from_run" >"$work/from_run.log" 2>&1
  rc=$?
  check "[ $rc -eq 0 ]" "train --model RUN starts from its latest checkpoint: $(tail -1 "$work/from_run.log")"
  train --objective dpo --model "$work/init" --ref-model "$work/fin" --data "$work/pref.jsonl" --batch-size 1 --steps 1 --warmup-steps 0 \
    --out "$work/ref_run" >"$work/ref_run.log" 2>&1
  rc=$?
  check "[ $rc -eq 0 ] && [ -f '$work/ref_run/ref_logps.json' ]" "train --ref-model RUN: $(tail -1 "$work/ref_run.log")"
  mkdir -p "$work/empty"
  "$iopo" generate --model "$work/empty" --prompt x >"$work/empty.log" 2>&1
  rc=$?
  check "[ $rc -ne 0 ] && grep -q 'empty: neither a model directory (no config.json) nor a training run directory (no latest)' '$work/empty.log'" \
    "a directory that is neither is named: $(cat "$work/empty.log")"

  # --- train_config.json, and a changed configuration on --resume.
  train --steps 8 --stop-at 4 --out "$work/cfg" >"$work/cfg.log" 2>&1 || fail "cfg run"
  check "grep -q '\"steps\":\s*8,' '$work/cfg/train_config.json' && grep -q '\"keep_checkpoints\":\s*2' '$work/cfg/train_config.json' && grep -q '\"objective\":\s*\"sft\"' '$work/cfg/train_config.json' && ! grep -q '\"overwrite\"' '$work/cfg/train_config.json'" \
    "train_config.json holds every key after flags: $(tr -d '\n\t' <"$work/cfg/train_config.json")"
  train --steps 8 --seq-len 16 --out "$work/cfg" --resume >"$work/cfg2.log" 2>&1
  rc=$?
  check "[ $rc -ne 0 ] && grep -q '^  seq_len: 32 -> 16  (defines the run)' '$work/cfg2.log' && grep -q 'refusing to change seq_len, which define the run' '$work/cfg2.log'" \
    "a meaning key is refused on resume: $(tail -2 "$work/cfg2.log")"
  check "[ \"\$(cat '$work/cfg/latest')\" = checkpoint-4 ] && [ \$(nlines '$work/cfg/metrics.jsonl') -eq 4 ] && grep -q '\"seq_len\":\s*32' '$work/cfg/train_config.json'" \
    "the refused resume changed nothing"
  train --steps 8 --lr 0.004 --objective dpo --data "$work/pref.jsonl" --out "$work/cfg" --resume >"$work/cfg3.log" 2>&1
  check "grep -q 'refusing to change data, objective, which define the run' '$work/cfg3.log' && grep -q '^  lr: 0.0050000000000000001 -> 0.0040000000000000001\$' '$work/cfg3.log'" \
    "all changed keys printed, the meaning ones named: $(tail -1 "$work/cfg3.log")"
  train --steps 8 --stop-at 6 --seq-len 16 --allow-config-change --out "$work/cfg" --resume >"$work/cfg4.log" 2>&1
  rc=$?
  check "[ $rc -eq 0 ] && grep -q -- '--allow-config-change: continuing with the changed seq_len' '$work/cfg4.log' && [ \"\$(cat '$work/cfg/latest')\" = checkpoint-6 ]" \
    "--allow-config-change accepts it: $(tail -1 "$work/cfg4.log")"
  train --steps 8 --seq-len 16 --log-every 2 --out "$work/cfg" --resume >"$work/cfg5.log" 2>&1
  rc=$?
  check "[ $rc -eq 0 ] && grep -q '^  log_every: 1 -> 2\$' '$work/cfg5.log' && grep -q '^  stop_at: 6 -> 0\$' '$work/cfg5.log' && ! grep -q refusing '$work/cfg5.log' && [ -d '$work/cfg/final' ]" \
    "harmless changes printed and accepted: $(grep -- ' -> ' "$work/cfg5.log" | tr '\n' ';')"

  # --- Pruning keeps this run's newest checkpoints and the one latest names, not an abandoned continuation's.
  train --steps 6 --save-every 2 --keep-checkpoints 0 --out "$work/prune" >"$work/prune.log" 2>&1 || fail "prune run"
  train --steps 6 --save-every 1 --keep-checkpoints 2 --stop-at 3 --out "$work/prune" --resume "$work/prune/checkpoint-2" \
    >"$work/prune2.log" 2>&1 || fail "resume from checkpoint-2: $(tail -2 "$work/prune2.log")"
  check "[ \"\$(ls -d '$work'/prune/checkpoint-* | sed 's/.*-//' | sort -n | tr '\n' ' ')\" = '2 3 4 6 ' ] && [ \"\$(cat '$work/prune/latest')\" = checkpoint-3 ]" \
    "resumed from checkpoint-2: keeps 2 and 3 (this run's), leaves the abandoned 4 and 6: $(ls "$work/prune" | tr '\n' ' ')"
  check "[ \$(nlines '$work/prune/metrics.jsonl') -eq 3 ]" "metrics.jsonl cut back to step 2, then step 3 appended"
  train --steps 6 --save-every 1 --keep-checkpoints 2 --stop-at 5 --out "$work/prune" --resume >"$work/prune3.log" 2>&1 ||
    fail "prune resume: $(tail -2 "$work/prune3.log")"
  check "[ \"\$(ls -d '$work'/prune/checkpoint-* | sed 's/.*-//' | sort -n | tr '\n' ' ')\" = '4 5 6 ' ] && [ \"\$(cat '$work/prune/latest')\" = checkpoint-5 ]" \
    "then keeps this run's 4 and 5 (4 replaced): $(ls "$work/prune" | tr '\n' ' ')"
fi

echo "rundir: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
