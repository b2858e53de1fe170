#!/usr/bin/env python3
"""The real Hugging Face stack as iopo's peer: builds small random models with transformers' own classes, scores and
differentiates them, loads what iopo wrote, and generates greedily, so that the tests compare iopo with transformers
itself rather than with a re-implementation. Run with the peer venv's python (tools/peer-venv.sh prints it).

    hf_peer.py make --arch gpt2|llama|qwen2|qwen3 --out DIR [--dtype float32|bfloat16] [--max-shard-size 20KB]
               [--tied 0|1] [--seed N] [--layers L] [--heads H] [--kv-heads K] [--dim C] [--head-dim D] [--ffn F]
               [--ctx T] [--vocab V] [--rope-theta X] [--rope-scaling none|llama3] [--rope-original-ctx N]
               [--std S] [--byte-tokenizer] [--legacy-rope-keys]
    hf_peer.py logprobs --model DIR --data FILE.jsonl --out FILE.json [--grads FILE.safetensors]
    hf_peer.py check-load --model DIR [--data FILE.jsonl --scores IOPO_SCORES.jsonl [--tol X]]
    hf_peer.py generate --model DIR --prompts FILE.jsonl --max-new-tokens N --out FILE.json
    hf_peer.py compare-logps --scores IOPO_SCORES.jsonl --ref FILE.json [--tol X]
    hf_peer.py compare-grads --grads IOPO.safetensors --ref FILE.safetensors [--tol X] [--strip-prefix P]
    hf_peer.py compare-gen --ref FILE.json --iopo-outputs FILE...

Several commands run in one process when separated by `::` (importing torch and transformers costs seconds each
time). Exit status 0 when every command succeeded; 1 when a check failed or an input was bad, with a line
`hf_peer.py: CHECK: ...` naming what; 2 for bad arguments. tools/reference/README.md describes each command.
"""
import argparse
import json
import math
import os
import sys

PROG = "hf_peer.py"


class Failure(Exception):
    """A failed check or a bad input: reported as one line, exit status 1."""


def torch_modules():
    import torch
    import transformers
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return torch, transformers


# ---------------------------------------------------------------- make

ARCH_CLASSES = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
    "llama": ("LlamaConfig", "LlamaForCausalLM"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
}


def build_config(a, transformers):
    cls = getattr(transformers, ARCH_CLASSES[a.arch][0])
    ffn = a.ffn or 4 * a.dim
    eos = a.vocab - 1
    common = dict(vocab_size=a.vocab, tie_word_embeddings=bool(a.tied), bos_token_id=eos, eos_token_id=eos)
    if a.arch == "gpt2":
        if a.kv_heads not in (None, a.heads) or a.head_dim not in (None, a.dim // a.heads):
            raise Failure("make: gpt2 has neither GQA nor a free head_dim")
        return cls(n_layer=a.layers, n_head=a.heads, n_embd=a.dim, n_positions=a.ctx,
                   n_inner=None if ffn == 4 * a.dim else ffn, activation_function="gelu_new",
                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5, **common)
    rope = {"rope_type": "default", "rope_theta": a.rope_theta}
    if a.rope_scaling == "llama3":
        # A short original context, so that the scaled band of frequencies falls inside a test's few positions.
        rope = {"rope_type": "llama3", "rope_theta": a.rope_theta, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": a.rope_original_ctx}
    kw = dict(hidden_size=a.dim, intermediate_size=ffn, num_hidden_layers=a.layers, num_attention_heads=a.heads,
              num_key_value_heads=a.kv_heads or a.heads, max_position_embeddings=a.ctx, rms_norm_eps=1e-6,
              rope_parameters=rope, attention_dropout=0.0, hidden_act="silu", **common)
    if a.head_dim:
        kw["head_dim"] = a.head_dim
    if a.arch == "llama":
        kw.update(attention_bias=False, mlp_bias=False)
    elif a.arch == "qwen2":
        kw.update(use_sliding_window=False)
    elif a.arch == "qwen3":
        kw.update(attention_bias=False, use_sliding_window=False)
    return cls(**kw)


def cmd_make(a):
    torch, transformers = torch_modules()
    if a.arch != "llama" and a.rope_scaling != "none":
        raise Failure(f"make: --rope-scaling {a.rope_scaling} is tested with llama only")
    if a.arch == "gpt2" and a.legacy_rope_keys:
        raise Failure("make: gpt2 has no RoPE")
    config = build_config(a, transformers)
    model = getattr(transformers, ARCH_CLASSES[a.arch][1])(config).eval()
    # Large enough that logits are far from uniform and every bias and norm weight visibly changes them: a loader
    # that drops or transposes one cannot hide behind a near-zero tensor or a unit norm.
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.1)
            elif p.ndim == 1:  # LayerNorm / RMSNorm weights (incl. the per-head q/k norms)
                p.copy_(1.0 + torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.2)
            else:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * a.std)
    if a.dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    kwargs = {"max_shard_size": a.max_shard_size} if a.max_shard_size else {}
    model.save_pretrained(a.out, **kwargs)
    if a.legacy_rope_keys:
        legacy_rope_keys(os.path.join(a.out, "config.json"))
    if a.byte_tokenizer:
        write_byte_tokenizer(os.path.join(a.out, "tokenizer.json"), a.vocab)
    shards = sorted(f for f in os.listdir(a.out) if f.endswith(".safetensors"))
    if not shards:
        raise Failure(f"make: save_pretrained wrote no .safetensors into {a.out}")
    kv = a.heads if a.arch == "gpt2" else config.num_key_value_heads
    print(f"make: {a.arch} {a.dtype} L={a.layers} H={a.heads} K={kv} C={a.dim} tied={a.tied} -> {a.out}"
          f" ({len(shards)} safetensors file(s))")


