#!/usr/bin/env bash
# LLaMA-Factory YAML run configs (iopo train --config run.yaml): the example assets/configs/qwen2_lora_iopo.yaml
# becomes the configuration it means; every mapped key, LLaMA-Factory's defaults for keys left out, the report of
# ignored keys, unknown and refused keys and wrong types with file:line, YAML errors, dataset_info.json lookups and
# their errors; and real runs (CPU, a tiny model) through renamed columns and tags that train exactly as the
# canonical files do. Usage: test_llamafactory.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
. "$(dirname "$0")/checks.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
lfdir=$src/assets/llamafactory

# conf NAME [FLAGS...]: the effective configuration of NAME.yaml in NAME.json (its stderr in NAME.err).
conf() {
  local name=$1
  shift
  "$iopo" train --config "$name.yaml" --print-config "$@" >"$name.json" 2>"$name.err" ||
    { fail "$name.yaml: --print-config exited non-zero: $(tail -n 1 "$name.err")"; return 1; }
}

# want NAME KEY VALUE...: NAME.json holds each KEY = VALUE (VALUE read as JSON where it parses; a VALUE that is a
# JSON object is compared with the key's string parsed as JSON).
want() {
  local name=$1 bad
  shift
  bad=$(/usr/bin/python3 - "$name.json" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
a = sys.argv[2:]
for k, v in zip(a[::2], a[1::2]):
    got = c.get(k, "<absent>")
    try:
        w = json.loads(v)
    except ValueError:
        w = v
    if isinstance(w, dict) and isinstance(got, str):
        got = json.loads(got)
    if got != w:
        print(f"{k} = {got!r}, want {w!r}")
PY
) || bad="could not read $name.json"
  if [ -z "$bad" ]; then ok; else fail "$name: $bad"; fi
}

# same_text FILE EXPECTED MESSAGE
same_text() {
  if [ "$(cat "$1")" = "$2" ]; then ok; else
    fail "$3"
    echo "--- got:"; cat "$1"; echo "--- want:"; echo "$2"
  fi
}

# ---- the example: the official qwen2_lora_iopo.yaml's keys, read from the repository root ----
ex=assets/configs/qwen2_lora_iopo.yaml
(cd "$src" && "$iopo" train --config $ex --print-config) >example.json 2>example.err ||
  fail "the example config: $(tail -n 1 example.err)"
want example objective iopo finetuning_type lora lora_target all lora_rank 8 lora_alpha 0 lora_dropout 0 use_rslora 0 \
  beta 0.1 loss_type sigmoid pref_ftx 0 label_smoothing 0 \
  data assets/llamafactory/iopo_demo.json \
  dataset_info '{"formatting": "sharegpt", "ranking": true, "columns": {"messages": "conversations", "system": "system", "chosen": "chosen", "rejected": "rejected"}}' \
  eval_data '' template_name chatml seq_len 5999 \
  model build/llamafactory/qwen2 adapter build/llamafactory/sft_adapter out build/llamafactory/iopo \
  log_every 10 save_every 500 keep_checkpoints 0 eval_every 0 \
  batch_size 1 grad_accum 8 lr 5e-06 epochs 3 steps 100 schedule cosine min_lr_ratio 0 warmup_ratio 0.1 warmup_steps 0 \
  save_dtype bfloat16 compute_dtype float32 seed 42 grad_clip 1 beta1 0.9 beta2 0.999 eps 1e-08 weight_decay 0
same_text example.err "$ex: template qwen: chatml (LLaMA-Factory's qwen template also writes its default system prompt into records without one; iopo writes none)
$ex: ignoring overwrite_cache (PyTorch only)
$ex: ignoring preprocessing_num_workers (PyTorch only)
$ex: ignoring plot_loss (PyTorch only)
$ex: ignoring ddp_timeout (PyTorch only)" "the example's report of ignored keys"

