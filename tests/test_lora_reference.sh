#!/usr/bin/env bash
# iopo's LoRA gradients against the independent PyTorch LoRA of tools/reference/ (lora.py in gpt2_reference.py,
# Debian python3-torch; no peft, no transformers), on both backends. Tiny random bases (llama and qwen2 with GQA, gpt2
# with its fused c_attn and Conv1D layers); adapters with random A and B on every linear layer and on subsets, with
# and without rsLoRA, lora_dropout 0 (written by the reference), and one that iopo train wrote after a LoRA step.
# For each, `iopo score --grads` on the adapter directory with --device cpu and on the default Vulkan device gives
# the reference's per-record log-probs and the gradient of every lora_A / lora_B under PEFT's names (per tensor,
# elementwise |iopo - ref| <= 1e-3 |ref| + 1e-4 max|ref|). A reference with a 1% larger lora_alpha must not match.
# Usage: test_lora_reference.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)   # adapters name their base by absolute path
. "$(dirname "$0")/checks.sh"
helper=$src/tests/lora_reference.py
t0=$SECONDS

cases=$(/usr/bin/python3 "$helper" "$src" prepare "$work" 2>"$work/prepare.log") || {
  cat "$work/prepare.log"
  fail "the reference made the bases and adapters"
  echo "lora_reference: $passes passed, $fails failed"
  exit 1
}
ok

# An adapter as iopo writes it, after one LoRA step on every linear layer of the llama base: B is no longer zero
# (with B = 0 the gradients of A would be, and an all-zero reference gradient fails the comparison).
"$iopo" train --model "$work/llama" --data "$work/data.jsonl" --out "$work/trained" --steps 1 --batch-size 4 \
  --lr 1e-2 --finetuning-type lora --lora-rank 4 --lora-alpha 16 --lora-dropout 0 --lora-target all --seed 2 \
  --device cpu >"$work/train.log" 2>&1
rc=$?   # kept: a $(...) in check's message would reset $? before check sees it
check "[ $rc -eq 0 ] && [ -f '$work/trained/final/adapter_model.safetensors' ]" \
  "iopo train (lora, 1 step) wrote an adapter: $(tail -1 "$work/train.log")"
cp -r "$work/trained/final" "$work/llama_trained.adapter"
cases="$cases llama_trained"

for c in $cases; do
  for be in cpu vulkan; do
    dev=()
    [ "$be" = cpu ] && dev=(--device cpu)
    "$iopo" score --model "$work/$c.adapter" --data "$work/data.jsonl" "${dev[@]}" --grads "$work/$c.$be.safetensors" \
      --out "$work/$c.$be.jsonl" >"$work/$c.$be.log" 2>&1
    rc=$?
    check "[ $rc -eq 0 ]" "iopo score --grads of $c on $be: $(tail -2 "$work/$c.$be.log")"
  done
done

# shellcheck disable=SC2086
/usr/bin/python3 "$helper" "$src" check "$work" $cases
check "[ \$? -eq 0 ]" "every adapter gradient and log-prob matches the reference on both backends (above)"
echo "lora_reference: $(( SECONDS - t0 )) s"
echo "lora_reference: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
