#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, made from the tree's assets/ (nothing large is kept in git).

Usage: make_seeds.py REPO_ROOT OUT_DIR  -> OUT_DIR/<harness>/<seed files>. Each seed starts with the harness's mode
byte(s) (see the comment at the top of each tests/fuzz/fuzz_*.c)."""
import json
import os
import shutil
import struct
import sys

root, out = sys.argv[1], sys.argv[2]
assets = os.path.join(root, "assets")


def read(*parts):
    with open(os.path.join(assets, *parts), "rb") as f:
        return f.read()


def put(harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


if os.path.isdir(out):
    shutil.rmtree(out)

# ---- safetensors: mode 0 = a .safetensors file, mode 1 = an index naming the harness's shards ----
def safetensors(tensors, metadata=None, pad=True):
    header, blob = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + blob


f32 = struct.pack("<6f", *range(6))
put("fuzz_safetensors", "f32", b"\0" + safetensors([("wte.weight", "F32", [2, 3], f32),
                                                     ("h.0.ln_1.weight", "F32", [3], f32[:12])],
                                                    {"format": "pt"}))
put("fuzz_safetensors", "mixed", b"\0" + safetensors([("a", "F16", [2, 2], struct.pack("<4e", 1, -2, 0.5, 65504)),
                                                       ("b", "BF16", [3], b"\x80\x3f\x00\x40\x80\xbf"),
                                                       ("c", "I32", [2], struct.pack("<2i", 7, -1)),
                                                       ("d", "I64", [1], struct.pack("<q", 1 << 40)),
                                                       ("e", "F32", [0, 4], b""),
                                                       ("transformer.wpe.weight", "F32", [1, 1], f32[:4])], pad=False))
put("fuzz_safetensors", "empty", b"\0" + safetensors([]))
index = {"metadata": {"total_size": 36}, "weight_map": {"wte.weight": "model-00001-of-00002.safetensors",
                                                         "h.0.ln_1.weight": "model-00001-of-00002.safetensors",
                                                         "ln_f.weight": "model-00002-of-00002.safetensors"}}
put("fuzz_safetensors", "index", b"\1" + json.dumps(index, indent=2).encode())
index["weight_map"]["wte.weight"] = "dup.safetensors"
put("fuzz_safetensors", "index_dup", b"\1" + json.dumps(index).encode())

# ---- tokenizer files: mode 0 = tokenizer.json, mode 1 = encoder.json NUL vocab.bpe ----
tok = json.loads(read("demo", "tokenizer.json"))
put("fuzz_tokenizer", "demo", b"\0" + read("demo", "tokenizer.json"))
encoder = json.dumps(tok["model"]["vocab"], ensure_ascii=False).encode()
merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
bpe = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode()
put("fuzz_tokenizer", "gpt2", b"\1" + encoder + b"\0" + bpe)
qwen_re = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
split = dict(tok)
split["normalizer"] = {"type": "NFC"}
split["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": qwen_re}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
split["model"] = dict(tok["model"], ignore_merges=True, merges=[m.split(" ") for m in merges])
split["added_tokens"] = tok["added_tokens"] + [
    {"id": 600, "content": "<|im_start|>", "special": True},
    {"id": 601, "content": "<think>", "special": False, "single_word": True},
    {"id": 602, "content": "[M]", "special": True, "lstrip": True, "rstrip": True}]
put("fuzz_tokenizer", "split_nfc", b"\0" + json.dumps(split, ensure_ascii=False).encode())
tiny = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]},
        "pre_tokenizer": {"type": "ByteLevel", "use_regex": True}, "normalizer": None,
        "added_tokens": [{"id": 4, "content": "<|endoftext|>", "special": True}]}
put("fuzz_tokenizer", "tiny", b"\0" + json.dumps(tiny).encode())
put("fuzz_tokenizer", "tiny_gpt2", b"\1" + b'{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}\0#version: 0.2\na b\n')

# ---- encode: byte 0 bits 0-1 tokenizer (demo, split, split+NFC, encoder.json), bit 2 special ----
corpus = read("demo", "corpus.txt")
lines = [l for l in corpus.split(b"\n") if l.strip()]
samples = lines[:6] + [corpus[:2048],
                       "caf\u00e9 cafe\u0301 \u4e2d\u6587 \u0915\u093c 12345 it's <|endoftext|><|im_start|>x<think>\r\n"
                       .encode(), b"\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98\x80 \t\t  \n\n"]
for i, s in enumerate(samples):
    for mode in range(8):
        if i >= 6 or mode in (0, 5):  # every mode for the mixed samples, two for the plain lines
            put("fuzz_encode", f"s{i}_m{mode}", bytes([mode]) + s)

# ---- dataset (iopo_dataset_load): byte 0 bit 0 .txt, bit 2 no tokenizer, bit 3 vocab 300; byte 1 length ----
put("fuzz_dataset", "text_txt", b"\x01\x40" + corpus[:4096])
text_jsonl = b"".join(json.dumps({"text": l.decode()}).encode() + b"\n" for l in lines[:8])
put("fuzz_dataset", "text_jsonl", b"\x00\x20" + text_jsonl)
put("fuzz_dataset", "ids_jsonl", b"\x04\x30" + b'{"input_ids": [1, 2, 3, 4], "labels_mask": [0, 0, 1, 1]}\n'
    b'\n{"input_ids": [5, 299, 7]}\n')
put("fuzz_dataset", "prompt_ids_jsonl", b"\x0c\x08" + b'{"prompt_ids": [1, 2], "response_ids": [3, 4, 5]}\r\n'
    b'{"prompt_ids": [9], "response_ids": [299]}\n')
put("fuzz_dataset", "sft_ids", b"\x04\x7f" + read("data", "sft_ids.jsonl"))

# ---- preference data: byte 0 bit 0 .json, (bits 2-3) mod 3 objective, bit 4 chatml, bit 5 skip, bit 6 no
# tokenizer, bit 7 vocab 300; byte 1 cutoff_len / 2 ----
SFT, DPO, IOPO = 0, 4, 8
kinds = {"sft": [SFT], "dpo": [DPO, SFT], "iopo": [IOPO, SFT]}
for name in sorted(os.listdir(os.path.join(assets, "data"))):
    data = read("data", name)
    objs = kinds[name.split("_")[0]]
    is_json = 1 if name.endswith(".json") else 0
    ids = "_ids" in name
    for obj in objs:
        for extra, tag in ((0, "plain"), (16, "chatml"), (32 | 16, "chatml_skip")):
            if ids:
                extra = 64 | (extra & 32)
                tag = tag.replace("chatml", "notok")
            put("fuzz_prefdata", f"{name}_{obj}_{tag}", bytes([is_json | obj | extra, 64]) + data)
    put("fuzz_prefdata", f"{name}_short", bytes([is_json | objs[0] | 16, 6]) + data)
bad = (b'{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": 1}\n[1]\n'
       b'{"prompt": "x", "chosen": "", "rejected": "d"}\n{not json\n')
put("fuzz_prefdata", "dpo_bad_skip", bytes([DPO | 32, 40]) + bad)
put("fuzz_prefdata", "roles", bytes([16, 40]) + json.dumps(
    {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                  {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"},
                  {"role": "assistant", "content": "a2"}]}).encode() + b"\n")

# ---- config: byte 0 mod 3: 0 train config file, 1 NUL-separated flags, 2 model config.json ----
for name in sorted(os.listdir(os.path.join(assets, "configs"))):
    if name.endswith(".json"):
        put("fuzz_config", "train_" + name, b"\0" + read("configs", name))
put("fuzz_config", "train_demo", b"\0" + read("demo", "train.json"))
put("fuzz_config", "flags", b"\1" + b"\0".join([b"--steps", b"100", b"--lr=3e-4", b"--warmup-steps", b"10",
                                                b"--schedule=linear", b"--objective", b"iopo", b"--beta=0.2",
                                                b"--seed", b"-5", b"--min-lr-ratio=0.5"]))
gpt2 = {"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 128, "vocab_size": 512,
        "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"]}
put("fuzz_config", "model_gpt2", b"\2" + json.dumps(gpt2, indent=2).encode())
gpt2_ctx = dict(gpt2, n_ctx=64)
del gpt2_ctx["n_positions"]
put("fuzz_config", "model_n_ctx", b"\2" + json.dumps(gpt2_ctx).encode())
llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "vocab_size": 512, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
         "hidden_act": "silu", "attention_bias": False, "bos_token_id": 1, "eos_token_id": [2, 3],
         "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64}}
put("fuzz_config", "model_llama", b"\2" + json.dumps(llama, indent=2).encode())
qwen2 = dict(llama, model_type="qwen2", rope_theta=1e6, tie_word_embeddings=True, use_sliding_window=False)
del qwen2["rope_scaling"]
put("fuzz_config", "model_qwen2", b"\2" + json.dumps(qwen2).encode())
qwen3 = dict(qwen2, model_type="qwen3", head_dim=24, rope_parameters={"rope_type": "default", "rope_theta": 1e6})
put("fuzz_config", "model_qwen3", b"\2" + json.dumps(qwen3).encode())
adapter = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "/m", "r": 8, "lora_alpha": 16,
           "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "bias": "none", "use_rslora": False,
           "fan_in_fan_out": False, "modules_to_save": None}
put("fuzz_config", "adapter_lora", b"\3" + json.dumps(adapter, indent=2).encode())
put("fuzz_config", "adapter_all", b"\3" + json.dumps(dict(adapter, target_modules=["q_proj", "k_proj", "v_proj",
                                                             "o_proj", "gate_proj", "up_proj", "down_proj"])).encode())

# ---- yaml_config: byte 0 mod 3: 0 run.yaml (registry "d" beside it), 1 dataset_info.json, 2 records through an
# entry (byte 1: entry index + 8 * objective, bit 6 skip, bit 7 chatml) ----
for name in sorted(os.listdir(os.path.join(assets, "configs"))):
    if name.endswith(".yaml"):
        text = read("configs", name).replace(b"dataset: iopo_demo", b"dataset: d").replace(
            b"dataset_dir: assets/llamafactory", b"dataset_dir: .")
        put("fuzz_yaml_config", "yaml_" + name, b"\0" + text)
put("fuzz_yaml_config", "yaml_forms", b"\0" + b"""# every scalar form
model_name_or_path: 'm'
stage: "dpo"
dataset: d
dataset_dir: .
learning_rate: &lr 5e-6
weight_decay: *lr
lora_rank: !!int 16
lora_alpha: !!float 32
bf16: yes
fp16: off
seed: 1_000
report_to: [wandb, {a: 1}]
deepspeed: {zero: 3}
lora_target: >-
  q_proj,
  v_proj
