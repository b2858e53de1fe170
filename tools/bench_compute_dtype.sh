#!/usr/bin/env bash
# Step time and memory of full fine-tuning with compute_dtype float32 against bfloat16 on one small model, CPU backend,
# one thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1), the two settings alternated (fp32, bf16, fp32, bf16) so
# that a change in the machine's load shows as a spread between the repeats rather than as a ratio.
# Usage: tools/bench_compute_dtype.sh [STEPS]   (after building into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
iopo=build/iopo
"$iopo" init --arch llama --layers 4 --heads 8 --kv-heads 2 --dim 256 --ffn 688 --ctx 256 \
  --tokenizer assets/demo/tokenizer.json --seed 1 --out "$work/m" >/dev/null
median_ms() { sed 's/.*"ms_per_step": \([^,}]*\).*/\1/' "$1" | tail -n +2 | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
args=(--model "$work/m" --data assets/demo/corpus.txt --batch-size 4 --seq-len 255 --log-every 1 --device cpu)
echo "Llama-shaped: 4 layers, 8 heads / 2 kv heads, dim 256, MLP 688, vocab 512; SFT, 4 x 256 positions; CPU backend, 1 thread; median ms/step of steps 2-$steps"
for rep in 1 2; do
  for dt in float32 bfloat16; do
    plan=$(OMP_NUM_THREADS=1 "$iopo" train "${args[@]}" --compute-dtype $dt --plan | sed -n 's/^  total *\([0-9.]* [MG]iB\).*/\1/p')
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$iopo" train "${args[@]}" --compute-dtype $dt --steps "$steps" \
      --out "$work/$dt$rep" >"$work/$dt$rep.log" 2>&1
    peak=$(sed -n 's/^tensor memory: peak \([0-9.]* MiB\).*/\1/p' "$work/$dt$rep.log")
    loss=$(tail -1 "$work/$dt$rep/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
    printf 'compute_dtype %-8s run %d: %8.1f ms/step  planned %s  peak %s  loss at step %d %s\n' $dt $rep \
      "$(median_ms "$work/$dt$rep/metrics.jsonl")" "$plan" "$peak" "$steps" "$loss"
  done
done
