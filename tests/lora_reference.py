#!/usr/bin/python3
"""Helper of test_lora_reference.sh (Debian python3-torch only): runs tools/reference/gpt2_reference.py in this one
process (importing torch once) and compares iopo's output with it.

    lora_reference.py SOURCE_DIR prepare WORK         tiny bases, random PEFT adapters, data.jsonl, batch.json
    lora_reference.py SOURCE_DIR check WORK CASE...   reference gradients of each case's adapter; iopo's against them

A case is WORK/CASE.adapter (a PEFT adapter directory whose base_model_name_or_path is the base) with iopo's
`score --grads` output WORK/CASE.BACKEND.safetensors and its scores WORK/CASE.BACKEND.jsonl for BACKEND cpu and
vulkan. Exit 0 when every comparison passed.
"""
import json
import os
import shutil
import sys

src, cmd, work = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(src, "tools", "reference"))
import gpt2_reference as ref  # noqa: E402

BACKENDS = ("cpu", "vulkan")
EVERY = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
# The bases: llama with GQA (4 query heads on 2 KV heads), attention biases and an untied head; qwen2 with GQA, its
# q/k/v biases and a tied head; gpt2 with its fused c_attn (one PEFT module: B has 3C rows) and Conv1D layers.
BASES = {
    "llama": "--arch llama --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --vocab 301 --ctx 32 --tied 0 "
             "--attention-bias 1",
    "qwen2": "--arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --vocab 301 --ctx 32 --tied 1 "
             "--rope-theta 1000000",
    "gpt2": "--layers 2 --heads 4 --dim 32 --vocab 301 --ctx 32",
}
# Random adapters: (case, base, r, alpha, rsLoRA, target_modules). Every linear layer and subsets (qwen2: q and v of
# iopo's fused q|k|v, not k; gpt2: c_proj, which names the attention's and the MLP's).
ADAPTERS = [
    ("llama_all", "llama", 4, 8, 0, EVERY),
    ("qwen2_qv_rslora", "qwen2", 8, 16, 1, "q_proj,v_proj"),
    ("gpt2_all_rslora", "gpt2", 4, 4, 1, "c_attn,c_proj,c_fc"),
    ("gpt2_cproj", "gpt2", 2, 4, 0, "c_proj"),
]
RECORDS = [
    {"prompt_ids": [72, 101, 108, 108, 111], "response_ids": [32, 119, 111, 114, 108, 100, 33, 10, 200, 5, 17, 250]},
    {"prompt_ids": [1, 2, 3], "response_ids": [4]},
    {"prompt_ids": [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14], "response_ids": [100, 101, 102, 103, 104, 105]},
    {"prompt_ids": [300], "response_ids": [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56]},
]


def run(*argv):
    rc = ref.main([str(a) for a in argv])
    if rc:
        sys.exit("lora_reference.py: gpt2_reference.py %s: exit %d" % (" ".join(map(str, argv)), rc))


def prepare():
    for name, opts in BASES.items():
        run("--init-model", os.path.join(work, name), *opts.split(), "--seed", 3)
    for k, (case, base, r, alpha, rs, targets) in enumerate(ADAPTERS):
        run("--init-adapter", os.path.join(work, case + ".adapter"), "--model", os.path.join(work, base),
            "--lora-r", r, "--lora-alpha", alpha, "--rslora", rs, "--lora-targets", targets, "--seed", 11 + k,
            "--lora-std", 0.2)
    with open(os.path.join(work, "data.jsonl"), "w") as f:
        for r in RECORDS:
            f.write(json.dumps(r) + "\n")
    # The records as one right-padded batch: position t predicts token t+1, the loss on response tokens only, so the
    # reference's loss (sum over masked tokens / their count) is `iopo score --grads`'s mean over all response tokens.
    seqs = [r["prompt_ids"] + r["response_ids"] for r in RECORDS]
    T = max(len(s) for s in seqs) - 1
    batch = {"input_ids": [], "targets": [], "mask": [], "lengths": []}
    for r, s in zip(RECORDS, seqs):
        n = len(s) - 1
        on = [t + 1 >= len(r["prompt_ids"]) for t in range(n)] + [False] * (T - n)
        batch["lengths"].append(n)
        batch["input_ids"].append(s[:n] + [0] * (T - n))
        batch["targets"].append([s[t + 1] if on[t] else -100 for t in range(T)])
        batch["mask"].append([1.0 if m else 0.0 for m in on])
    with open(os.path.join(work, "batch.json"), "w") as f:
        json.dump(batch, f)


def tensors(path):
    return {k: ref.st_tensor_f32(path, k, e) for k, e in ref.st_read(path).items()}