# The example runs: the demo model and its SFT adapter made (tools/llamafactory_demo_setup.sh), three IOPO steps of
# LoRA from that adapter, on the CPU, at a shorter cutoff; the reference is the SFT adapter, so step 1 is the tie.
demo=$work/lfdemo
(cd "$src" && IOPO=$iopo OUT=$demo tools/llamafactory_demo_setup.sh) >setup.log 2>&1 || fail "demo setup: $(tail -2 setup.log)"
(cd "$src" && "$iopo" train --config $ex --model "$demo/qwen2" --adapter "$demo/sft_adapter" --out "$work/lf_run" \
  --seq-len 255 --epochs 0 --steps 3 --grad-accum 2 --log-every 1 --device cpu) >lf_run.log 2>&1 ||
  fail "the example run: $(tail -3 lf_run.log)"
l1=$(sed -n '1s/.*"loss": \([^,]*\),.*/\1/p' "$work/lf_run/metrics.jsonl" 2>/dev/null)
check "awk 'BEGIN{exit !($l1 > 0.69 && $l1 < 0.6935)}' && [ -f '$work/lf_run/final/adapter_model.safetensors' ]" \
  "the example's LoRA IOPO run from the SFT adapter: 3 steps, the tie at step 1 ($l1), an adapter saved"

# ---- every mapped key, with values other than the defaults ----
cat >full.yaml <<EOF
model_name_or_path: m
adapter_name_or_path: ad
ref_model: refm
stage: dpo
do_train: true
do_eval: true
finetuning_type: lora
lora_rank: 16
lora_alpha: 32
lora_dropout: 0.05
lora_target: q_proj, v_proj
use_rslora: true
pref_beta: 0.25
pref_loss: hinge
pref_ftx: 0.5
dataset: dpo_renamed
eval_dataset: dpo_renamed
dataset_dir: $lfdir
cutoff_len: 512
learning_rate: 1e-4
num_train_epochs: 2.5
lr_scheduler_type: constant_with_warmup
warmup_ratio: 0.2
warmup_steps: 3
per_device_train_batch_size: 2
gradient_accumulation_steps: 4
max_grad_norm: 0.5
adam_beta1: 0.8
adam_beta2: 0.99
adam_epsilon: 1.0e-6
weight_decay: 0.01
optim: adamw_torch
seed: 7
group_by_length: true
bf16: false
output_dir: out_full
overwrite_output_dir: false
logging_steps: 5
save_steps: 20
save_strategy: steps
save_total_limit: 3
eval_strategy: steps
eval_steps: 10
per_device_eval_batch_size: 4
disable_gradient_checkpointing: true
EOF
dpo_info='{"formatting": "alpaca", "ranking": true, "columns": {"prompt": "question", "query": "context", "chosen": "better", "rejected": "worse", "system": "sys"}}'
if conf full; then
  want full model m adapter ad ref_model refm objective dpo finetuning_type lora lora_rank 16 lora_alpha 32 \
    lora_dropout 0.05 lora_target q_proj,v_proj use_rslora 1 beta 0.25 loss_type hinge pref_ftx 0.5 \
    data "$lfdir/dpo_renamed.json" eval_data "$lfdir/dpo_renamed.json" dataset_info "$dpo_info" \
    eval_dataset_info "$dpo_info" seq_len 511 lr 0.0001 epochs 2.5 schedule constant warmup_steps 3 warmup_ratio 0 \
    batch_size 2 grad_accum 4 grad_clip 0.5 beta1 0.8 beta2 0.99 eps 1e-06 weight_decay 0.01 seed 7 \
    group_by_length 1 save_dtype float32 out out_full log_every 5 save_every 20 keep_checkpoints 3 eval_every 10 \
    min_lr_ratio 0 gradient_checkpointing 0 compute_dtype float32
  same_text full.err "full.yaml: ignoring per_device_eval_batch_size (iopo evaluates in micro-batches of batch_size; the evaluated loss does not depend on it)" \
    "full.yaml's report"
fi

