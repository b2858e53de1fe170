#!/usr/bin/env bash
# Prepares the SFT / DPO / IOPO examples of the README: fresh demo-sized models in build/pref/init (GPT-2) and
# build/pref/init-llama (Llama-shaped, for the LoRA example) and the synthetic
# capitals-or-small-letters preference data in build/pref/data (tools/make_pref_data.py). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/iopo ] || { echo "build iopo first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
[ -f build/pref/init/model.safetensors ] ||
  build/iopo init --arch gpt2 --layers 2 --heads 4 --dim 64 --ctx 64 --tokenizer assets/demo/tokenizer.json --seed 1 \
    --out build/pref/init
# A Llama-shaped one in bf16 for the LoRA example (assets/configs/iopo_lora.json): its frozen base stays bf16.
[ -f build/pref/init-llama/model.safetensors ] ||
  build/iopo init --arch llama --layers 2 --heads 4 --kv-heads 2 --dim 64 --ctx 64 --tokenizer assets/demo/tokenizer.json \
    --seed 1 --save-dtype bfloat16 --out build/pref/init-llama
/usr/bin/python3 tools/make_pref_data.py build/pref/data
