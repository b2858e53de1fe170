#!/usr/bin/env bash
# GPT-2 small at its real shape (124M: 12 layers, 12 heads, dim 768, ctx 1024, vocab 50257) trains on the Vulkan
# device: its wte (50257 x 768 fp32 = 154,389,504 bytes) exceeds one storage binding, so the embedding, the tied LM
# head, the gradient norm and AdamW run split along rows (docs/ARCHITECTURE.md, "Tensors beyond one binding"). The
# binding limit is set to 128 MiB (lavapipe's maxStorageBufferRange; IOPO_VK_MAX_BINDING_BYTES only ever lowers the
# device's) so the split paths run on every device. Two steps at batch 1 x 16 tokens on the device and on the CPU
# reference: the device's losses and gradient norms match the CPU's and the loss falls.
# Then a Qwen-shaped vocabulary (151,936, Qwen2 family, tied head, GQA, a tiny width) trains the same way with the
# binding limit lowered to 16 MiB, so its embedding (38.9 MB), the tied head, the logits rows' cross-entropy, the
# gradient norm and AdamW over the parameter arena all split on the device.
# Usage: test_gpt2_small.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"
# The model, checkpoints and final/ directories take about 4.5 GB: keep only the logs.
trap 'rm -rf "$work/init" "$work/cpu" "$work/vulkan" "$work/qinit" "$work/qcpu" "$work/qvulkan"' EXIT

"$iopo" init --arch gpt2 --layers 12 --heads 12 --dim 768 --ctx 1024 --vocab 50257 \
  --tokenizer "$src/assets/demo/tokenizer.json" --seed 1 --out "$work/init" >"$work/init.log" 2>&1 ||
  fail "init: $(tail -1 "$work/init.log")"
check "grep -q '124.44M parameters' '$work/init.log'" "init reports GPT-2 small's 124.44M parameters"
head -c 20000 "$src/assets/demo/corpus.txt" >"$work/train.txt"

run() {   # run NAME DEVICE [MODEL DATA LR]
  "$iopo" train --model "$work/${3:-init}" --data "${4:-$work/train.txt}" --out "$work/$1" --steps 2 --batch-size 1 --seq-len 16 \
    --lr "${5:-1e-4}" --seed 3 --device "$2" >"$work/$1.log" 2>&1 || fail "$1 run: $(tail -2 "$work/$1.log")"
  cp "$work/$1/metrics.jsonl" "$work/$1.metrics.jsonl" 2>/dev/null
}
start=$(date +%s)
run cpu cpu
mid=$(date +%s)
IOPO_VK_MAX_BINDING_BYTES=134217728 run vulkan 0
end=$(date +%s)
echo "cpu run $((mid - start)) s, vulkan run $((end - mid)) s"

field() { sed -n "$2p" "$work/$1.metrics.jsonl" | sed "s/.*\"$3\": \\([^,]*\\),.*/\\1/"; }
compare() {   # compare CPU_RUN VULKAN_RUN LABEL
  for step in 1 2; do
    for key in loss grad_norm; do
      c=$(field "$1" $step $key) v=$(field "$2" $step $key)
      check "awk 'BEGIN{d = $v - $c; if (d < 0) d = -d; exit !(d <= 1e-5 * $c)}'" \
        "$3 step $step $key: vulkan $v vs cpu $c (rel 1e-5)"
    done
  done
  l1=$(field "$2" 1 loss) l2=$(field "$2" 2 loss)
  check "awk 'BEGIN{exit !($l2 < $l1)}'" "$3: vulkan loss fell ($l1 -> $l2)"
}
compare cpu vulkan gpt2

"$iopo" init --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 64 --ffn 128 --ctx 64 --vocab 151936 --tied 1 \
  --tokenizer "$src/assets/demo/tokenizer.json" --seed 1 --out "$work/qinit" >"$work/qinit.log" 2>&1 ||
  fail "qwen init: $(tail -1 "$work/qinit.log")"
# The same 17 ids in every record, so that the second step sees what the first learnt from and the loss must fall.
for _ in 1 2 3 4; do echo '{"input_ids": [5, 900, 151935, 42, 77, 1000, 20000, 3, 151000, 64, 12, 99, 100000, 7, 8, 9, 10]}'; done \
  >"$work/q.jsonl"
run qcpu cpu qinit "$work/q.jsonl" 1e-2
IOPO_VK_MAX_BINDING_BYTES=16777216 run qvulkan 0 qinit "$work/q.jsonl" 1e-2
compare qcpu qvulkan "qwen vocabulary 151936"

echo "gpt2_small: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