# ---- the other values: max_steps over epochs, a second schedule, bf16, save/eval strategies, YAML 1.1 booleans ----
cat >alt.yaml <<EOF
model_name_or_path: m
stage: sft
do_train: yes
finetuning_type: full
dataset: sft_openai
dataset_dir: $lfdir
template: llama3
max_steps: 12
num_train_epochs: 5
lr_scheduler_type: linear
bf16: true
save_strategy: "no"
eval_strategy: "no"
eval_steps: 7
mask_history: true
train_on_prompt: false
gradient_checkpointing: true
fp16: false
use_rslora: off
pref_loss: sigmoid
dpo_label_smoothing: 0.1
output_dir: out_alt
EOF
if conf alt; then
  want alt objective sft finetuning_type full template_name llama3 steps 12 epochs 0 schedule linear \
    save_dtype bfloat16 compute_dtype bfloat16 save_every 0 eval_every 0 label_smoothing 0.1 loss_type sigmoid \
    use_rslora 0 gradient_checkpointing 1 \
    data "$lfdir/sft_openai.json" \
    dataset_info '{"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"}}'
  same_text alt.err "alt.yaml: ignoring eval_steps (eval_strategy is not steps)" "alt.yaml's report"
fi
for t in chatml qwen3_nothink; do
  printf 'model_name_or_path: m\noutput_dir: o\ndataset: sft_openai\ndataset_dir: %s\ntemplate: %s\n' "$lfdir" $t >tmpl.yaml
  conf tmpl && want tmpl template_name chatml
done
printf 'model_name_or_path: m\noutput_dir: o\ndataset: sft_openai\ndataset_dir: %s\neval_dataset: sft_openai\neval_strategy: steps\nlogging_steps: 4\n' \
  "$lfdir" >evlog.yaml
conf evlog && want evlog eval_every 4 log_every 4 eval_data "$lfdir/sft_openai.json"

# ---- left out: LLaMA-Factory's (transformers') defaults; dataset_dir defaults to data/ in the current directory ----
mkdir -p data && cp "$src/assets/data/sft_alpaca.json" data/local.json
echo '{"local": {"file_name": "local.json"}}' >data/dataset_info.json
printf 'model_name_or_path: m\ndataset: local\noutput_dir: o\n' >min.yaml
if conf min; then
  want min objective sft lr 5e-05 epochs 3 schedule linear min_lr_ratio 0 warmup_steps 0 warmup_ratio 0 log_every 500 \
    save_every 500 keep_checkpoints 0 seed 42 seq_len 2047 finetuning_type lora template_name auto batch_size 8 \
    grad_accum 1 save_dtype float32 beta 0.1 loss_type sigmoid lora_rank 8 lora_alpha 0 lora_target all grad_clip 1 \
    data data/local.json dataset_info '{"formatting": "alpaca"}'
  same_text min.err "" "min.yaml reports nothing"
fi
# flags still override the file
conf min --lr 0.5 --seed 3 && want min lr 0.5 seed 3

# ---- keys that only matter to PyTorch: one line each, whatever their value ----
cat >py.yaml <<'EOF'
deepspeed: examples/deepspeed/ds_z3_config.json
ddp_timeout: 180000000
flash_attn: fa2
preprocessing_num_workers: 16
dataloader_num_workers: 4
overwrite_cache: true
report_to: [wandb, tensorboard]
plot_loss: true
trust_remote_code: true
fsdp_config: {min_num_params: 1}
EOF
"$iopo" train --config py.yaml --print-config >py.json 2>py.err
same_text py.err "py.yaml: ignoring deepspeed (PyTorch only)
py.yaml: ignoring ddp_timeout (PyTorch only)
py.yaml: ignoring flash_attn (PyTorch only)
py.yaml: ignoring preprocessing_num_workers (PyTorch only)
py.yaml: ignoring dataloader_num_workers (PyTorch only)
py.yaml: ignoring overwrite_cache (PyTorch only)
py.yaml: ignoring report_to (PyTorch only)
py.yaml: ignoring plot_loss (PyTorch only)
py.yaml: ignoring trust_remote_code (PyTorch only)
py.yaml: ignoring fsdp_config (PyTorch only)
iopo train: model is required (--model DIR)" "PyTorch-only keys: one line each, then the config is validated"

# ---- unknown keys, refused keys and values, wrong types: FILE:LINE: KEY ... ----
one() { printf '%b\n' "$1" >one.yaml; "$iopo" train --config one.yaml --print-config; }
e1() { expect 1 "iopo train: one.yaml:$1" -- one "$2"; }
e1 '3: unknown key frobnicate (not a LLaMA-Factory key iopo knows; docs/TRAINING.md lists them)' \
  'stage: sft\n# a comment\nfrobnicate: 1'