output_dir: |
  out
adapter_name_or_path: ~
""")
put("fuzz_yaml_config", "yaml_flow", b"\0{stage: sft, cutoff_len: 64, max_steps: 3, eval_strategy: steps}\n")
info = json.loads(read("llamafactory", "dataset_info.json"))
put("fuzz_yaml_config", "registry", b"\1" + json.dumps({"d": info["iopo_demo"], "e": info["dpo_renamed"]},
                                                          indent=2).encode())
put("fuzz_yaml_config", "registry_tags", b"\1" + json.dumps({"d": dict(info["sft_openai"], ranking=True)}).encode())
put("fuzz_yaml_config", "registry_hub", b"\1" + b'{"d": {"hf_hub_url": "x/y", "columns": {"prompt": 1}}}')
put("fuzz_yaml_config", "records_alpaca", b"\2" + bytes([0 + 8 * 1]) + json.dumps(
    [{"q": "Add.", "x": "2 and 3", "a": "5", "b": "6", "s": "Sys.", "h": [["hi", "hello"]]}]).encode())
put("fuzz_yaml_config", "records_default", b"\2" + bytes([1 | 128]) + read("data", "sft_alpaca.json"))
put("fuzz_yaml_config", "records_query", b"\2" + bytes([2 | 64]) +
    b'{"q": "Say hi.", "r": "Hi."}\n{"q": "Again.", "r": 3}\n')
put("fuzz_yaml_config", "records_tags", b"\2" + bytes([3 | 128]) + read("llamafactory", "sft_openai.json"))
put("fuzz_yaml_config", "records_iopo", b"\2" + bytes([4 + 8 * 2]) + read("llamafactory", "iopo_demo.json"))

# ---- IFEval checkers: instruction byte, mode byte (0: response; 1: kwargs JSON NUL response; 2: string NUL
# response), hand-written responses with the features the checks look for ----
ifeval_responses = [
    b"Sure! Here it is:\n* one\n* two\n- three\n***\n<<A Title>>\nSECTION 1 *highlighted* and **bold** [name]\n"
    b"SECTION 2\nMy answer is yes. Dr. Smith left at 3.15 p.m. today. He said \"Stop.\" NASA and I DON'T know.\n\n"
    b"P.P.S call me. Is there anything else I can help with?",
    b"\"Write ab. Answer one.\n******\nAnswer two, in lowercase.\"",
    b"```json\n{\"a\": [1, -2.5e3, \"x\\u00e9\", true, null, NaN]}\n```",
    "Das ist ein kleines Haus und wir sind glücklich. Сегодня хорошая погода. आज मौसम बहुत अच्छा है। 今日はとても良い天気です。"
    .encode(),
]
ifeval_kwargs = [b'{"keywords": ["ab", "Note"]}', b'{"keyword": "ab", "frequency": 2, "relation": "less than"}',
                 b'{"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "ab", "relation": null}',
                 b'{"letter": "#", "let_frequency": 1, "let_relation": "at least"}', b'{"language": "ja"}',
                 b'{"section_spliter": "Section", "num_sections": 1}', b'{"postscript_marker": "P.S."}']
for idx in range(25):
    for k, r in enumerate(ifeval_responses):
        put("fuzz_ifeval", f"i{idx}_r{k}", bytes([idx, 0]) + r)
    put("fuzz_ifeval", f"i{idx}_kw", bytes([idx, 1]) + ifeval_kwargs[idx % len(ifeval_kwargs)] + b"\0" +
        ifeval_responses[idx % len(ifeval_responses)])
    put("fuzz_ifeval", f"i{idx}_str", bytes([idx, 2]) + b" P.S. \0" + ifeval_responses[0])

# ---- metrics.jsonl (iopo plot): byte 0 bit 0 every key charted, bit 1 the file twice, bit 2 a title ----
metrics_sft = (b'{"step": 1, "loss": 4.5, "lr": 0.001, "grad_norm": 2.1}\n'
               b'{"step": 2, "loss": 3.9, "lr": 0.002, "note": "text, not a number: NaN"}\n'
               b'{"step": 3, "loss": NaN, "lr": 0.002, "eval_loss": 3.7}\n\n'
               b'{"step": 4, "loss": 3.1, "lr": null}\n'
               b'{"step": 5, "loss": 2.8, "lr": -nan, "eval_loss": 3.0}\n')
metrics_dpo = (b'{"step": 1, "loss": 0.693, "rewards/accuracies": 0.5, "rewards/margins": 0.0}\n'
               b'{"step": 3, "loss": 0.55, "rewards/accuracies": 0.75, "rewards/margins": -Infinity}\n'
               b'{"step": 2, "loss": 0.62, "rewards/accuracies": 0.75, "eval_loss": 0.65, '
               b'"eval_rewards/accuracies": 0.6}\n'
               b'{"step": 4, "loss": 0.41, "rewards/accuracies": 1, "rewards/margins": 0.8, "eval_loss": 0.5}')
metrics_iopo = b"".join(json.dumps({"step": s, "loss": 1.0 / s, "rewards/accuracies_v1": 0.5, "rewards/margins_v2":
                                    s * 1e-7, "tokens_seen": s * 10 ** 12}).encode() + b"\n" for s in range(1, 9))
put("fuzz_metrics", "sft", b"\0" + metrics_sft)
put("fuzz_metrics", "sft_every", b"\1" + metrics_sft)
put("fuzz_metrics", "dpo_two_titled", b"\6" + metrics_dpo)
put("fuzz_metrics", "iopo_every", b"\7" + metrics_iopo)
put("fuzz_metrics", "one_point", b"\1" + b'{"step": 0, "x": 1e300}\n{"step": 0, "x": -1e300}\n')

# ---- evaluation sets (iopo eval): data file, 0xFF, responses file; both the IFEval and the TRACE reader get both ----
ifeval_data = [
    {"key": 1, "prompt": "Describe a river without commas.", "instruction_id_list": ["punctuation:no_comma"],
     "kwargs": [{}]},
    {"key": 2, "prompt": "Write about a river in lowercase.",
     "instruction_id_list": ["change_case:english_lowercase", "keywords:existence"],
     "kwargs": [{}, {"keywords": ["river"]}]},
    {"key": 3, "prompt": "Answer and end with the phrase.", "instruction_id_list": ["startend:end_checker"],
     "kwargs": [{"end_phrase": "Is there anything else I can help with?"}]},
    {"key": 4, "prompt": "Write a letter template.", "instruction_id_list": ["detectable_content:number_placeholders"],
     "kwargs": [{"num_placeholders": 2}]},
    {"key": 5, "prompt": "Write a long essay.", "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{"num_words": 100, "relation": "at least"}]},
]
ifeval_resp = [{"key": 2, "response": "the river runs slowly to the sea."},
               {"prompt": "Describe a river without commas.", "response": "The river is wide and calm."},
               {"key": 3, "response": "The answer is four.\nIs there anything else I can help with?\nGoodbye."},
               {"key": 4, "response": "Dear [name], we will visit you at [address] soon."},
               {"key": 5, "response": "Essays are long things."}]


def jsonl(records):
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


put("fuzz_eval_sets", "ifeval", jsonl(ifeval_data) + b"\xff" + jsonl(ifeval_resp))
synth = [dict(r, split="in_domain" if i % 2 else "held_out") for i, r in enumerate(ifeval_data)]
for r in synth:
    del r["key"]
put("fuzz_eval_sets", "synth", jsonl(synth) + b"\xff" + jsonl(
    [{"prompt": r["prompt"], "response": "A *short* answer, SECTION 1.\n\nP.S. yes"} for r in synth]))
put("fuzz_eval_sets", "ifeval_null_kwargs", jsonl([{"key": "a", "prompt": "p", "instruction_id_list":
    ["change_case:english_capital", "detectable_format:json_format"], "kwargs": [None, {"x": None}]}]) +
    b"\xff" + jsonl([{"key": "a", "response": "```json\n{\"A\": 1}\n```"}]))
trace_data = [
    {"id": "0", "messages": [{"role": "system", "content": "You are a helpful assistant."},
                             {"role": "user", "content": "Describe a song\n1. Use a poetic tone;\n# Inputs:\n"
                                                         "Hotel California\n"}],
     "type": "trace", "description": "Describe a song", "constraints": "1. Use a poetic tone;",
     "input": "Hotel California", "constraints_num": 1, "constraints_splits": ["1. Use a poetic tone;"],
     "levels2": ["tone"], "category": "trace1.0"},
    {"id": "1", "messages": [{"role": "user", "content": "Write a story\n1. Use a metaphor;\n2. Under 50 words;\n"}],
     "type": "trace", "description": "Write a story", "constraints": "1. Use a metaphor;\n2. Under 50 words;",
     "input": "NULL", "constraints_num": 2, "constraints_splits": ["1. Use a metaphor;", "2. Under 50 words;"],
     "levels2": ["language", "length"], "category": "trace1.0", "generated": "old"},
]
put("fuzz_eval_sets", "trace", jsonl(trace_data) + b"\xff" + jsonl(
    [{"id": "1", "response": "A story."}, {"prompt": trace_data[0]["messages"][1]["content"],
                                           "response": "A song like a river, \u00e9\u4e2d."}]))
put("fuzz_eval_sets", "trace_no_responses", jsonl(trace_data[:1]))

for h in sorted(os.listdir(out)):
    print(f"{h}: {len(os.listdir(os.path.join(out, h)))} seeds")
