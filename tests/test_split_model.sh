#!/usr/bin/env bash
# Tensors beyond one storage binding, end to end (docs/ARCHITECTURE.md, "Tensors beyond one binding"): a tiny GPT-2
# (LayerNorm, biases, learned positions) and a tiny Qwen3 (RMSNorm, RoPE, q/k RMSNorm, grouped-query attention) train
# two steps on the device with IOPO_VK_MAX_BINDING_BYTES below their (B*T, C) activations, their packed qkv, the
# attention's tensors and the KV cache, so that the norms, RoPE, q/k norm, attention, bias gradients, embedding and
# decoding all run split (an op that did not split would fail at the binding check). Losses and gradient norms match
# the runs at the device's own limit (the split weight-gradient sums add per block, so not bit for bit), and greedy
# generation with the KV cache gives the same text (the forward and decode ops are identical split or not). A limit
# that one sequence's qkv does not fit fails with a one-line message.
# Usage: test_split_model.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$(realpath "$1") src=$(realpath "$2") work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
. "$src/tests/checks.sh"
head -c 4000 "$src/assets/demo/corpus.txt" >train.txt
printf '{"prompt": "Once upon a time"}\n{"prompt": "The cat"}\n{"prompt": "x"}\n' >prompts.jsonl

field() { sed -n "$2p" "$1/metrics.jsonl" | sed "s/.*\"$3\": \\([^,]*\\),.*/\\1/"; }

# case ARCH LIMIT INIT_ARGS...: LIMIT bytes is below the activations (128 x 48 floats: 24 KiB) and over one
# sequence's packed qkv (32 positions).
case_() {
  local arch=$1 limit=$2
  shift 2
  "$iopo" init --arch "$arch" --layers 2 --heads 4 --dim 48 --ctx 64 "$@" --tokenizer "$src/assets/demo/tokenizer.json" \
    --seed 1 --out "m_$arch" >"init_$arch.log" 2>&1 || { fail "$arch init: $(tail -n 1 "init_$arch.log")"; return; }
  for run in whole split; do
    local env=()
    [ "$run" = split ] && env=(env IOPO_VK_MAX_BINDING_BYTES="$limit")
    "${env[@]}" "$iopo" train --model "m_$arch" --data train.txt --out "${arch}_$run" --steps 2 --batch-size 4 \
      --seq-len 32 --lr 1e-3 --seed 3 --device 0 >"train_${arch}_$run.log" 2>&1 ||
      { fail "$arch $run train: $(tail -n 1 "train_${arch}_$run.log")"; return; }
    "${env[@]}" "$iopo" generate --model "${arch}_whole/final" --data prompts.jsonl --template none --max-tokens 12 \
      --temperature 0 --batch-size 3 --device 0 >"gen_${arch}_$run.jsonl" 2>"gen_${arch}_$run.log" ||
      fail "$arch $run generate: $(tail -n 1 "gen_${arch}_$run.log")"
  done
  for step in 1 2; do
    for key in loss grad_norm; do
      local w s
      w=$(field "${arch}_whole" $step $key) s=$(field "${arch}_split" $step $key)
      check "awk 'BEGIN{d = $s - $w; if (d < 0) d = -d; exit !(d <= 1e-5 * $w)}'" \
        "$arch step $step $key: split $s vs unsplit $w (rel 1e-5)"
    done
  done
  check "cmp -s 'gen_${arch}_whole.jsonl' 'gen_${arch}_split.jsonl' && [ -s 'gen_${arch}_whole.jsonl' ]" \
    "$arch: greedy generation identical split and unsplit"
}
case_ gpt2 20480
case_ qwen3 16384 --kv-heads 2 --head-dim 12 --ffn 96

# One sequence of GPT-2's packed qkv (32 x 144 floats, 18 KiB) does not fit 16 KiB: attention cannot split further.
# The failure handler exits mid-run, leaving the context (and lavapipe's objects under it) alive at exit, which the
# sanitizer build's leak check would report: it is off for this one command.
expect 1 "iopo: attention_fwd (split by sequence): one row of argument 2 (4608 values) exceeds one storage binding (16384 bytes)" -- \
  env IOPO_VK_MAX_BINDING_BYTES=16384 ASAN_OPTIONS=detect_leaks=0 "$iopo" train --model m_gpt2 --data train.txt --out gpt2_small_limit --steps 1 \
  --batch-size 4 --seq-len 32 --seed 3 --device 0

echo "split_model: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