e1 '1: unknown key lr (not a LLaMA-Factory key iopo knows; docs/TRAINING.md lists them)' 'lr: 0.1'
e1 '1: unknown key a\x0Ab (not a LLaMA-Factory key iopo knows; docs/TRAINING.md lists them)' '"a\\nb": 1'
e1 '1: stage: kto is not supported (iopo trains the stages sft, dpo and iopo)' 'stage: kto'
e1 '1: stage: pt is not supported (iopo trains the stages sft, dpo and iopo)' 'stage: pt'
e1 '1: stage: foo: expected sft, dpo or iopo (the stages iopo trains)' 'stage: foo'
e1 '1: finetuning_type: freeze is not supported (iopo trains lora or full)' 'finetuning_type: freeze'
e1 "1: pref_loss: orpo is not supported (iopo's preference losses: sigmoid, hinge, ipo)" 'pref_loss: orpo'
e1 "1: pref_loss: simpo is not supported (iopo's preference losses: sigmoid, hinge, ipo)" 'pref_loss: simpo'
e1 "1: lr_scheduler_type: polynomial is not supported (iopo's schedules: cosine, linear, constant, constant_with_warmup)" \
  'lr_scheduler_type: polynomial'
e1 "1: fp16: iopo reads no fp16 mixed precision from a LLaMA-Factory config (bf16: true computes full fine-tuning with bf16 weight copies and writes out/final in bfloat16; iopo's own key compute_dtype float16 computes with fp16 copies)" 'fp16: true'
e1 '1: pure_bf16: iopo keeps weights, gradients and AdamW state in fp32' 'pure_bf16: true'
e1 '1: adapter_name_or_path: several adapters (a,b): iopo starts from one adapter (merge the others first)' \
  'adapter_name_or_path: a,b'
e1 '1: dataset: several datasets (a, b): iopo trains on one (concatenate their files into one)' 'dataset: a, b'
e1 '1: do_train: false: iopo train trains (set it true or leave it out)' 'do_train: false'
e1 '1: val_size: iopo does not split held-out data off the training data: give it as eval_dataset' 'val_size: 0.1'
e1 '1: max_samples: iopo reads every record of the file (cut the file instead)' 'max_samples: 1000'
e1 '1: quantization_bit: iopo does not quantize (QLoRA is not supported)' 'quantization_bit: 4'
e1 '1: packing: iopo packs only plain-text data' 'packing: true'
e1 "1: template: default is not supported (iopo's templates: qwen, chatml and qwen3_nothink as ChatML, llama3; leave template out to pick by the tokenizer)" \
  'template: default'
e1 '1: eval_strategy: epoch is not supported (iopo evaluates every eval_steps steps, or at the end: steps or no)' \
  'eval_strategy: epoch'
e1 '1: save_strategy: epoch is not supported (iopo saves every save_steps steps: steps, or no for the end only)' \
  'save_strategy: epoch'
e1 '1: optim: sgd is not supported (iopo'"'"'s optimizer is AdamW as torch.optim.AdamW: adamw_torch)' 'optim: sgd'
e1 '1: mask_history: false is not supported: iopo puts the loss on the last response only (mask_history true)' \
  'mask_history: false'
e1 '1: cutoff_len: 1 is too small: a sequence needs a prompt and a response token' 'cutoff_len: 1'
e1 '1: lr_scheduler_type: constant has no warmup in transformers (it would ignore warmup_ratio / warmup_steps): use constant_with_warmup, or leave the warmup out' \
  'lr_scheduler_type: constant\nwarmup_ratio: 0.1'
e1 '1: eval_strategy: steps needs eval_dataset (the held-out data to evaluate)' 'eval_strategy: steps'
e1 '1: do_eval: true needs eval_dataset (the held-out data to evaluate)' 'do_eval: true'
e1 '2: dataset_dir: ONLINE: iopo reads local files only: a folder holding dataset_info.json' \
  'dataset: x\ndataset_dir: ONLINE'