def compare_grads(label, got_path, want):
    """iopo's gradients against the reference's grad.NAME: the same names, and per tensor, elementwise,
    |iopo - ref| <= 1e-3 |ref| + 1e-4 max|ref| + 1e-7 (the families' gradient check in test_decoder_reference.c).
    Prints max|iopo - ref| / max|ref| of the worst tensor."""
    got = tensors(got_path)
    names = {k[len("grad."):] for k in want if k.startswith("grad.")}
    bad = []
    if set(got) != names:
        bad.append("names differ: iopo only %s, reference only %s" % (sorted(set(got) - names)[:3],
                                                                      sorted(names - set(got))[:3]))
    worst, worst_name = 0.0, ""
    for n in sorted(set(got) & names):
        a, b = got[n].double(), want["grad." + n].double()
        scale = float(b.abs().max())
        if scale == 0:
            bad.append("%s: the reference gradient is all zero" % n)
            continue
        err = (a - b).abs()
        over = err > 1e-3 * b.abs() + 1e-4 * scale + 1e-7
        rel = float(err.max()) / scale
        if rel > worst:
            worst, worst_name = rel, n
        if bool(over.any()):
            i = int(over.view(-1).nonzero()[0])
            bad.append("%s[%d]: iopo %.8g, reference %.8g (max rel err %.2e)" %
                       (n, i, float(a.view(-1)[i]), float(b.view(-1)[i]), rel))
    print("%-40s %2d adapter gradients, worst max|iopo-ref|/max|ref| %.2e (%s)  %s" %
          (label, len(names), worst, worst_name.replace("base_model.model.", ""), "FAIL" if bad else "pass"))
    for line in bad[:4]:
        print("    " + line)
    return not bad


def compare_logps(label, scores_path, want):
    """Per-record summed response log-probs: |iopo - ref| <= 1e-4 |ref| + 1e-5."""
    lp = [json.loads(line)["logps"]["response"] for line in open(scores_path)]
    ref_lp = want["seq_logp"].tolist()
    ok = len(lp) == len(ref_lp) and all(abs(a - b) <= 1e-4 * abs(b) + 1e-5 for a, b in zip(lp, ref_lp))
    print("%-40s %2d records' log-probs, worst |iopo-ref| %.2e (of %.1f)  %s" %
          (label, len(lp), max(abs(a - b) for a, b in zip(lp, ref_lp)), max(abs(b) for b in ref_lp),
           "pass" if ok else "FAIL"))
    return ok


def check(cases):
    fails = 0
    for case in cases:
        adapter = os.path.join(work, case + ".adapter")
        conf = json.load(open(os.path.join(adapter, "adapter_config.json")))
        out = os.path.join(work, case + ".ref.safetensors")
        run("--model", conf["base_model_name_or_path"], "--adapter", adapter, "--batch",
            os.path.join(work, "batch.json"), "--out", out)
        want = tensors(out)
        for be in BACKENDS:
            label = "%s (%s, r %d%s)" % (case, be, conf["r"], ", rsLoRA" if conf.get("use_rslora") else "")
            fails += not compare_logps(label, os.path.join(work, "%s.%s.jsonl" % (case, be)), want)
            fails += not compare_grads(label, os.path.join(work, "%s.%s.safetensors" % (case, be)), want)
    # The comparison can fail: the first case's adapter with lora_alpha 1% larger (a 1% larger scale) must not match
    # what iopo computed for the real one.
    case = cases[0]
    wrong = os.path.join(work, case + ".alpha101.adapter")
    shutil.rmtree(wrong, ignore_errors=True)
    shutil.copytree(os.path.join(work, case + ".adapter"), wrong)
    conf_path = os.path.join(wrong, "adapter_config.json")
    conf = json.load(open(conf_path))
    conf["lora_alpha"] = conf["lora_alpha"] * 1.01
    json.dump(conf, open(conf_path, "w"))
    out = os.path.join(work, case + ".alpha101.ref.safetensors")
    run("--model", conf["base_model_name_or_path"], "--adapter", wrong, "--batch", os.path.join(work, "batch.json"),
        "--out", out)
    print("negative check, expected to FAIL:")
    caught = not compare_grads("%s vs lora_alpha x 1.01" % case, os.path.join(work, case + ".cpu.safetensors"),
                               tensors(out))
    print("%-40s %s" % ("a 1% wrong scale is caught", "pass" if caught else "FAIL"))
    fails += not caught
    print("lora_reference: %d comparisons failed" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    if cmd == "prepare":
        prepare()
        print(" ".join(c[0] for c in ADAPTERS))
    elif cmd == "check":
        sys.exit(check(sys.argv[4:]))
    else:
        sys.exit("usage: lora_reference.py SOURCE_DIR prepare|check WORK [CASE...]")