def legacy_rope_keys(path):
    """Rewrites config.json's RoPE settings the way the published Llama 3.x and Qwen2.5/Qwen3 checkpoints spell them
    (transformers 4: top-level rope_theta and rope_scaling, null when unscaled) instead of transformers 5's
    rope_parameters; transformers reads both, and so must iopo."""
    with open(path) as f:
        cfg = json.load(f)
    rope = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = None if rope.get("rope_type") == "default" else rope
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def write_byte_tokenizer(path, vocab):
    """A byte-level BPE tokenizer.json with no merges: id b is byte b, id 256 is <|endoftext|>. With it a prompt's
    ids are its bytes and every byte `iopo generate` prints is one token, so its text output compares token for
    token."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    if vocab != 257:
        raise Failure(f"make: --byte-tokenizer needs --vocab 257 (256 bytes and <|endoftext|>), not {vocab}")
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, n = {}, 0
    for b in range(256):  # GPT-2's byte-to-unicode table
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    tok = Tokenizer(models.BPE(vocab={chars[b]: b for b in range(256)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    if tok.token_to_id("<|endoftext|>") != 256 or tok.encode("Hi!").ids != [72, 105, 33]:
        raise Failure("make: the byte tokenizer does not map bytes to their values")
    tok.save(path)


# ---------------------------------------------------------------- data and scoring

def read_records(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                p, q = r["prompt_ids"], r["response_ids"]
            except (ValueError, KeyError, TypeError) as e:
                raise Failure(f"{path}: line {n}: expected {{\"prompt_ids\": [...], \"response_ids\": [...]}} ({e})")
            if not p or not q or not all(isinstance(x, int) and x >= 0 for x in p + q):
                raise Failure(f"{path}: line {n}: prompt_ids and response_ids must be non-empty lists of ids >= 0")
            records.append((p, q))
    if not records:
        raise Failure(f"{path}: no records")
    return records


def load_model(torch, transformers, model_dir, info=False):
    out = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager",
                                                            output_loading_info=info)
    model, loading = out if info else (out, None)
    return model.eval(), loading


def response_logps(torch, model, records):
    """Per-token log-probs (float64 model) of each record's response, as one right-padded batch with a mask."""
    T = max(len(p) + len(q) for p, q in records)
    ids = torch.zeros(len(records), T, dtype=torch.long)
    mask = torch.zeros(len(records), T, dtype=torch.long)
    for b, (p, q) in enumerate(records):
        seq = p + q
        ids[b, :len(seq)] = torch.tensor(seq)
        mask[b, :len(seq)] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits
    logp = torch.log_softmax(logits.double(), dim=-1)
    out = []
    for b, (p, q) in enumerate(records):
        # Response token j sits at position len(p)+j and is predicted from position len(p)+j-1.
        pos = torch.arange(len(p) - 1, len(p) + len(q) - 1)
        out.append(logp[b, pos, torch.tensor(q)])
    return out


def checkpoint_names(model_dir):
    from safetensors import safe_open
    names = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(model_dir, f), "np") as st:
                for k in st.keys():
                    names[k] = f
    if not names:
        raise Failure(f"{model_dir}: no .safetensors files")
    return names


