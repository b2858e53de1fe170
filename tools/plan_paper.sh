#!/usr/bin/env bash
# The memory plans of docs/PERFORMANCE.md for the IOPO paper's setting: Qwen2-7B and Llama-3.1-8B (their published
# config.json, in tools/plan-configs/, torch_dtype bfloat16; no weights needed, nothing allocated), LoRA rank 8 on every
# linear layer, batch 1, SFT / DPO / IOPO at 2,048 and 6,000 tokens per sequence, plain, with recomputation, and with
# recomputation and one sequence per chunk. Prints a markdown table of the totals in GiB.
# Usage: tools/plan_paper.sh [IOPO]   (default build/iopo)
set -euo pipefail
cd "$(dirname "$0")/.."
iopo=${1:-build/iopo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tot() {
  "$iopo" train --plan --device cpu --model "$1" --finetuning-type lora --lora-rank 8 --batch-size 1 "${@:2}" 2>/dev/null |
    awk '/^  total/{v=$2; if ($3 == "MiB") v /= 1024; printf "%.1f", v}'
}
echo "| model | T | setting | SFT | DPO | IOPO | IOPO / SFT |"
echo "|---|---|---|---|---|---|---|"
for m in qwen2-7b llama-3.1-8b; do
  mkdir -p "$work/$m" && cp "tools/plan-configs/$m.json" "$work/$m/config.json"
  for T in 2048 6000; do
    for set in "plain:" "recompute:--gradient-checkpointing 1" "recompute + pref_chunk 1:--gradient-checkpointing 1 --pref-chunk 1"; do
      name=${set%%:*} flags=${set#*:}
      # shellcheck disable=SC2086
      s=$(tot "$work/$m" --objective sft --seq-len $T $flags) d=$(tot "$work/$m" --objective dpo --seq-len $T $flags)
      # shellcheck disable=SC2086
      i=$(tot "$work/$m" --objective iopo --seq-len $T $flags)
      echo "| $m | $T | $name | $s | $d | $i | $(awk -v a="$i" -v b="$s" 'BEGIN{printf "%.2f", a / b}') |"
    done
  done
done