e1 "3: dataset: dpo_renamed is preference data (ranking true in its dataset_info.json entry) and stage sft trains on single responses (ranking false)" \
  "stage: sft\ndataset_dir: $lfdir\ndataset: dpo_renamed"
e1 "3: dataset: sft_openai is not preference data (ranking false in its dataset_info.json entry) and stage dpo needs chosen and rejected responses (ranking true)" \
  "stage: dpo\ndataset_dir: $lfdir\ndataset: sft_openai"
# no effect, so accepted: val_size 0, max_samples null, packing false (then validation wants a model)
expect 2 'iopo train: model is required (--model DIR)' -- one 'val_size: 0\nmax_samples: null\npacking: false'
# types
e1 '1: learning_rate must be a number, not a string (abc)' 'learning_rate: abc'
e1 '1: learning_rate must be a number, not a string (5e-6)' 'learning_rate: "5e-6"'
e1 '2: lora_rank must be an integer, not 2.5' 'stage: sft\nlora_rank: 2.5'
e1 '1: bf16 must be true or false, not an integer (1)' 'bf16: 1'
e1 '1: per_device_train_batch_size must be an integer, not a list' 'per_device_train_batch_size: [1]'
e1 '1: output_dir must be a string, not an integer (5)' 'output_dir: 5'
e1 '1: stage must be a string, not true or false (true)' 'stage: true'
e1 '1: cutoff_len must be an integer, not a string (010)' 'cutoff_len: 010'
e1 '1: learning_rate: inf is not a finite number' 'learning_rate: .inf'
e1 '1: learning_rate: 0 is out of range (accepted: > 0)' 'learning_rate: 0'
e1 '1: lora_dropout: 1 is out of range (accepted: [0, 1))' 'lora_dropout: 1'
e1 '1: per_device_train_batch_size: 0 is out of range (accepted: [1, 1048576])' 'per_device_train_batch_size: 0'
e1 '1: logging_steps: 0: must be a number of steps, at least 1' 'logging_steps: 0'
e1 '1: save_steps: 1e12 is too large for an integer (at most 2147483647)' 'save_steps: 1e12'

# ---- YAML itself: errors placed by line and column; tags, anchors, numbers ----
e1 '2:1: stage is given twice (first at line 1)' 'stage: sft\nstage: dpo'
e1 '1:1: not a mapping of keys: a run config is KEY: VALUE lines, not a list' '- stage\n- sft'
e1 '1:1: not a mapping of keys: a run config is KEY: VALUE lines, not a single value' 'just text'
e1 '2:1: a second YAML document: a run config is one mapping of keys' 'stage: sft\n---\nstage: dpo'
e1 '2:8: invalid YAML: mapping values are not allowed in this context' 'stage: sft\nseed: 1: 2'
e1 "3:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 8)" \
  'stage: [sft\n'
e1 '1:8: stage: the tag !!python/name:os.system is not one iopo reads (!!str, !!int, !!float, !!bool, !!null)' \
  'stage: !!python/name:os.system x'
e1 "1:12: lora_rank: 'x' is not an integer (its tag is !!int)" 'lora_rank: !!int x'
e1 '2:15: weight_decay: the alias *nope names no anchor before it' 'seed: &s 3\nweight_decay: *nope'
: >one.yaml
expect 1 'iopo train: one.yaml: no keys (a LLaMA-Factory config is KEY: VALUE lines)' -- \
  "$iopo" train --config one.yaml --print-config
printf 'model_name_or_path: m\noutput_dir: o\ndataset: local\nlearning_rate: &lr 2.5e-3\nweight_decay: *lr\nlora_rank: !!float 3\nseed: !!int 1_000\nwarmup_ratio: 5e-2\n' >yml.yml
"$iopo" train --config yml.yml --print-config >yml.json 2>yml.err || fail "yml.yml: $(tail -n 1 yml.err)"
want yml lr 0.0025 weight_decay 0.0025 lora_rank 3 seed 1000 warmup_ratio 0.05