def param_for(model, params, name):
    """The model parameter a checkpoint tensor name loads into (with or without the base model's prefix)."""
    prefix = getattr(model, "base_model_prefix", "")
    for cand in (name, f"{prefix}.{name}", name[len(prefix) + 1:] if name.startswith(prefix + ".") else None):
        if cand in params:
            return params[cand]
    return None


def cmd_logprobs(a):
    torch, transformers = torch_modules()
    records = read_records(a.data)
    model, _ = load_model(torch, transformers, a.model)
    model = model.double()
    lps = response_logps(torch, model, records)
    n_tok = sum(len(q) for _, q in records)
    loss = -sum(lp.sum() for lp in lps) / n_tok
    result = {"model": a.model, "torch": torch.__version__, "transformers": transformers.__version__,
              "loss": loss.item(),
              "records": [{"token_logps": lp.tolist(), "logp": lp.sum().item(), "tokens": len(lp)} for lp in lps]}
    if a.grads:
        from safetensors.numpy import save_file
        loss.backward()
        params = dict(model.named_parameters())
        grads, used = {}, set()
        for name in checkpoint_names(a.model):
            p = param_for(model, params, name)
            if p is None:
                raise Failure(f"{a.model}: tensor {name} is no parameter of {type(model).__name__}")
            grads[name] = p.grad.detach().numpy().copy()
            used.add(id(p))
        left = [n for n, p in params.items() if id(p) not in used]
        if left:
            raise Failure(f"{a.model}: parameters with no tensor in the checkpoint: {', '.join(left)}")
        save_file(grads, a.grads, metadata={"loss": repr(loss.item()), "what": "d mean response-token NLL / d param"})
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(f"logprobs: {len(records)} records, {n_tok} response tokens, loss {loss.item():.6f} -> {a.out}"
          + (f", grads -> {a.grads}" if a.grads else ""))


