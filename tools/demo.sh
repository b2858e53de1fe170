#!/usr/bin/env bash
# Trains the demo model from scratch on the default device (IOPO_DEVICE or --device in "$@" to choose) and samples
# from it. Run after building (cmake -S . -B build && cmake --build build -j).
set -euo pipefail
cd "$(dirname "$0")/.."
iopo=build/iopo
[ -x "$iopo" ] || { echo "demo: build iopo first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
rm -rf build/demo
"$iopo" init --arch gpt2 --layers 2 --heads 4 --dim 64 --ctx 64 --tokenizer assets/demo/tokenizer.json --seed 1 \
  --out build/demo/init
"$iopo" train --config assets/demo/train.json "$@"
ckpt=build/demo/run/$(cat build/demo/run/latest)
echo
echo "checkpoint: $ckpt (Hugging Face GPT-2 layout: config.json, model.safetensors, tokenizer.json)"
echo "sample:     $iopo generate --model $ckpt --prompt \"The\" --max-tokens 40 --temperature 0.8 --top-k 20"
echo
"$iopo" generate --model "$ckpt" --prompt "The" --max-tokens 40 --temperature 0.8 --top-k 20 --seed 1 "$@"