# ---- dataset_info.json: lookups that cannot be read ----
mkdir -p reg/sub && cp "$src/assets/data/sft_alpaca.json" reg/ok.json && echo 'a,b' >reg/d.csv
cat >reg/dataset_info.json <<'EOF'
{
  "hub": {"hf_hub_url": "someone/data"},
  "script": {"script_url": "data/script"},
  "missing": {"file_name": "nope.json"},
  "folder": {"file_name": "sub"},
  "csv": {"file_name": "d.csv"},
  "subset": {"file_name": "ok.json", "subset": "a"},
  "split": {"file_name": "ok.json", "split": "test"},
  "badcols": {"file_name": "ok.json", "columns": {"answer": "a"}},
  "openai": {"file_name": "ok.json", "formatting": "openai"},
  "nofile": {"formatting": "alpaca"},
  "alpaca_on_sharegpt": {"file_name": "sg.json", "ranking": true},
  "ok": {"file_name": "ok.json", "file_sha1": "0123"}
}
EOF
cp "$src/assets/data/dpo_sharegpt.json" reg/sg.json
ds() { printf 'model_name_or_path: m\noutput_dir: o\ndataset_dir: reg\ndataset: %s\n' "$1" >one.yaml; "$iopo" train --config one.yaml --print-config; }
expect 1 'iopo train: one.yaml:4: dataset: dataset zzz is not in reg/dataset_info.json (it has: hub, script, missing, folder, csv, subset, split, badcols, openai, nofile, alpaca_on_sharegpt, ok)' -- ds zzz
expect 1 'iopo train: reg/dataset_info.json: hub: hf_hub_url: iopo reads local files only (it does not download); fetch the data and give its file as file_name' -- ds hub
expect 1 'iopo train: reg/dataset_info.json: script: script_url: iopo reads local files only (it does not download); fetch the data and give its file as file_name' -- ds script
expect 1 'iopo train: reg/nope.json: No such file or directory (file_name of missing in reg/dataset_info.json)' -- ds missing
expect 1 'iopo train: reg/sub: a folder (file_name of folder in reg/dataset_info.json): iopo reads one .json or .jsonl file' -- ds folder
expect 1 'iopo train: reg/d.csv: iopo reads .json and .jsonl data files (file_name of csv in reg/dataset_info.json)' -- ds csv
expect 1 'iopo train: reg/dataset_info.json: subset: subset is not supported (iopo reads the whole of one file)' -- ds subset
expect 1 'iopo train: reg/dataset_info.json: split: split must be train (a local file has only that split)' -- ds split
expect 1 "iopo train: reg/dataset_info.json: badcols: unknown column \"answer\" (LLaMA-Factory's are prompt, query, response, history, messages, system, chosen, rejected, tools, images, videos, audios, kto_tag)" -- ds badcols
expect 1 'iopo train: reg/dataset_info.json: openai: formatting must be "alpaca" or "sharegpt" (write an openai file as sharegpt with tags role_tag "role", content_tag "content", user_tag "user", assistant_tag "assistant")' -- ds openai
expect 1 'iopo train: reg/dataset_info.json: nofile: file_name must be the data file'"'"'s name (relative to reg)' -- ds nofile
printf 'model_name_or_path: m\noutput_dir: o\ndataset_dir: nodir\ndataset: x\n' >one.yaml
expect 1 'iopo train: one.yaml:4: dataset: nodir/dataset_info.json: No such file or directory (dataset_dir nodir holds no dataset_info.json)' -- \
  "$iopo" train --config one.yaml --print-config
ds ok >ok.json 2>ok.err && ok || fail "an entry with members LLaMA-Factory does not read (file_sha1): $(tail -n 1 ok.err)"

# ---- real runs (CPU, tiny model): renamed columns and tags train exactly as the canonical files ----
tok=$src/assets/demo/tokenizer.json
"$iopo" init --arch gpt2 --layers 1 --heads 2 --dim 16 --ctx 64 --tokenizer "$tok" --out m >/dev/null 2>&1 ||
  fail "init of the tiny model"