def read_iopo_scores(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                r = json.loads(line)
                if "token_logps" not in r:
                    raise Failure(f"{path}: line {n}: no token_logps (run iopo score with --token-logps)")
                rows.append(r)
    return rows


def logp_error(x, ref):
    """Relative error for |ref| >= 1, absolute below (log-probs near 0 have no meaningful relative error)."""
    e = abs(x - ref) / max(abs(ref), 1.0)
    return math.inf if math.isnan(e) else e


def compare_logps(scores_path, ref_records, tol, what):
    rows = read_iopo_scores(scores_path)
    if len(rows) != len(ref_records):
        raise Failure(f"compare-logps: {scores_path} has {len(rows)} records, the reference {len(ref_records)}")
    worst_tok, worst_sum = (-1.0, None), (-1.0, None)
    for i, (r, ref) in enumerate(zip(rows, ref_records)):
        tl, rl = r["token_logps"], ref["token_logps"]
        if len(tl) != len(rl):
            raise Failure(f"compare-logps: record {i + 1}: iopo scored {len(tl)} response tokens,"
                          f" transformers {len(rl)}")
        for j, (x, y) in enumerate(zip(tl, rl)):
            e = logp_error(x, y)
            if e > worst_tok[0]:
                worst_tok = (e, (i + 1, j, x, y))
        e = logp_error(r["logps"]["response"], ref["logp"])
        if e > worst_sum[0]:
            worst_sum = (e, (i + 1, r["logps"]["response"], ref["logp"]))
    n_tok = sum(len(r["token_logps"]) for r in rows)
    (et, wt), (es, ws) = worst_tok, worst_sum
    print(f"{what}: per-token log-probs of {len(rows)} records ({n_tok} tokens), error |a-b|/max(|b|,1): worst {et:.3g}"
          + (f" (record {wt[0]} token {wt[1]}: iopo {wt[2]:.9g}, transformers {wt[3]:.9g})" if wt else "")
          + f"; summed: worst {es:.3g}" + (f" (record {ws[0]}: {ws[1]:.9g} vs {ws[2]:.9g})" if ws else "")
          + f"; tolerance {tol:g}")
    if not (et <= tol and es <= tol):
        raise Failure(f"{what}: log-probs differ beyond {tol:g}")


def cmd_compare_logps(a):
    with open(a.ref) as f:
        ref = json.load(f)["records"]
    compare_logps(a.scores, ref, a.tol, "compare-logps")


def cmd_compare_grads(a):
    import numpy as np
    from safetensors.numpy import load_file
    mine, ref = load_file(a.grads), load_file(a.ref)
    if a.strip_prefix:
        # Only while iopo names a family's gradients without the checkpoint's base-model prefix: said, not hidden.
        p = a.strip_prefix
        ref = {k[len(p):] if k.startswith(p) else k: v for k, v in ref.items()}
        print(f"compare-grads: NOTE: transformers' names taken without the prefix '{p}' (iopo drops it)")
    if set(mine) != set(ref):
        only_i, only_r = sorted(set(mine) - set(ref)), sorted(set(ref) - set(mine))
        raise Failure(f"compare-grads: names differ: only in iopo's {only_i[:6]}, only in transformers' {only_r[:6]}"
                      f" ({len(only_i)} and {len(only_r)})")
    worst, rows = (-1.0, ""), []
    for name in sorted(ref):
        g, r = mine[name].astype(np.float64), ref[name].astype(np.float64)
        if g.shape != r.shape:
            raise Failure(f"compare-grads: {name}: shape {g.shape} in iopo's, {r.shape} in transformers'")
        scale = float(np.abs(r).max())
        if scale == 0.0:
            raise Failure(f"compare-grads: {name}: transformers' gradient is all zero (the model is degenerate)")
        e = float(np.abs(g - r).max()) / scale
        e = math.inf if math.isnan(e) else e
        rows.append(e)
        if e > worst[0]:
            worst = (e, name)
    print(f"compare-grads: {len(ref)} tensors, error max|a-b| / max|b| per tensor: worst {worst[0]:.3g} ({worst[1]}),"
          f" median {sorted(rows)[len(rows) // 2]:.3g}; tolerance {a.tol:g}")
    if not worst[0] <= a.tol:
        raise Failure(f"compare-grads: {worst[1]} differs by {worst[0]:.3g} of its max-abs (tolerance {a.tol:g})")


# ---------------------------------------------------------------- check-load

def cmd_check_load(a):
    torch, transformers = torch_modules()
    model, info = load_model(torch, transformers, a.model, info=True)
    bad = {k: sorted(map(str, info.get(k) or [])) for k in ("missing_keys", "unexpected_keys", "mismatched_keys",
                                                             "error_msgs", "conversion_errors")}
    n_tensors = len(checkpoint_names(a.model))
    print(f"check-load: {a.model}: {type(model).__name__} from {n_tensors} tensors; "
          + ", ".join(f"{k} {len(v)}" for k, v in bad.items()))
    if any(bad.values()):
        raise Failure(f"check-load: {a.model}: " + "; ".join(f"{k}: {', '.join(v[:8])}" for k, v in bad.items() if v))
    if a.data or a.scores:
        if not (a.data and a.scores):
            raise Failure("check-load: --data and --scores go together")
        lps = response_logps(torch, model.double(), read_records(a.data))
        ref = [{"token_logps": lp.tolist(), "logp": lp.sum().item()} for lp in lps]
        compare_logps(a.scores, ref, a.tol, "check-load")


# ---------------------------------------------------------------- generate

def cmd_generate(a):
    torch, transformers = torch_modules()
    model, _ = load_model(torch, transformers, a.model)
    eos = model.generation_config.eos_token_id
    prompts = []
    with open(a.prompts) as f:
        for line in f:
            if line.strip():
                prompts.append(json.loads(line)["prompt_ids"])
    out = []
    for p in prompts:
        ids = torch.tensor([p])
        # fp32, as iopo computes; the smallest top-1/top-2 logit gap tells whether a mismatch could be a near-tie.
        g = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=a.max_new_tokens,
                           output_scores=True, return_dict_in_generate=True, pad_token_id=eos)
        new = g.sequences[0, len(p):].tolist()
        gaps = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in g.scores]
        stopped = bool(new) and eos is not None and new[-1] == eos
        out.append({"prompt_ids": p, "ids": new[:-1] if stopped else new, "eos": stopped,
                    "min_gap": min(gaps) if gaps else None})
    with open(a.out, "w") as f:
        json.dump(out, f)
    print(f"generate: {len(prompts)} prompts, greedy, up to {a.max_new_tokens} new tokens -> {a.out}")


