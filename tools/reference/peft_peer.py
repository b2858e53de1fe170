#!/usr/bin/env python3
"""PyPI's peft as iopo's LoRA peer: makes PEFT adapters on transformers models, scores and differentiates base +
adapter, and loads the adapters iopo wrote, so that the tests hold iopo's LoRA against PEFT itself. Run with the
peer venv's python (tools/peer-venv.sh prints it); the models come from hf_peer.py make.

    peft_peer.py make --model BASE --out DIR --r R --alpha A --targets q_proj,v_proj [--rslora] [--seed N] [--std S]
    peft_peer.py logprobs --model BASE --adapter DIR --data FILE.jsonl --out FILE.json [--grads FILE.safetensors]
    peft_peer.py check-load --model BASE --adapter DIR --data FILE.jsonl --scores IOPO_SCORES.jsonl [--tol X]
    peft_peer.py merged --model BASE --adapter DIR --data FILE.jsonl --out FILE.json

make: PEFT's LoraConfig on the targets, then A and B drawn normal(0, std) (PEFT starts B at zero, which would make
every check trivial), saved with save_pretrained. logprobs: PeftModel.from_pretrained in float64, per-token
log-probs of the records' responses and, with --grads, the gradients of the mean response-token NLL with respect to
every adapter tensor under the names adapter_model.safetensors gives them. check-load: PeftModel loads DIR with
every adapter tensor used and none missing, and gives IOPO_SCORES' log-probs. merged: log-probs of
merge_and_unload(). Commands separated by `::` run in one process; exit status as hf_peer.py's.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_peer  # noqa: E402  (the shared model, record and comparison helpers)
from hf_peer import Failure  # noqa: E402

PROG = "peft_peer.py"


def peft_module():
    import peft
    return peft


def saved_name(param_name):
    """A PeftModel parameter name as adapter_model.safetensors writes it (without the adapter's name)."""
    return param_name.replace(".default.", ".")


def cmd_make(a):
    torch, transformers = hf_peer.torch_modules()
    peft = peft_module()
    model, _ = hf_peer.load_model(torch, transformers, a.model)
    cfg = peft.LoraConfig(r=a.r, lora_alpha=a.alpha, target_modules=a.targets.split(","), lora_dropout=0.0,
                          bias="none", task_type="CAUSAL_LM", use_rslora=bool(a.rslora),
                          fan_in_fan_out=model.config.model_type == "gpt2")
    pm = peft.get_peft_model(model, cfg)
    g = torch.Generator().manual_seed(a.seed)
    n = 0
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * a.std)
                n += 1
    pm.save_pretrained(a.out)
    print(f"make: {n} adapter tensors on {a.targets} (r {a.r}, alpha {a.alpha}) -> {a.out}")


def load_peft(torch, transformers, base, adapter, trainable=False):
    peft = peft_module()
    model, _ = hf_peer.load_model(torch, transformers, base)
    pm = peft.PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    return pm.eval()


def cmd_logprobs(a):
    torch, transformers = hf_peer.torch_modules()
    pm = load_peft(torch, transformers, a.model, a.adapter, trainable=bool(a.grads)).double()
    records = hf_peer.read_records(a.data)
    lps = hf_peer.response_logps(torch, pm, records)
    n_tok = sum(len(q) for _, q in records)
    loss = -sum(lp.sum() for lp in lps) / n_tok
    result = {"model": a.model, "adapter": a.adapter, "loss": loss.item(),
              "records": [{"token_logps": lp.tolist(), "logp": lp.sum().item(), "tokens": len(lp)} for lp in lps]}
    if a.grads:
        from safetensors.numpy import save_file
        loss.backward()
        grads = {saved_name(n): p.grad.detach().numpy().copy() for n, p in pm.named_parameters() if "lora_" in n}
        if not grads:
            raise Failure(f"{a.adapter}: no adapter parameters")
        save_file(grads, a.grads, metadata={"what": "d mean response-token NLL / d adapter tensor"})
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(f"logprobs: {len(records)} records through {a.model} + {a.adapter}, loss {loss.item():.6f} -> {a.out}")


def cmd_check_load(a):
    torch, transformers = hf_peer.torch_modules()
    from safetensors import safe_open
    pm = load_peft(torch, transformers, a.model, a.adapter)
    with safe_open(os.path.join(a.adapter, "adapter_model.safetensors"), "np") as st:
        in_file = set(st.keys())
    in_model = {saved_name(n) for n, _ in pm.named_parameters() if "lora_" in n}
    missing, unexpected = sorted(in_model - in_file), sorted(in_file - in_model)
    print(f"check-load: {a.adapter}: {len(in_file)} adapter tensors, missing {len(missing)}, unexpected "
          f"{len(unexpected)}")
    if missing or unexpected:
        raise Failure(f"check-load: {a.adapter}: missing {missing[:6]}, unexpected {unexpected[:6]}")
    lps = hf_peer.response_logps(torch, pm.double(), hf_peer.read_records(a.data))
    ref = [{"token_logps": lp.tolist(), "logp": lp.sum().item()} for lp in lps]
    hf_peer.compare_logps(a.scores, ref, a.tol, "check-load")


def cmd_merged(a):
    torch, transformers = hf_peer.torch_modules()
    merged = load_peft(torch, transformers, a.model, a.adapter).merge_and_unload().double()
    lps = hf_peer.response_logps(torch, merged, hf_peer.read_records(a.data))
    with open(a.out, "w") as f:
        json.dump({"records": [{"token_logps": lp.tolist(), "logp": lp.sum().item(), "tokens": len(lp)}
                               for lp in lps]}, f)
    print(f"merged: merge_and_unload of {a.model} + {a.adapter} -> {a.out}")


def parser():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--model", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--r", type=int, required=True)
    m.add_argument("--alpha", type=float, required=True)
    m.add_argument("--targets", required=True)
    m.add_argument("--rslora", type=int, default=0, choices=[0, 1])
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--std", type=float, default=0.2)
    m.set_defaults(fn=cmd_make)
    for name, fn in (("logprobs", cmd_logprobs), ("check-load", cmd_check_load), ("merged", cmd_merged)):
        c = sub.add_parser(name)
        c.add_argument("--model", required=True)
        c.add_argument("--adapter", required=True)
        c.add_argument("--data", required=True)
        if name == "check-load":
            c.add_argument("--scores", required=True)
            c.add_argument("--tol", type=float, default=1e-4)
        else:
            c.add_argument("--out", required=True)
        if name == "logprobs":
            c.add_argument("--grads")
        c.set_defaults(fn=fn)
    return ap


def main(argv):
    return hf_peer.run(argv, parser(), PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