mkdir -p canon && cp "$src/assets/data/dpo_alpaca.json" "$src/assets/data/sft_sharegpt.json" "$src/assets/data/iopo_sharegpt.json" canon/
echo '{"dpo": {"file_name": "dpo_alpaca.json", "ranking": true, "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"}}, "sft": {"file_name": "sft_sharegpt.json", "formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"}}}' \
  >canon/dataset_info.json
# run NAME DIR DATASET STAGE [FLAGS]: trains 3 steps of NAME.yaml on the CPU
run() {
  local name=$1 dir=$2 dsname=$3 stage=$4
  shift 4
  cat >"$name.yaml" <<EOF
model_name_or_path: m
stage: $stage
finetuning_type: full
dataset: $dsname
dataset_dir: $dir
cutoff_len: 64
per_device_train_batch_size: 2
max_steps: 3
learning_rate: 1.0e-3
logging_steps: 1
output_dir: r_$name
overwrite_output_dir: true
report_to: none
EOF
  "$iopo" train --config "$name.yaml" --device cpu "$@" >"$name.out" 2>"$name.log" ||
    fail "$name: exit $?: $(tail -n 1 "$name.log")"
}
strip() { sed 's/"tokens_per_s": [^,]*, "ms_per_step": [^,]*, //' "$1"; }
run dpo_renamed "$lfdir" dpo_renamed dpo
run dpo_canon canon dpo dpo
check "grep -qF 'data: $lfdir/dpo_renamed.json: dpo alpaca (json array), 8 sequences' dpo_renamed.log" \
  "renamed alpaca columns read as dpo alpaca: $(grep '^data:' dpo_renamed.log)"
check "[ -s r_dpo_renamed/metrics.jsonl ] && [ \"\$(strip r_dpo_renamed/metrics.jsonl)\" = \"\$(strip r_dpo_canon/metrics.jsonl)\" ]" \
  "DPO through renamed columns: the same metrics as the canonical file"
# the canonical file with no dataset_info (a JSON config) trains the same
printf '{"model": "m", "objective": "dpo", "data": "canon/dpo_alpaca.json", "seq_len": 63, "batch_size": 2, "steps": 3, "lr": 0.001, "schedule": "linear", "min_lr_ratio": 0, "seed": 42, "out": "r_json"}\n' >json.json
"$iopo" train --config json.json --device cpu >json.out 2>json.log || fail "json run: $(tail -n 1 json.log)"
check "[ -s r_json/metrics.jsonl ] && [ \"\$(strip r_json/metrics.jsonl)\" = \"\$(strip r_dpo_canon/metrics.jsonl)\" ]" \
  "the YAML run equals the same run from a JSON config"
run sft_openai "$lfdir" sft_openai sft
run sft_canon canon sft sft
check "grep -qF 'data: $lfdir/sft_openai.json: sft sharegpt (json array), 3 sequences' sft_openai.log" \
  "role/content tags read as sharegpt: $(grep '^data:' sft_openai.log)"
check "[ -s r_sft_openai/metrics.jsonl ] && [ \"\$(strip r_sft_openai/metrics.jsonl)\" = \"\$(strip r_sft_canon/metrics.jsonl)\" ]" \
  "SFT through tags: the same metrics as the canonical file"
run iopo "$lfdir" iopo_demo iopo
check "grep -qF 'data: $lfdir/iopo_demo.json: iopo sharegpt (json array), 16 sequences' iopo.log" \
  "the example's IOPO dataset trains with stage iopo: $(grep '^data:' iopo.log)"
# overwrite_output_dir: a second run starts over; asked to --resume, the run continues instead
run iopo "$lfdir" iopo_demo iopo
check "grep -q -- '--overwrite: removed the previous run from r_iopo' iopo.log" "overwrite_output_dir starts over"
run stop "$lfdir" iopo_demo iopo --stop-at 1
run stop "$lfdir" iopo_demo iopo --resume
check "grep -q '^resumed from r_stop/checkpoint-1 at step 1' stop.log" \
  "overwrite_output_dir with --resume continues: $(grep -m1 -i 'resum\|overwrite' stop.log)"
check "[ \"\$(wc -l <r_stop/metrics.jsonl)\" -eq 3 ]" "the resumed run holds steps 1 to 3"

echo "llamafactory: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