def cmd_compare_gen(a):
    """iopo generate prints the prompt, its continuation and a newline; with the test's byte tokenizer (ids 0..255
    are the bytes) each output byte is one token id."""
    with open(a.ref) as f:
        ref = json.load(f)
    if len(ref) != len(a.iopo_outputs):
        raise Failure(f"compare-gen: {len(ref)} reference generations, {len(a.iopo_outputs)} iopo outputs")
    total = 0
    for i, (r, path) in enumerate(zip(ref, a.iopo_outputs)):
        with open(path, "rb") as f:
            text = f.read()
        prompt = bytes(r["prompt_ids"])
        if not text.startswith(prompt) or not text.endswith(b"\n"):
            raise Failure(f"compare-gen: {path}: does not start with the prompt and end with a newline")
        got = list(text[len(prompt):-1])
        want = r["ids"]
        if got != want:
            k = next((j for j in range(min(len(got), len(want))) if got[j] != want[j]), min(len(got), len(want)))
            raise Failure(f"compare-gen: prompt {i + 1}: iopo and transformers part at new token {k}: iopo"
                          f" {got[k:k + 5]}..., transformers {want[k:k + 5]}... (transformers' smallest top-2 logit"
                          f" gap {r['min_gap']:.3g})")
        total += len(want)
    gaps = [r["min_gap"] for r in ref if r["min_gap"] is not None]
    print(f"compare-gen: {len(ref)} prompts, {total} greedy tokens equal token for token"
          f" ({sum(r['eos'] for r in ref)} stopped at eos; smallest top-2 logit gap {min(gaps):.3g})")


# ---------------------------------------------------------------- command line

def parser():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--arch", required=True, choices=sorted(ARCH_CLASSES))
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    m.add_argument("--max-shard-size", default=None)
    m.add_argument("--tied", type=int, default=1, choices=[0, 1])
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--kv-heads", type=int, default=None)
    m.add_argument("--dim", type=int, default=32)
    m.add_argument("--head-dim", type=int, default=None)
    m.add_argument("--ffn", type=int, default=None)
    m.add_argument("--ctx", type=int, default=64)
    m.add_argument("--vocab", type=int, default=257)
    m.add_argument("--rope-theta", type=float, default=10000.0)
    m.add_argument("--rope-scaling", default="none", choices=["none", "llama3"])
    m.add_argument("--rope-original-ctx", type=int, default=16)
    m.add_argument("--legacy-rope-keys", action="store_true",
                   help="config.json with rope_theta/rope_scaling (as published checkpoints), not rope_parameters")
    m.add_argument("--byte-tokenizer", action="store_true", help="also write a tokenizer.json: id = byte (vocab 257)")
    m.add_argument("--std", type=float, default=0.15, help="std of the weight matrices (default 0.15)")
    m.set_defaults(fn=cmd_make)
    lp = sub.add_parser("logprobs")
    lp.add_argument("--model", required=True)
    lp.add_argument("--data", required=True)
    lp.add_argument("--out", required=True)
    lp.add_argument("--grads")
    lp.set_defaults(fn=cmd_logprobs)
    cl = sub.add_parser("check-load")
    cl.add_argument("--model", required=True)
    cl.add_argument("--data")
    cl.add_argument("--scores")
    cl.add_argument("--tol", type=float, default=1e-4)
    cl.set_defaults(fn=cmd_check_load)
    ge = sub.add_parser("generate")
    ge.add_argument("--model", required=True)
    ge.add_argument("--prompts", required=True)
    ge.add_argument("--max-new-tokens", type=int, required=True)
    ge.add_argument("--out", required=True)
    ge.set_defaults(fn=cmd_generate)
    cp = sub.add_parser("compare-logps")
    cp.add_argument("--scores", required=True)
    cp.add_argument("--ref", required=True)
    cp.add_argument("--tol", type=float, default=1e-4)
    cp.set_defaults(fn=cmd_compare_logps)
    cg = sub.add_parser("compare-grads")
    cg.add_argument("--grads", required=True)
    cg.add_argument("--ref", required=True)
    cg.add_argument("--tol", type=float, default=1e-3)
    cg.add_argument("--strip-prefix", default="")
    cg.set_defaults(fn=cmd_compare_grads)
    cn = sub.add_parser("compare-gen")
    cn.add_argument("--ref", required=True)
    cn.add_argument("--iopo-outputs", nargs="+", required=True)
    cn.set_defaults(fn=cmd_compare_gen)
    return ap


def main(argv):
    return run(argv, parser(), PROG)


def run(argv, ap, prog):
    """Runs the `::`-separated commands of argv with parser ap (every one parsed before the first runs)."""
    groups, cur = [], []
    for x in argv:
        if x == "::":
            groups.append(cur)
            cur = []
        else:
            cur.append(x)
    groups.append(cur)
    parsed = [ap.parse_args(g) for g in groups]
    status = 0
    for a in parsed:
        try:
            a.fn(a)
        except Failure as e:
            print(f"{prog}: {e}", file=sys.stderr)
            status = 1
        except OSError as e:
            print(f"{prog}: {a.cmd}: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
