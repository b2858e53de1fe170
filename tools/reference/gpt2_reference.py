#!/usr/bin/python3
"""PyTorch reference for GPT-2 (Hugging Face GPT2LMHeadModel semantics) that iopo's C backends are checked against.

Modes (see tools/reference/README.md for the formats):
  --model DIR --batch batch.json --out out.safetensors [--adamw-steps K --lr ... --grad-clip C]
        [--objective sft|dpo|iopo --beta B --label-smoothing E --loss-type T --pref-ftx G --ref-logps FILE]
      logits, per-token losses, per-sequence log-probs, the mean loss (SFT, or DPO/IOPO through preference.py) and
      every parameter gradient, and optionally K AdamW steps on the same batch (losses, gradient norms, final
      parameters).
  --model DIR --adapter ADAPTER --batch batch.json --out out.safetensors
      the same with a PEFT LoRA adapter on the model (lora.py): SFT loss, gradients of the adapter tensors only.
  --init-model DIR --layers L --heads H --dim C --vocab V --ctx T --seed S [--init-style plain|hf]
      a tiny GPT-2 checkpoint with seeded random weights (every LayerNorm parameter and bias random too).
  --init-adapter DIR --model BASE --lora-r R --lora-alpha A --lora-targets q_proj,v_proj [--rslora 1] [--seed S]
      a PEFT LoRA adapter for BASE with seeded random A and B.
  --self-test
      checks this file against float64 finite differences, an independent loop implementation, per-sequence runs
      without padding and a hand-written AdamW.

Written without `transformers` or `safetensors` (not Debian packages): only Debian python3-torch (and its numpy).
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

import decoder_families as fam  # tools/reference/decoder_families.py: Llama, Qwen2, Qwen3
import families_selftest  # their self-test
import lora  # tools/reference/lora.py: PEFT LoRA adapters on every family
from preference import LOSS_TYPES, OBJECTIVES, Preference  # tools/reference/preference.py, next to this file

PARAM_SUFFIXES = (
    "ln_1.weight", "ln_1.bias",
    "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight", "ln_2.bias",
    "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight", "mlp.c_proj.bias",
)


class InputError(Exception):
    """Bad input file: reported as one line, exit status 1, never a traceback."""


# ---------------------------------------------------------------------------------------------------------------------
# safetensors

# Every dtype the format defines, so that a file holding tensors we ignore (buffers) still validates.
ST_DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
                 "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
ST_FLOAT_TORCH = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def _no_duplicate_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d


def st_read(path):
    """Validated lazy view of a safetensors file: {name: (dtype, shape, bytes)}."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError("%s: cannot read: %s" % (path, e.strerror))
    if len(data) < 8:
        raise InputError("%s: file is %d bytes, shorter than the 8-byte header length" % (path, len(data)))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise InputError("%s: header length %d at offset 0 exceeds the file (%d bytes)" % (path, n, len(data)))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("%s: header at offset 8 is not valid JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise InputError("%s: header at offset 8 is not a JSON object" % path)
    base, avail = 8 + n, len(data) - 8 - n
    spans, out = [], {}
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise InputError("%s: __metadata__ is not an object" % path)
            continue
        if not isinstance(info, dict):
            raise InputError("%s: tensor %r: entry is not an object" % (path, name))
        dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in ST_DTYPE_SIZE:
            raise InputError("%s: tensor %r: unknown dtype %r" % (path, name, dtype))
        if (not isinstance(shape, list) or
                not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise InputError("%s: tensor %r: shape %r is not a list of non-negative integers" % (path, name, shape))
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise InputError("%s: tensor %r: data_offsets %r is not [begin, end]" % (path, name, offs))
        b, e = offs
        if not 0 <= b <= e <= avail:
            raise InputError("%s: tensor %r: data_offsets [%d, %d] outside the %d data bytes" % (path, name, b, e, avail))
        numel = math.prod(shape)
        if e - b != numel * ST_DTYPE_SIZE[dtype]:
            raise InputError("%s: tensor %r: %d bytes at data offset %d, but shape %r of %s needs %d" %
                             (path, name, e - b, b, shape, dtype, numel * ST_DTYPE_SIZE[dtype]))
        spans.append((b, e, name))
        out[name] = (dtype, shape, data[base + b:base + e])
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise InputError("%s: tensors %r [%d, %d] and %r [%d, %d] overlap" % (path, n0, b0, e0, n1, b1, e1))
    return out


def st_tensor_f32(path, name, entry):
    dtype, shape, raw = entry
    if dtype not in ST_FLOAT_TORCH:
        raise InputError("%s: tensor %r has dtype %s; expected a floating-point type" % (path, name, dtype))
    if sys.byteorder != "little":
        raise InputError("%s: this script reads little-endian data only on little-endian hosts" % path)
    if len(raw) == 0:
        return torch.zeros(shape, dtype=torch.float32)
    t = torch.frombuffer(bytearray(raw), dtype=ST_FLOAT_TORCH[dtype]).reshape(shape)
    return t.to(torch.float32).clone()


def st_write(path, tensors, metadata=None):
    """Writes F32 tensors in the given order; the file is complete or absent (temp file + rename)."""
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous().cpu()
        raw = t.numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # data starts 8-byte aligned, as the reference writer does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------------
# model directory

class Config:
    family = "gpt2"

    def __init__(self, n_layer, n_head, n_embd, n_ctx, vocab_size, eps):
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd
        self.n_ctx, self.vocab_size, self.eps = n_ctx, vocab_size, eps


def param_shapes(cfg):
    """HF parameter names (no prefix) in HF order, with shapes. Conv1D weights are [in, out]."""
    if cfg.family != "gpt2":
        return fam.param_shapes(cfg)
    C, V = cfg.n_embd, cfg.vocab_size
    shapes = {"wte.weight": [V, C], "wpe.weight": [cfg.n_ctx, C]}
    per = {"ln_1.weight": [C], "ln_1.bias": [C], "attn.c_attn.weight": [C, 3 * C], "attn.c_attn.bias": [3 * C],
           "attn.c_proj.weight": [C, C], "attn.c_proj.bias": [C], "ln_2.weight": [C], "ln_2.bias": [C],
           "mlp.c_fc.weight": [C, 4 * C], "mlp.c_fc.bias": [4 * C], "mlp.c_proj.weight": [4 * C, C],
           "mlp.c_proj.bias": [C]}
    for i in range(cfg.n_layer):
        for s in PARAM_SUFFIXES:
            shapes["h.%d.%s" % (i, s)] = per[s]
    shapes["ln_f.weight"] = [C]
    shapes["ln_f.bias"] = [C]
    return shapes


def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path, "r", encoding="utf-8") as f:
            j = json.load(f)
    except OSError as e:
        raise InputError("%s: cannot read: %s" % (path, e.strerror))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("%s: not valid JSON: %s" % (path, e))
    if not isinstance(j, dict):
        raise InputError("%s: not a JSON object" % path)

    def pos_int(key, fallback=None):
        v = j.get(key, j.get(fallback) if fallback else None)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InputError("%s: %r must be a positive integer, got %r" % (path, key, v))
        return v

    if j.get("model_type") in fam.FAMILIES:
        def error(msg):
            raise InputError(msg)
        return fam.load_config(path, j, error)
    if j.get("model_type", "gpt2") != "gpt2":
        raise InputError("%s: model_type %r is not one of gpt2, %s" % (path, j.get("model_type"),
                                                                        ", ".join(fam.FAMILIES)))
    # gelu_pytorch_tanh is the same tanh formula as gelu_new.
    if j.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise InputError("%s: activation_function %r is not gelu_new" % (path, j.get("activation_function")))
    # Variants of GPT-2 that HF supports but this reference does not model: refuse rather than diverge silently.
    if j.get("scale_attn_weights", True) is not True or j.get("scale_attn_by_inverse_layer_idx", False) is not False:
        raise InputError("%s: only scale_attn_weights=true, scale_attn_by_inverse_layer_idx=false are supported" % path)
    if j.get("tie_word_embeddings", True) is not True:
        raise InputError("%s: tie_word_embeddings must be true for GPT-2" % path)
    eps = j.get("layer_norm_epsilon", 1e-5)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
        raise InputError("%s: layer_norm_epsilon must be a positive number, got %r" % (path, eps))
    cfg = Config(pos_int("n_layer"), pos_int("n_head"), pos_int("n_embd"), pos_int("n_positions", "n_ctx"),
                 pos_int("vocab_size"), float(eps))
    if cfg.n_embd % cfg.n_head:
        raise InputError("%s: n_embd %d is not a multiple of n_head %d" % (path, cfg.n_embd, cfg.n_head))
    if j.get("n_inner") is not None and j.get("n_inner") != 4 * cfg.n_embd:
        raise InputError("%s: n_inner %r differs from 4*n_embd" % (path, j.get("n_inner")))
    return cfg


def _ignored(cfg, name):
    if cfg.family != "gpt2":
        return fam.ignored(cfg, name)
    return name == "lm_head.weight" or name.endswith(".attn.bias") or name.endswith(".attn.masked_bias")


def load_params(model_dir, cfg):
    """Float32 parameters by HF name without prefix; shards via model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    files = {}
    if os.path.exists(single) or not os.path.exists(index):
        files[single] = st_read(single)
    else:
        try:
            with open(index, "r", encoding="utf-8") as f:
                wm = json.load(f)["weight_map"]
            shards = sorted(set(wm.values()))
        except OSError as e:
            raise InputError("%s: cannot read: %s" % (index, e.strerror))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError("%s: no valid weight_map: %s" % (index, e))
        for s in shards:
            if not isinstance(s, str) or "/" in s or s.startswith("."):
                raise InputError("%s: bad shard name %r" % (index, s))
            files[os.path.join(model_dir, s)] = st_read(os.path.join(model_dir, s))
    shapes = param_shapes(cfg)
    params = {}
    for path, entries in files.items():
        for raw_name, entry in entries.items():
            name = raw_name
            if cfg.family == "gpt2" and raw_name.startswith("transformer."):
                name = raw_name[len("transformer."):]
            if _ignored(cfg, name):
                continue
            if name not in shapes:
                raise InputError("%s: unexpected tensor %r for a %d-layer %s" % (path, raw_name, cfg.n_layer,
                                                                               cfg.family))
            if name in params:
                raise InputError("%s: tensor %r appears twice (with and without the transformer. prefix?)" %
                                 (path, raw_name))
            if list(entry[1]) != shapes[name]:
                raise InputError("%s: tensor %r has shape %r, expected %r" % (path, raw_name, entry[1], shapes[name]))
            t = st_tensor_f32(path, raw_name, entry)
            if not torch.isfinite(t).all():
                raise InputError("%s: tensor %r holds a NaN or infinity" % (path, raw_name))
            params[name] = t
    missing = [n for n in shapes if n not in params]
    if missing:
        raise InputError("%s: missing tensor %r (%d missing)" % (model_dir, missing[0], len(missing)))
    return {n: params[n] for n in shapes}


# ---------------------------------------------------------------------------------------------------------------------
# batch

class Batch:
    def __init__(self, input_ids, lengths, targets, mask):
        self.input_ids, self.lengths, self.targets, self.mask = input_ids, lengths, targets, mask


def load_batch(path, cfg):
    try:
        with open(path, "r", encoding="utf-8") as f:
            j = json.load(f)
    except OSError as e:
        raise InputError("%s: cannot read: %s" % (path, e.strerror))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("%s: not valid JSON: %s" % (path, e))
    if not isinstance(j, dict):
        raise InputError("%s: not a JSON object" % path)
    for k in ("input_ids", "lengths", "targets", "mask"):
        if k not in j:
            raise InputError("%s: missing key %r" % (path, k))

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    ids, lengths, targets, mask = j["input_ids"], j["lengths"], j["targets"], j["mask"]
    if not isinstance(ids, list) or not ids or not all(isinstance(r, list) for r in ids):
        raise InputError("%s: input_ids must be a non-empty list of rows" % path)
    B, T = len(ids), len(ids[0])
    if T == 0:
        raise InputError("%s: input_ids rows are empty" % path)
    if T > cfg.n_ctx:
        raise InputError("%s: rows of %d tokens exceed n_positions %d" % (path, T, cfg.n_ctx))
    if not isinstance(lengths, list) or len(lengths) != B:
        raise InputError("%s: lengths must list %d integers" % (path, B))
    for key, rows in (("input_ids", ids), ("targets", targets), ("mask", mask)):
        if not isinstance(rows, list) or len(rows) != B:
            raise InputError("%s: %s must have %d rows" % (path, key, B))
        for b, r in enumerate(rows):
            if not isinstance(r, list) or len(r) != T:
                raise InputError("%s: %s[%d] must be a list of %d values" % (path, key, b, T))
            for t, v in enumerate(r):
                if not (is_num(v) if key == "mask" else is_int(v)):
                    raise InputError("%s: %s[%d][%d] = %r is not %s" %
                                     (path, key, b, t, v, "a finite number" if key == "mask" else "an integer"))
    total = 0.0
    for b in range(B):
        L = lengths[b]
        if not is_int(L) or not 0 <= L <= T:
            raise InputError("%s: lengths[%d] = %r is not an integer in [0, %d]" % (path, b, L, T))
        for t in range(T):
            # Padding tokens still go through the embedding lookup (their outputs are discarded), so they must be ids.
            if not 0 <= ids[b][t] < cfg.vocab_size:
                raise InputError("%s: input_ids[%d][%d] = %d outside the vocabulary [0, %d)" %
                                 (path, b, t, ids[b][t], cfg.vocab_size))
            if mask[b][t] != 0:
                if t >= L:
                    raise InputError("%s: mask[%d][%d] is nonzero at a padded position (length %d)" % (path, b, t, L))
                if not 0 <= targets[b][t] < cfg.vocab_size:
                    raise InputError("%s: targets[%d][%d] = %d outside the vocabulary where mask is nonzero" %
                                     (path, b, t, targets[b][t]))
            total += mask[b][t]
    if total == 0:
        raise InputError("%s: mask sums to zero: the mean loss is undefined" % path)
    m = torch.tensor(mask, dtype=torch.float32)
    tg = torch.tensor(targets, dtype=torch.long)
    tg = torch.where(m != 0, tg, torch.zeros_like(tg))  # never index with -100
    return Batch(torch.tensor(ids, dtype=torch.long), torch.tensor(lengths, dtype=torch.long), tg, m)


# ---------------------------------------------------------------------------------------------------------------------
# model

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(p, cfg, input_ids, lengths):
    """Logits (B, T, V) in the dtype of the parameters."""
    if cfg.family != "gpt2":
        return fam.forward(p, cfg, input_ids, lengths)
    B, T = input_ids.shape
    C, H = cfg.n_embd, cfg.n_head
    hd = C // H
    pos = torch.arange(T)
    x = p["wte.weight"][input_ids] + p["wpe.weight"][:T].unsqueeze(0)
    # key s visible to query t iff s <= t and s < length
    allowed = (pos[None, None, :] <= pos[None, :, None]) & (pos[None, None, :] < lengths[:, None, None])
    allowed = allowed.unsqueeze(1)  # (B, 1, T, T)
    qvalid = (pos[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
    # A finite fill (as HF uses finfo.min) keeps all-masked rows (length-0 sequences) NaN-free in both directions.
    neg = torch.finfo(x.dtype).min
    for i in range(cfg.n_layer):
        pre = "h.%d." % i

        def conv(h, name):  # a Conv1D layer (weight [in, out]) with its LoRA adapter, if any
            return lora.add(h @ p[pre + name + ".weight"] + p[pre + name + ".bias"], h, p, cfg, pre + name + ".weight")

        h = F.layer_norm(x, (C,), p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], cfg.eps)
        qkv = conv(h, "attn.c_attn")
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in qkv.split(C, dim=2))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~allowed, neg)
        a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        a = torch.where(qvalid, a, torch.zeros_like(a))  # padded query rows output zeros, as the C backends do
        x = x + conv(a, "attn.c_proj")
        h = F.layer_norm(x, (C,), p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], cfg.eps)
        u = gelu_new(conv(h, "mlp.c_fc"))
        x = x + conv(u, "mlp.c_proj")
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], cfg.eps)
    return x @ p["wte.weight"].t()


def losses(logits, batch):
    """token_loss (B,T) = mask*CE, seq_logp (B) = sum mask*log p, seq_count (B), loss = sum token_loss / sum mask."""
    m = batch.mask.to(logits.dtype)
    lp = F.log_softmax(logits, dim=-1).gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
    on = m != 0
    token_loss = torch.where(on, -lp * m, torch.zeros_like(lp))
    seq_logp = torch.where(on, lp * m, torch.zeros_like(lp)).sum(dim=1)
    seq_count = m.sum(dim=1)
    loss = token_loss.sum() / m.sum()
    return token_loss, seq_logp, seq_count, loss


def load_adapter(adapter_dir, cfg):
    """The PEFT adapter in adapter_dir for this model (tools/reference/lora.py)."""
    def error(msg):
        raise InputError(msg)
    return lora.load(adapter_dir, cfg, param_shapes(cfg), error, st_read, st_tensor_f32)


def init_adapter(adapter_dir, model_dir, r, alpha, rslora, targets, seed, std):
    """A random PEFT adapter for the model in model_dir, checked by loading it back."""
    cfg = load_config(model_dir)
    shapes = param_shapes(cfg)
    mods = lora.linear_modules(cfg, shapes)
    for t in targets:
        if not any(lora.selects(t, p) for p in mods):
            raise InputError("%s: target module %r matches no linear layer of the %s blocks" % (model_dir, t,
                                                                                              cfg.family))
    conf = lora.config_json(r, alpha, rslora, targets, cfg.family == "gpt2", os.path.abspath(model_dir))
    tensors = lora.random_tensors(cfg, shapes, r, targets, seed, std)
    try:
        lora.write(adapter_dir, conf, tensors, st_write)
    except OSError as e:
        raise InputError("%s: cannot write the adapter: %s" % (adapter_dir, e))
    load_adapter(adapter_dir, cfg)   # what was written reads back
    return len(tensors)


def leaf_params(params, dtype):
    return {n: t.detach().to(dtype).clone().requires_grad_(True) for n, t in params.items()}


def forward_backward(params, cfg, batch, objective=None, info=None):
    """Without an objective the loss is the SFT mean; with one (a callable of seq_logp and seq_count, see
    preference_objective) it is what that returns, and `info` receives its other outputs and dseq_logp."""
    logits = forward(params, cfg, batch.input_ids, batch.lengths)
    token_loss, seq_logp, seq_count, loss = losses(logits, batch)
    res = None
    if objective is not None:
        seq_logp.retain_grad()
        res = objective(seq_logp, seq_count)
        loss = res["loss"]
    for t in params.values():
        t.grad = None
    loss.backward()
    if info is not None and res is not None:
        info.update(res)
        info["dseq_logp"] = seq_logp.grad.detach().clone()
    return logits, token_loss, seq_logp, seq_count, loss


def seq_logps_no_grad(params, cfg, batch):
    """Per-sequence log-probs at the given weights, the reference model's role in DPO/IOPO."""
    with torch.no_grad():
        return losses(forward(params, cfg, batch.input_ids, batch.lengths), batch)[1].detach().clone()


def preference_objective(pref, ref_logp):
    """Binds the fixed reference log-probs, so the optimizer loops can re-evaluate the objective at new weights."""
    return lambda seq_logp, seq_count: pref(seq_logp, seq_count, ref_logp)


def total_grad_norm(params):
    """The same reduction clip_grad_norm_ performs: 2-norm of the per-tensor 2-norms."""
    return torch.norm(torch.stack([torch.norm(t.grad.detach(), 2.0) for t in params.values()]), 2.0)


def run_adamw(params, cfg, batch, steps, lr, beta1, beta2, eps, weight_decay, grad_clip, objective=None):
    decay = [t for t in params.values() if t.dim() == 2]
    no_decay = [t for t in params.values() if t.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(beta1, beta2), eps=eps, amsgrad=False, maximize=False, foreach=False)
    step_losses, norms = [], []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        _, _, _, _, loss = forward_backward(params, cfg, batch, objective)
        if grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(list(params.values()), grad_clip)
        else:
            norm = total_grad_norm(params)
        step_losses.append(loss.item())
        norms.append(norm.item())
        opt.step()
    return step_losses, norms


def load_ref_logps(path, n_rows):
    try:
        with open(path, "r", encoding="utf-8") as f:
            j = json.load(f)
    except OSError as e:
        raise InputError("%s: cannot read: %s" % (path, e.strerror))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("%s: not valid JSON: %s" % (path, e))
    if not isinstance(j, list) or len(j) != n_rows:
        raise InputError("%s: must be a JSON list of %d numbers (one per batch row), got %s" %
                         (path, n_rows, "%d entries" % len(j) if isinstance(j, list) else type(j).__name__))
    for i, v in enumerate(j):
        # json accepts NaN and Infinity; a log-prob must be neither.
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise InputError("%s: entry %d = %r is not a finite number" % (path, i, v))
    return torch.tensor(j, dtype=torch.float64).to(torch.float32)


def check_preference_batch(pref, batch, batch_path):
    B = batch.input_ids.shape[0]
    if B % pref.group:
        layout = "(chosen, rejected)" if pref.objective == "dpo" else "(x1,y1), (x1,y2), (x2,y2), (x2,y1)"
        raise InputError("%s: %d rows; %s needs a multiple of %d, rows %s per example" %
                         (batch_path, B, pref.objective, pref.group, layout))
    count = batch.mask.sum(dim=1)
    for r in pref.ftx_rows(B):
        if not float(count[r]) > 0:
            raise InputError("%s: row %d (example %d) has mask sum %g, but --pref-ftx divides by it" %
                             (batch_path, r, r // pref.group, float(count[r])))


def reference(model_dir, batch_path, out_path, args):
    cfg = load_config(model_dir)
    batch = load_batch(batch_path, cfg)
    pref = getattr(args, "pref", None)
    if pref is not None:
        check_preference_batch(pref, batch, batch_path)
    params = leaf_params(load_params(model_dir, cfg), torch.float32)
    if getattr(args, "adapter", None):
        cfg.lora = load_adapter(args.adapter, cfg)
        for t in params.values():  # the base is frozen: only the adapters get gradients
            t.requires_grad_(False)
        params.update(leaf_params(cfg.lora.tensors, torch.float32))
    objective, info = None, {}
    if pref is not None:
        if args.ref_logps:
            ref_logp = load_ref_logps(args.ref_logps, batch.input_ids.shape[0])
        else:
            ref_logp = seq_logps_no_grad(params, cfg, batch)  # frozen copy of the initial weights
        objective = preference_objective(pref, ref_logp)
    logits, token_loss, seq_logp, seq_count, loss = forward_backward(params, cfg, batch, objective, info)
    out = {"logits": logits, "token_loss": token_loss, "seq_logp": seq_logp, "seq_count": seq_count,
           "loss": loss.reshape(1)}
    metrics = None
    if pref is not None:
        out.update({"example_loss": info["example_loss"], "pref_z": info["z"], "ref_logp": ref_logp,
                    "dseq_logp": info["dseq_logp"],
                    "metrics": torch.stack([info["metrics"][k] for k in pref.metric_names]).to(torch.float32)})
        # The JSON holds exactly the float32 values of the tensor, so either can be compared against.
        metrics = {k: float(v) for k, v in zip(pref.metric_names, out["metrics"].tolist())}
    for n, t in params.items():
        if t.requires_grad:
            out["grad." + n] = t.grad.clone()
    if args.adamw_steps > 0:
        step_losses, norms = run_adamw(params, cfg, batch, args.adamw_steps, args.lr, args.beta1, args.beta2,
                                       args.eps, args.weight_decay, args.grad_clip, objective)
        out["adamw_losses"] = torch.tensor(step_losses, dtype=torch.float32)
        out["adamw_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
        for n, t in params.items():
            out["param." + n] = t.detach().clone()
    meta = {"tool": "gpt2_reference.py", "torch": torch.__version__}
    if getattr(cfg, "lora", None):
        meta.update(adapter=args.adapter, lora_r=cfg.lora.r, lora_alpha=repr(cfg.lora.alpha),
                    use_rslora=cfg.lora.rslora, lora_scale=repr(cfg.lora.scale))
    if args.adamw_steps > 0:
        meta.update(adamw_steps=args.adamw_steps, lr=repr(args.lr), beta1=repr(args.beta1), beta2=repr(args.beta2),
                    eps=repr(args.eps), weight_decay=repr(args.weight_decay), grad_clip=repr(args.grad_clip))
    mpath = out_path + ".metrics.json"
    if pref is not None:
        meta.update(objective=pref.objective, beta=repr(pref.beta), label_smoothing=repr(pref.eps),
                    pref_ftx=repr(pref.ftx), ref_logps=args.ref_logps or "initial weights",
                    metrics=",".join(pref.metric_names))
        if pref.objective == "dpo":
            meta["loss_type"] = pref.loss_type
        try:
            with open(mpath + ".tmp", "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=1)
                f.write("\n")
            os.replace(mpath + ".tmp", mpath)
        except OSError as e:
            raise InputError("%s: cannot write: %s" % (mpath, e.strerror))
    try:
        st_write(out_path, out, meta)
    except OSError as e:
        if pref is not None:  # no metrics without the tensors they describe
            try:
                os.unlink(mpath)
            except OSError:
                pass
        raise InputError("%s: cannot write: %s" % (out_path, e.strerror))


# ---------------------------------------------------------------------------------------------------------------------
# tiny random checkpoints

def random_params(cfg, seed):
    """Seeded random weights; LayerNorm parameters and biases are far from their usual 1/0 so their gradients and
    their effect on the forward pass are tested too."""
    if cfg.family != "gpt2":
        return fam.random_params(cfg, seed)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in param_shapes(cfg).items():
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            out[name] = 1.0 + 0.1 * z
        elif name.endswith(".bias"):
            out[name] = 0.1 * z if ".ln_" in name or name.startswith("ln_") else 0.05 * z
        else:
            out[name] = 0.02 * z
    return out


def init_model(model_dir, cfg, seed, style):
    params = random_params(cfg, seed)
    os.makedirs(model_dir, exist_ok=True)
    if cfg.family != "gpt2":
        fam.write_config(model_dir, cfg)
        st_write(os.path.join(model_dir, "model.safetensors"), params, {"format": "pt"})
        return
    conf = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
            "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd, "n_positions": cfg.n_ctx,
            "n_ctx": cfg.n_ctx, "vocab_size": cfg.vocab_size, "layer_norm_epsilon": cfg.eps, "n_inner": None,
            "bos_token_id": cfg.vocab_size - 1, "eos_token_id": cfg.vocab_size - 1, "tie_word_embeddings": True,
            "torch_dtype": "float32"}
    tensors = params
    if style == "hf":
        # What a save_pretrained() of GPT2LMHeadModel from older transformers looks like: prefixed names, the causal
        # mask buffers and an explicit copy of the tied head, all of which a loader must accept and ignore.
        tensors = {"transformer." + n: t for n, t in params.items()}
        tril = torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx)).reshape(1, 1, cfg.n_ctx, cfg.n_ctx)
        for i in range(cfg.n_layer):
            tensors["transformer.h.%d.attn.bias" % i] = tril
            tensors["transformer.h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
        tensors["lm_head.weight"] = params["wte.weight"]
    tmp = os.path.join(model_dir, "config.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(model_dir, "config.json"))
    st_write(os.path.join(model_dir, "model.safetensors"), tensors, {"format": "pt"})


# ---------------------------------------------------------------------------------------------------------------------
# self-test

def loop_forward(p, cfg, ids, L):
    """Independent float64 implementation of one right-padded sequence: explicit loops over tokens and heads,
    LayerNorm and GELU written out; shares no code with forward(). Rows t >= L follow the padding convention: their
    attention output is zero, so only c_proj's bias reaches the residual there."""
    C, H = cfg.n_embd, cfg.n_head
    hd = C // H
    T = len(ids)

    def ln(v, w, b):
        mu = sum(v.tolist()) / C
        var = sum((e - mu) ** 2 for e in v.tolist()) / C
        return (v - mu) / math.sqrt(var + cfg.eps) * w + b

    def gelu(u):
        return torch.tensor([0.5 * e * (1 + math.tanh(math.sqrt(2 / math.pi) * (e + 0.044715 * e ** 3)))
                             for e in u.tolist()], dtype=torch.float64)

    x = [p["wte.weight"][ids[t]] + p["wpe.weight"][t] for t in range(T)]
    for i in range(cfg.n_layer):
        g = lambda s: p["h.%d.%s" % (i, s)]
        qkv = [torch.mv(g("attn.c_attn.weight").t(), ln(x[t], g("ln_1.weight"), g("ln_1.bias"))) +
               g("attn.c_attn.bias") for t in range(T)]
        new = []
        for t in range(T):
            heads = []
            for hh in range(H):
                if t >= L:
                    heads.append(torch.zeros(hd, dtype=torch.float64))
                    continue
                q = qkv[t][hh * hd:(hh + 1) * hd]
                sc = [float(torch.dot(q, qkv[s][C + hh * hd:C + (hh + 1) * hd])) / math.sqrt(hd) for s in range(t + 1)]
                mx = max(sc)
                w = [math.exp(e - mx) for e in sc]
                z = sum(w)
                o = sum(w[s] / z * qkv[s][2 * C + hh * hd:2 * C + (hh + 1) * hd] for s in range(t + 1))
                heads.append(o)
            new.append(x[t] + torch.mv(g("attn.c_proj.weight").t(), torch.cat(heads)) + g("attn.c_proj.bias"))
        x = new
        for t in range(T):
            u = gelu(torch.mv(g("mlp.c_fc.weight").t(), ln(x[t], g("ln_2.weight"), g("ln_2.bias"))) + g("mlp.c_fc.bias"))
            x[t] = x[t] + torch.mv(g("mlp.c_proj.weight").t(), u) + g("mlp.c_proj.bias")
    return torch.stack([torch.mv(p["wte.weight"], ln(x[t], p["ln_f.weight"], p["ln_f.bias"])) for t in range(T)])


def manual_adamw(params, cfg, batch, steps, lr, b1, b2, eps, wd, clip, objective=None):
    """AdamW + clipping written out (the formulas the C optimizer implements), float64."""
    p = {n: t.detach().to(torch.float64).clone() for n, t in params.items()}
    m = {n: torch.zeros_like(t) for n, t in p.items()}
    v = {n: torch.zeros_like(t) for n, t in p.items()}
    step_losses, norms = [], []
    for k in range(1, steps + 1):
        q = leaf_params(p, torch.float64)
        _, _, _, _, loss = forward_backward(q, cfg, batch, objective)
        grads = {n: t.grad.detach() for n, t in q.items()}
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
        scale = min(1.0, clip / (norm + 1e-6)) if clip > 0 else 1.0
        step_losses.append(loss.item())
        norms.append(norm)
        for n in p:
            g = grads[n] * scale
            decay = wd if p[n].dim() == 2 else 0.0
            m[n] = b1 * m[n] + (1 - b1) * g
            v[n] = b2 * v[n] + (1 - b2) * g * g
            mhat_step = lr / (1 - b1 ** k)
            denom = v[n].sqrt() / math.sqrt(1 - b2 ** k) + eps
            p[n] = p[n] * (1 - lr * decay) - mhat_step * m[n] / denom
    return step_losses, norms, p


def _logsig(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def hand_preference(objective, loss_type, beta, eps, ftx, lp, ref, n):
    """REFERENCE.md §1 written out on Python floats, one example at a time, sharing nothing with preference.py:
    per-example losses, z, Pi1/Pi2 (IOPO), d(mean loss)/d lp (derived by hand) and the metrics."""
    g = 2 if objective == "dpo" else 4
    E = len(lp) // g
    ex, zs, pis, d = [], [], [], [0.0] * len(lp)
    rw_cols = [[] for _ in range(g)]
    for e in range(E):
        r = [lp[e * g + i] - ref[e * g + i] for i in range(g)]
        if objective == "dpo":
            z, dz, sft_rows = r[0] - r[1], (1.0, -1.0), (0,)
        else:  # rows (x1,y1), (x1,y2), (x2,y2), (x2,y1)
            pi1 = 2 * r[0] - r[1] - r[3]
            pi2 = 2 * r[2] - r[3] - r[1]
            z, dz, sft_rows = 0.5 * (pi1 + pi2), (1.0, -1.0, 1.0, -1.0), (0, 2)
            pis.append((pi1, pi2))
        bz = beta * z
        if loss_type == "sigmoid":
            loss = -(1 - eps) * _logsig(bz) - eps * _logsig(-bz)
            dl = -(1 - eps) * beta * _sig(-bz) + eps * beta * _sig(bz)
        elif loss_type == "robust":
            loss = (-(1 - eps) * _logsig(bz) + eps * _logsig(-bz)) / (1 - 2 * eps)
            dl = (-(1 - eps) * beta * _sig(-bz) - eps * beta * _sig(bz)) / (1 - 2 * eps)
        elif loss_type == "ipo":
            loss, dl = (z - 1 / (2 * beta)) ** 2, 2 * (z - 1 / (2 * beta))
        else:
            loss, dl = max(0.0, 1 - bz), (-beta if 1 - bz > 0 else 0.0)
        for i in range(g):
            d[e * g + i] += dl * dz[i] / E
            rw_cols[i].append(beta * r[i])
        for i in sft_rows:
            if ftx:
                loss += ftx * (-lp[e * g + i] / n[e * g + i])
                d[e * g + i] += -ftx / n[e * g + i] / E
        ex.append(loss)
        zs.append(z)
    mean = lambda v: sum(v) / len(v)
    col = lambda seq, i: [seq[e * g + i] for e in range(E)]
    rc = rw_cols
    if objective == "dpo":
        met = [mean(rc[0]), mean(rc[1]), mean([a - b for a, b in zip(rc[0], rc[1])]),
               mean([1.0 if a > b else 0.0 for a, b in zip(rc[0], rc[1])]), mean(col(lp, 0)), mean(col(lp, 1))]
    else:
        met = [mean(rc[0]), mean(rc[1]), mean(rc[2]), mean(rc[3]),
               mean([a - b for a, b in zip(rc[0], rc[1])]), mean([a - b for a, b in zip(rc[2], rc[3])]),
               mean([1.0 if a > b else 0.0 for a, b in zip(rc[0], rc[1])]),
               mean([1.0 if a > b else 0.0 for a, b in zip(rc[2], rc[3])])]
        met += [mean(col(lp, i)) for i in range(4)] + [mean(col(ref, i)) for i in range(4)]
    return {"loss": mean(ex), "example_loss": ex, "z": zs, "pis": pis, "dseq_logp": d, "metrics": met}


def self_test_preference(check, maxdiff, cfg, base, g):
    import contextlib
    import io
    import tempfile

    def rel(a, b):
        a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
        b = torch.as_tensor(b, dtype=torch.float64).reshape(-1)
        return float(((a - b).abs() / (1.0 + b.abs())).max())

    def compare(pref, lp, ref, n):
        """Implementation vs hand formulas on float64 log-probs; the worst relative difference of any output."""
        sl = lp.clone().requires_grad_(True)
        res = pref(sl, n, ref)
        res["loss"].backward()
        h = hand_preference(pref.objective, pref.loss_type, pref.beta, pref.eps, pref.ftx, lp.tolist(),
                            ref.tolist(), n.tolist())
        got_m = [float(res["metrics"][k]) for k in pref.metric_names]
        return max(rel(res["loss"].item(), h["loss"]), rel(res["example_loss"], h["example_loss"]),
                   rel(res["z"], h["z"]), rel(sl.grad, h["dseq_logp"]), rel(got_m, h["metrics"])), res, h

    # 11. The objectives on given log-probs against the hand formulas: value, per-example loss, z, metrics and the
    # gradient with respect to seq_logp (autograd vs the derivative written out).
    E = 6
    cases = [("dpo", "sigmoid", 0.1, 0.0, 0.0), ("dpo", "sigmoid", 0.1, 0.2, 0.0), ("dpo", "sigmoid", 0.3, 0.1, 0.7),
             ("dpo", "ipo", 0.1, 0.0, 0.0), ("dpo", "ipo", 0.5, 0.0, 0.3), ("dpo", "hinge", 0.1, 0.0, 0.0),
             ("dpo", "hinge", 0.5, 0.0, 0.4), ("dpo", "robust", 0.1, 0.1, 0.0), ("dpo", "robust", 0.2, 0.3, 0.5),
             ("iopo", "sigmoid", 0.1, 0.0, 0.0), ("iopo", "sigmoid", 0.1, 0.25, 0.0),
             ("iopo", "sigmoid", 0.3, 0.1, 0.7)]
    data = {}
    for obj, k in (("dpo", 2), ("iopo", 4)):
        lp = -5 - 35 * torch.rand(E * k, generator=g, dtype=torch.float64)
        ref = -5 - 35 * torch.rand(E * k, generator=g, dtype=torch.float64)
        n = torch.randint(1, 20, (E * k,), generator=g).to(torch.float64)
        data[obj] = (lp, ref, n)
    hinge_sides = set()
    for obj, lt, beta, eps, ftx in cases:
        pref = Preference(obj, beta, eps, lt, ftx)
        assert pref.problem() is None, pref.problem()
        worst, res, h = compare(pref, *data[obj])
        if lt == "hinge":
            hinge_sides |= {1 - beta * z > 0 for z in h["z"]}
        check("%s %s beta %g eps %g ftx %g == hand formulas" %
              (obj, lt, beta, eps, ftx), worst < 1e-12, "rel %.1e" % worst)
    check("hinge cases cover both sides of the kink", hinge_sides == {True, False})
    # the DPO data has examples won and lost, so accuracies and the sigmoid's two tails are exercised
    zd = hand_preference("dpo", "sigmoid", 0.1, 0, 0, *[t.tolist() for t in data["dpo"]])["z"]
    check("DPO test data has margins of both signs", min(zd) < -10 and max(zd) > 10)

    # IOPO z: 0.5 * (Pi1 + Pi2) as the hand formula builds it, and the algebraic four-term form.
    lp, ref, n = data["iopo"]
    pref = Preference("iopo", 0.1, 0.0, "sigmoid", 0.0)
    res = pref(lp, n, ref)
    h = hand_preference("iopo", "sigmoid", 0.1, 0.0, 0.0, lp.tolist(), ref.tolist(), n.tolist())
    r = (lp - ref).view(E, 4)
    four = r[:, 0] + r[:, 2] - r[:, 1] - r[:, 3]
    half = [0.5 * (a + b) for a, b in h["pis"]]
    check("IOPO z == 0.5*(Pi1 + Pi2) == rho11 + rho22 - rho12 - rho21", rel(res["z"], half) < 1e-13 and
          rel(res["z"], four) < 1e-13 and max(abs(a - b) for a, b in h["pis"]) > 1,
          "rel %.1e, %.1e" % (rel(res["z"], half), rel(res["z"], four)))

    # 12. Through the model: gradients of the mean preference loss against finite differences (float64), and the
    # dseq_logp it reports against the hand derivative at the model's own log-probs.
    B, T = 8, 9
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    lengths = torch.randint(4, T + 1, (B,), generator=g)
    targets = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T)
    for b in range(B):
        P = 1 + b % 3
        for t in range(T):
            if P <= t + 1 < int(lengths[b]):
                targets[b, t] = ids[b, t + 1]
                mask[b, t] = 1.0
    pbatch = Batch(ids, lengths, targets, mask)
    p64 = leaf_params(base, torch.float64)
    ref64 = seq_logps_no_grad(p64, cfg, pbatch) + 4 * torch.randn(B, generator=g, dtype=torch.float64)
    for pref in (Preference("dpo", 0.2, 0.1, "sigmoid", 0.5), Preference("iopo", 0.2, 0.1, "sigmoid", 0.5)):
        obj = preference_objective(pref, ref64)
        q = leaf_params(base, torch.float64)
        info = {}
        _, _, sl, sc, _ = forward_backward(q, cfg, pbatch, obj, info)
        h = hand_preference(pref.objective, "sigmoid", 0.2, 0.1, 0.5, sl.tolist(), ref64.tolist(), sc.tolist())
        check("%s: dseq_logp at the model's log-probs == hand derivative" % pref.objective,
              rel(info["dseq_logp"], h["dseq_logp"]) < 1e-12 and rel(info["loss"].item(), h["loss"]) < 1e-12)

        def loss_at(pp):
            with torch.no_grad():
                _, s, c, _ = losses(forward(pp, cfg, pbatch.input_ids, pbatch.lengths), pbatch)
                return obj(s, c)["loss"].item()

        worst, n_checked, hh = 0.0, 0, 1e-6
        probe = {nm: t.detach().clone() for nm, t in q.items()}
        for name, t in probe.items():
            flat = t.view(-1)
            picks = torch.randperm(flat.numel(), generator=g)[:1].tolist()
            if name == "wte.weight":
                picks.append(int(pbatch.targets[0, 3]) * cfg.n_embd + 2)
            for j in picks:
                old = float(flat[j])
                flat[j] = old + hh
                fp = loss_at(probe)
                flat[j] = old - hh
                fm = loss_at(probe)
                flat[j] = old
                fd = (fp - fm) / (2 * hh)
                ag = float(q[name].grad.view(-1)[j])
                err = abs(fd - ag) / (1e-8 + 1e-5 * abs(ag))
                worst = max(worst, err)
                n_checked += 1
                if err > 1:
                    print("    %s[%d]: autograd %.10g, finite difference %.10g" % (name, j, ag, fd))
        check("%s: gradients == finite differences (%d entries)" % (pref.objective, n_checked), worst <= 1,
              "worst err %.2f of tolerance" % worst)

        # 13. AdamW on the preference loss: torch == written out, reference log-probs fixed, loss falls.
        hp = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
        pa = leaf_params(base, torch.float64)
        sl_t, nm_t = run_adamw(pa, cfg, pbatch, 3, grad_clip=0.05, objective=obj, **hp)
        sl_m, nm_m, pm = manual_adamw(base, cfg, pbatch, 3, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"],
                                      hp["weight_decay"], 0.05, obj)
        d = max(maxdiff(pa[nm], pm[nm]) for nm in pa)
        ok = d < 1e-12 and max(abs(a - b) for a, b in zip(sl_t + nm_t, sl_m + nm_m)) < 1e-12
        check("%s: AdamW == written-out AdamW; loss falls" % pref.objective, ok and sl_t[-1] < sl_t[0],
              "losses %s" % ", ".join("%.4f" % x for x in sl_t))

    # 14. The command line end to end (float32): outputs, side file, the reference computed at the initial weights
    # and held fixed across AdamW steps, and refusals.
    with tempfile.TemporaryDirectory() as tmp:
        md = os.path.join(tmp, "m")
        init_model(md, cfg, 5, "plain")
        bpath = os.path.join(tmp, "batch.json")
        with open(bpath, "w") as f:
            json.dump({"input_ids": ids.tolist(), "lengths": lengths.tolist(), "targets": targets.tolist(),
                       "mask": mask.tolist()}, f)

        def run(*extra, out="o.safetensors", batch_file=bpath):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    rc = main(["--model", md, "--batch", batch_file, "--out", os.path.join(tmp, out)] + list(extra))
                except SystemExit as e:
                    rc = e.code
            return rc, err.getvalue().strip()

        def read(out):
            path = os.path.join(tmp, out)
            return {k: st_tensor_f32(path, k, v) for k, v in st_read(path).items()}

        rc, _ = run("--objective", "dpo", "--adamw-steps", "3", "--lr", "1e-2", out="dpo.safetensors")
        o = read("dpo.safetensors")
        with open(os.path.join(tmp, "dpo.safetensors.metrics.json")) as f:
            mj = json.load(f)
        E = B // 2
        names = ["example_loss", "pref_z", "ref_logp", "dseq_logp", "metrics", "adamw_losses"]
        ok = rc == 0 and all(k in o for k in names) and [o[k].numel() for k in names[:5]] == [E, E, B, B, 6]
        check("dpo run: outputs present with their shapes", ok)
        ok = ok and list(mj) == list(Preference("dpo").metric_names) and o["metrics"].tolist() == list(mj.values())
        check("dpo run: metrics.json == metrics tensor, in TRL's names", ok)
        sign = torch.tensor([-1.0, 1.0] * E)
        # at the initial weights the policy is its own reference: rho = 0 exactly, loss log 2, d/dlogp = -+beta/2/E
        ok = ok and torch.equal(o["ref_logp"], o["seq_logp"]) and not o["pref_z"].any()
        ok = ok and abs(o["loss"].item() - math.log(2)) < 1e-7 and o["loss"].item() == o["adamw_losses"][0].item()
        ok = ok and maxdiff(o["dseq_logp"], sign * 0.1 / 2 / E) < 1e-9 and not o["metrics"][:4].any()
        check("dpo run: reference = initial policy (rho 0, loss log 2)", ok)
        ok = abs(o["loss"].item() - o["example_loss"].mean().item()) < 1e-7 and o["adamw_losses"][-1] < o["loss"]
        check("dpo run: loss == mean of example_loss; AdamW lowers it", ok)
        # the same reference values given as a file reproduce every step: the internal one is not recomputed
        rpath = os.path.join(tmp, "ref.json")
        with open(rpath, "w") as f:
            json.dump(o["ref_logp"].tolist(), f)
        rc, _ = run("--objective", "dpo", "--adamw-steps", "3", "--lr", "1e-2", "--ref-logps", rpath,
                    out="dpo2.safetensors")
        o2 = read("dpo2.safetensors")
        check("dpo run: reference held at the initial weights across AdamW steps",
              rc == 0 and torch.equal(o2["adamw_losses"], o["adamw_losses"]))

        # IOPO with a reference from a file that makes the margins nonzero; values against the hand formulas.
        ref_vals = (o["ref_logp"].double() + 3 * torch.randn(B, generator=g, dtype=torch.float64)).tolist()
        with open(rpath, "w") as f:
            json.dump(ref_vals, f)
        rc, _ = run("--objective", "iopo", "--beta", "0.3", "--label-smoothing", "0.1", "--pref-ftx", "0.5",
                    "--ref-logps", rpath, out="iopo.safetensors")
        o = read("iopo.safetensors")
        h = hand_preference("iopo", "sigmoid", 0.3, 0.1, 0.5, o["seq_logp"].double().tolist(),
                            o["ref_logp"].double().tolist(), o["seq_count"].double().tolist())
        worst = max(rel(o["loss"], h["loss"]), rel(o["example_loss"], h["example_loss"]), rel(o["pref_z"], h["z"]),
                    rel(o["dseq_logp"], h["dseq_logp"]), rel(o["metrics"], h["metrics"]))
        check("iopo run (float32, reference from file) == hand formulas", rc == 0 and worst < 1e-5 and
              o["metrics"].numel() == 16 and bool(o["pref_z"].abs().min() > 0), "rel %.1e" % worst)

        rc, _ = run(out="sft.safetensors")
        check("sft run: no preference outputs, no side file",
              rc == 0 and "metrics" not in read("sft.safetensors") and
              not os.path.exists(os.path.join(tmp, "sft.safetensors.metrics.json")))

        bad_ref = os.path.join(tmp, "bad_ref.json")
        short = os.path.join(tmp, "short.json")
        with open(bad_ref, "w") as f:
            f.write("[" + ", ".join(["-3.5"] * (B - 1) + ["NaN"]) + "]")
        with open(short, "w") as f:
            json.dump([-1.0] * (B - 1), f)
        six = os.path.join(tmp, "six.json")
        with open(six, "w") as f:
            json.dump({"input_ids": ids[:6].tolist(), "lengths": lengths[:6].tolist(),
                       "targets": targets[:6].tolist(), "mask": mask[:6].tolist()}, f)
        nochosen = os.path.join(tmp, "nochosen.json")
        m0 = mask.clone()
        m0[2] = 0
        with open(nochosen, "w") as f:
            json.dump({"input_ids": ids.tolist(), "lengths": lengths.tolist(), "targets": targets.tolist(),
                       "mask": m0.tolist()}, f)
        refusals = [
            ("iopo batch of 6 rows", 1, "multiple of 4", dict(extra=("--objective", "iopo"), batch_file=six)),
            ("reference list of the wrong length", 1, "list of 8", dict(extra=("--objective", "dpo", "--ref-logps",
                                                                               short))),
            ("reference holding NaN", 1, "entry 7", dict(extra=("--objective", "dpo", "--ref-logps", bad_ref))),
            ("pref-ftx with an empty chosen row", 1, "row 2", dict(extra=("--objective", "dpo", "--pref-ftx", "1"),
                                                                   batch_file=nochosen)),
            ("beta 0", 2, "--beta", dict(extra=("--objective", "dpo", "--beta", "0"))),
            ("label smoothing with ipo", 2, "label-smoothing", dict(extra=("--objective", "dpo", "--loss-type", "ipo",
                                                                           "--label-smoothing", "0.1"))),
            ("robust with eps 0.5", 2, "below 0.5", dict(extra=("--objective", "dpo", "--loss-type", "robust",
                                                                "--label-smoothing", "0.5"))),
            ("iopo with loss type hinge", 2, "dpo only", dict(extra=("--objective", "iopo", "--loss-type", "hinge"))),
            ("preference flags with sft", 2, "need --objective", dict(extra=("--beta", "0.2",))),
        ]
        for i, (what, want_rc, want_msg, kw) in enumerate(refusals):
            out = "refused%d.safetensors" % i
            rc, msg = run(*kw["extra"], out=out, batch_file=kw.get("batch_file", bpath))
            ok = rc == want_rc and want_msg in msg and not os.path.exists(os.path.join(tmp, out))
            ok = ok and not os.path.exists(os.path.join(tmp, out + ".metrics.json"))
            check("refused (exit %d): %s" % (want_rc, what), ok, msg.splitlines()[-1][len("gpt2_reference.py: "):]
                  .replace(tmp, "") if msg else "no message")


def self_test():
    torch.manual_seed(0)
    fails = []

    def check(what, ok, detail=""):
        print("%-66s %s%s" % (what, "pass" if ok else "FAIL", ("  " + detail) if detail else ""))
        if not ok:
            fails.append(what)

    def maxdiff(a, b):
        return float((a.detach().double() - b.detach().double()).abs().max())

    cfg = Config(n_layer=2, n_head=2, n_embd=16, n_ctx=12, vocab_size=37, eps=1e-5)
    B, T = 4, 9
    lengths = [9, 6, 2, 0]
    prompt = [3, 1, 0, 0]
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    targets = torch.full((B, T), -100, dtype=torch.long)
    mask = torch.zeros(B, T)
    for b in range(B):
        for t in range(T):
            if t + 1 < lengths[b] and t + 1 >= prompt[b]:
                targets[b, t] = ids[b, t + 1]
                mask[b, t] = 1.0
    mask[0, 5] = 0.5  # non-binary weights are part of the contract
    batch = Batch(ids, torch.tensor(lengths), torch.where(mask != 0, targets, torch.zeros_like(targets)), mask)

    base = random_params(cfg, 5)
    p64 = leaf_params(base, torch.float64)
    logits64, tl64, sl64, sc64, loss64 = forward_backward(p64, cfg, batch)
    g64 = {n: t.grad.clone() for n, t in p64.items()}

    # 1. GELU and LayerNorm building blocks against torch's own versions.
    xs = torch.linspace(-6, 6, 101, dtype=torch.float64)
    check("gelu_new == F.gelu(approximate='tanh')", maxdiff(gelu_new(xs), F.gelu(xs, approximate="tanh")) < 1e-15)

    # 2. Forward against the loop implementation, valid and padded rows (the latter only by convention).
    worst = worst_pad = 0.0
    for b in range(B):
        ref = loop_forward({n: t.detach() for n, t in p64.items()}, cfg, ids[b].tolist(), lengths[b])
        worst = max(worst, maxdiff(logits64[b, :lengths[b]], ref[:lengths[b]]) if lengths[b] else 0.0)
        worst_pad = max(worst_pad, maxdiff(logits64[b, lengths[b]:], ref[lengths[b]:]) if lengths[b] < T else 0.0)
    check("logits == independent loop implementation (float64)", worst < 1e-10, "max diff %.2e" % worst)
    check("padded rows: zero attention output, as the C backends", worst_pad < 1e-10, "max diff %.2e" % worst_pad)

    # 3. Losses from logits computed directly.
    lsm = torch.log_softmax(logits64.detach(), -1)
    tl_ref = torch.zeros(B, T, dtype=torch.float64)
    for b in range(B):
        for t in range(T):
            if mask[b, t] != 0:
                tl_ref[b, t] = -float(mask[b, t]) * lsm[b, t, targets[b, t]]
    check("token_loss == mask * CE", maxdiff(tl64, tl_ref) < 1e-12)
    check("seq_logp == -sum_t token_loss", maxdiff(sl64, -tl_ref.sum(1)) < 1e-12)
    check("seq_count == sum_t mask", maxdiff(sc64, mask.sum(1)) == 0)
    check("loss == sum token_loss / sum mask", abs(loss64.item() - float(tl_ref.sum() / mask.sum())) < 1e-12)

    # 4. Each sequence alone, unpadded (T = its length), gives the same logits and log-probs.
    worst = 0.0
    for b in range(B):
        L = lengths[b]
        if L == 0 or mask[b].sum() == 0:
            continue
        one = Batch(ids[b:b + 1, :L], torch.tensor([L]), batch.targets[b:b + 1, :L], mask[b:b + 1, :L])
        lg = forward(p64, cfg, one.input_ids, one.lengths)
        _, sl, _, _ = losses(lg, one)
        worst = max(worst, maxdiff(lg, logits64[b:b + 1, :L]), maxdiff(sl, sl64[b:b + 1]))
    check("padded batch == each sequence alone without padding", worst < 1e-12, "max diff %.2e" % worst)

    # 5. Autograd against central finite differences in float64, a few entries of every parameter.
    def loss_at(pp):
        with torch.no_grad():
            return losses(forward(pp, cfg, batch.input_ids, batch.lengths), batch)[3].item()

    worst, n_checked, h = 0.0, 0, 1e-6
    probe = {n: t.detach().clone() for n, t in p64.items()}
    for name, t in probe.items():
        flat = t.view(-1)
        picks = torch.randperm(flat.numel(), generator=g)[:3].tolist()
        if name == "wte.weight":  # a row the batch uses both as input and as a target
            picks.append(int(batch.targets[0, 4]) * cfg.n_embd + 1)
        for j in picks:
            old = float(flat[j])
            flat[j] = old + h
            fp = loss_at(probe)
            flat[j] = old - h
            fm = loss_at(probe)
            flat[j] = old
            fd = (fp - fm) / (2 * h)
            ag = float(g64[name].view(-1)[j])
            err = abs(fd - ag) / (1e-8 + 1e-5 * abs(ag))  # in units of the tolerance
            worst = max(worst, err)
            n_checked += 1
            if err > 1:
                print("    %s[%d]: autograd %.10g, finite difference %.10g" % (name, j, ag, fd))
    check("gradients == finite differences (%d entries, all %d tensors)" % (n_checked, len(probe)), worst <= 1,
          "worst err %.2f of tolerance 1e-8 + 1e-5*|grad|" % worst)
    check("gradient of every tensor is nonzero", all(float(t.abs().max()) > 0 for t in g64.values()))

    # 6. Padding: tokens at padded positions and targets where mask == 0 change nothing, bit for bit (fp32 and fp64).
    ids2 = ids.clone()
    tg2 = batch.targets.clone()
    for b in range(B):
        ids2[b, lengths[b]:] = torch.randint(0, cfg.vocab_size, (T - lengths[b],), generator=g)
    tg2 = torch.where(mask != 0, tg2, torch.randint(0, cfg.vocab_size, (B, T), generator=g))
    batch2 = Batch(ids2, batch.lengths, tg2, mask)
    check("padding test really changes tokens", bool((ids2 != ids).any()) and bool((tg2 != batch.targets).any()))
    for dtype in (torch.float64, torch.float32):
        pa, pb = leaf_params(base, dtype), leaf_params(base, dtype)
        la = forward_backward(pa, cfg, batch)
        lb = forward_backward(pb, cfg, batch2)
        valid = (torch.arange(T)[None, :] < batch.lengths[:, None])
        same = (torch.equal(la[4], lb[4]) and torch.equal(la[1], lb[1]) and torch.equal(la[2], lb[2]) and
                torch.equal(la[0][valid], lb[0][valid]) and all(torch.equal(pa[n].grad, pb[n].grad) for n in pa))
        check("padded tokens/targets change no loss, logit or gradient (%s)" % str(dtype)[6:], same)
    # and the test above can tell: a change inside a sequence does show
    ids3 = ids.clone()
    ids3[1, lengths[1] - 2] = (ids3[1, lengths[1] - 2] + 1) % cfg.vocab_size
    pc = leaf_params(base, torch.float64)
    lc = forward_backward(pc, cfg, Batch(ids3, batch.lengths, batch.targets, mask))
    check("a token inside a sequence does change the loss", lc[4].item() != loss64.item())
    # causality: it leaves earlier positions alone
    check("causal: that change leaves earlier positions' logits alone",
          torch.equal(lc[0][1, :lengths[1] - 2], logits64[1, :lengths[1] - 2]) and
          not torch.equal(lc[0][1, lengths[1] - 2], logits64[1, lengths[1] - 2]))

    # 7. float32 path agrees with float64.
    p32 = leaf_params(base, torch.float32)
    l32 = forward_backward(p32, cfg, batch)
    gworst = max(maxdiff(p32[n].grad, g64[n]) / (float(g64[n].abs().max()) + 1e-12) for n in p64)
    check("float32 == float64 (logits, grads)", maxdiff(l32[0], logits64) < 1e-4 and gworst < 1e-3,
          "logits %.1e, grads rel %.1e" % (maxdiff(l32[0], logits64), gworst))

    # 8. torch AdamW + clip_grad_norm_ == the written-out formulas; the clip really engages.
    hp = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for clip in (0.05, 0.0):
        pa = leaf_params(base, torch.float64)
        sl_t, nm_t = run_adamw(pa, cfg, batch, 3, grad_clip=clip, **hp)
        sl_m, nm_m, pm = manual_adamw(base, cfg, batch, 3, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"],
                                      hp["weight_decay"], clip)
        d = max(maxdiff(pa[n], pm[n]) for n in pa)
        ok = d < 1e-12 and max(abs(a - b) for a, b in zip(sl_t + nm_t, sl_m + nm_m)) < 1e-12
        ok = ok and sl_t[-1] < sl_t[0] and (clip == 0 or nm_t[0] > clip)
        check("AdamW (clip %g) == written-out AdamW; loss falls" % clip, ok, "param diff %.1e, norms %s" %
              (d, ", ".join("%.3f" % x for x in nm_t)))

    # 9. Two runs are bitwise identical.
    pa, pb = leaf_params(base, torch.float32), leaf_params(base, torch.float32)
    ra, rb = forward_backward(pa, cfg, batch), forward_backward(pb, cfg, batch)
    check("deterministic (two fp32 runs bitwise equal)",
          torch.equal(ra[0], rb[0]) and all(torch.equal(pa[n].grad, pb[n].grad) for n in pa))

    # 10. File round trips: init-model (both styles) -> load gives the same parameters; st_write -> st_read.
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        ok = True
        for style in ("plain", "hf"):
            d = os.path.join(tmp, style)
            init_model(d, cfg, 5, style)
            c2 = load_config(d)
            ok = ok and vars(c2) == vars(cfg)
            loaded = load_params(d, c2)
            ok = ok and list(loaded) == list(base) and all(torch.equal(loaded[n], base[n]) for n in base)
        check("init-model (plain, hf) -> load_params round trip", ok)
        bad = os.path.join(tmp, "bad.safetensors")
        st_write(bad, {"a": torch.ones(2, 3)})
        raw = bytearray(open(bad, "rb").read())
        cases = {"header length beyond file": lambda r: r.__setitem__(slice(0, 8), struct.pack("<Q", 10 ** 6)),
                 "size mismatch": lambda r: r.__setitem__(slice(0, len(r)), r.replace(b"[2,3]", b"[2,4]")),
                 "unknown dtype": lambda r: r.__setitem__(slice(0, len(r)), r.replace(b'"F32"', b'"F99"')),
                 "truncated data": lambda r: r.__delitem__(slice(len(r) - 4, len(r)))}
        for what, mutate in cases.items():
            r = bytearray(raw)
            mutate(r)
            with open(bad, "wb") as f:
                f.write(r)
            try:
                st_read(bad)
                check("safetensors reader rejects: " + what, False)
            except InputError as e:
                check("safetensors reader rejects: " + what, bad in str(e), str(e)[len(tmp):])

    # 11-14. Preference objectives (DPO, IOPO).
    self_test_preference(check, maxdiff, cfg, base, g)

    # 15. Llama, Qwen2, Qwen3: groups 2, 4-10 for each family configuration, RoPE properties.
    families_selftest.run(check, maxdiff, sys.modules[__name__])

    # 16. LoRA adapters (lora.py) on GPT-2, Llama and Qwen3.
    lora.self_test(check, maxdiff, sys.modules[__name__])

    print("self-test: %d failed" % len(fails))
    return 0 if not fails else 1


# ---------------------------------------------------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--batch")
    ap.add_argument("--out")
    ap.add_argument("--adamw-steps", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--grad-clip", type=float, default=0.0)
    # Preference flags default to None so that giving one with --objective sft can be refused, not ignored.
    ap.add_argument("--objective", choices=OBJECTIVES, default="sft")
    ap.add_argument("--beta", type=float, help="DPO/IOPO beta (default 0.1)")
    ap.add_argument("--label-smoothing", type=float, help="eps of the sigmoid/robust losses (default 0)")
    ap.add_argument("--loss-type", choices=LOSS_TYPES, help="DPO only (default sigmoid)")
    ap.add_argument("--pref-ftx", type=float, help="gamma of the length-averaged SFT term (default 0)")
    ap.add_argument("--ref-logps", metavar="FILE", help="JSON list of B reference log-probs (default: computed at "
                    "the initial weights)")
    ap.add_argument("--init-model", metavar="DIR")
    ap.add_argument("--arch", choices=("gpt2",) + fam.FAMILIES, default="gpt2")
    ap.add_argument("--kv-heads", type=int, help="llama/qwen: KV heads (default --heads)")
    ap.add_argument("--head-dim", type=int, help="llama/qwen: head_dim (default dim/heads)")
    ap.add_argument("--ffn", type=int, help="llama/qwen: intermediate_size (default 3*dim)")
    ap.add_argument("--tied", type=int, choices=(0, 1), default=0, help="llama/qwen: tie_word_embeddings")
    ap.add_argument("--attention-bias", type=int, choices=(0, 1), default=0, help="llama/qwen3: attention_bias")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rope-llama3", metavar="F,LO,HI,OLD",
                    help="llama3 rope_scaling: factor, low_freq_factor, high_freq_factor, original max positions")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--dim", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--ctx", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ln-eps", type=float, help="layer_norm_epsilon / rms_norm_eps (default 1e-5; qwen 1e-6)")
    ap.add_argument("--init-style", choices=("plain", "hf"), default="plain",
                    help="plain: bare HF names; hf: transformer. prefix + attn.bias/masked_bias buffers + lm_head")
    ap.add_argument("--adapter", metavar="DIR", help="a PEFT LoRA adapter on --model (SFT only, no AdamW steps)")
    ap.add_argument("--init-adapter", metavar="DIR", help="write a random PEFT LoRA adapter for --model")
    ap.add_argument("--lora-r", type=int, default=4)
    ap.add_argument("--lora-alpha", type=float, default=8.0)
    ap.add_argument("--lora-targets", default="q_proj,v_proj", help="comma-separated target_modules")
    ap.add_argument("--rslora", type=int, choices=(0, 1), default=0)
    ap.add_argument("--lora-std", type=float, default=0.1, help="standard deviation of A and B")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        if args.self_test:
            return self_test()
        if args.init_adapter:
            targets = [t.strip() for t in args.lora_targets.split(",")]
            if not args.model or args.lora_r <= 0 or not all(targets) or not math.isfinite(args.lora_alpha) or \
                    not (args.lora_std > 0 and math.isfinite(args.lora_std)):
                ap.error("--init-adapter needs --model DIR, --lora-r > 0, a finite --lora-alpha, --lora-std > 0 and "
                         "comma-separated --lora-targets")
            init_adapter(args.init_adapter, args.model, args.lora_r, args.lora_alpha, bool(args.rslora), targets,
                         args.seed, args.lora_std)
            return 0
        if args.init_model:
            dims = (args.layers, args.heads, args.dim, args.vocab, args.ctx)
            if args.ln_eps is None:
                args.ln_eps = 1e-6 if args.arch.startswith("qwen") else 1e-5
            if any(v is None or v <= 0 for v in dims) or not args.ln_eps > 0:
                ap.error("--init-model needs positive --layers --heads --dim --vocab --ctx")
            if args.arch == "gpt2":
                if args.dim % args.heads:
                    ap.error("--dim must be a multiple of --heads")
                cfg = Config(args.layers, args.heads, args.dim, args.ctx, args.vocab, args.ln_eps)
            else:
                kv = args.kv_heads or args.heads
                hd = args.head_dim or (args.dim // args.heads if args.dim % args.heads == 0 else 0)
                if args.heads % kv or hd <= 0 or hd % 2 or (args.ffn is not None and args.ffn <= 0):
                    ap.error("--heads must be a multiple of --kv-heads; --head-dim even (default dim/heads)")
                if args.init_style != "plain" or (args.attention_bias and args.arch == "qwen2"):
                    ap.error("--init-style hf is GPT-2's; qwen2 has no --attention-bias (its q/k/v bias is fixed)")
                scaling = None
                if args.rope_llama3:
                    try:
                        v = [float(e) for e in args.rope_llama3.split(",")]
                    except ValueError:
                        v = []
                    if len(v) != 4 or not all(e > 0 for e in v) or not v[2] > v[1]:
                        ap.error("--rope-llama3 wants four positive numbers F,LO,HI,OLD with HI > LO")
                    scaling = dict(zip(("factor", "low_freq_factor", "high_freq_factor",
                                        "original_max_position_embeddings"), v))
                cfg = fam.FamilyConfig(args.arch, args.layers, args.heads, kv, args.dim, hd,
                                       args.ffn or 3 * args.dim, args.ctx, args.vocab, args.ln_eps,
                                       args.rope_theta, scaling, bool(args.tied), bool(args.attention_bias))
            try:
                init_model(args.init_model, cfg, args.seed, args.init_style)
            except OSError as e:
                raise InputError("%s: cannot write the model: %s" % (args.init_model, e))
            return 0
        if not (args.model and args.batch and args.out):
            ap.error("give --model DIR --batch FILE --out FILE, or --init-model DIR ..., or --self-test")
        if args.adamw_steps < 0 or not (args.lr >= 0 and 0 <= args.beta1 < 1 and 0 <= args.beta2 < 1 and
                                        args.eps >= 0 and args.weight_decay >= 0 and args.grad_clip >= 0):
            ap.error("bad AdamW hyperparameters")
        if args.adapter and (args.adamw_steps or args.objective != "sft"):
            ap.error("--adapter computes the SFT loss and the adapters' gradients only (no --adamw-steps, "
                     "no --objective dpo|iopo)")
        pref_flags = (args.beta, args.label_smoothing, args.loss_type, args.pref_ftx, args.ref_logps)
        args.pref = None
        if args.objective == "sft":
            if any(v is not None for v in pref_flags):
                ap.error("--beta --label-smoothing --loss-type --pref-ftx --ref-logps need --objective dpo|iopo")
        else:
            args.pref = Preference(args.objective, 0.1 if args.beta is None else args.beta,
                                   args.label_smoothing or 0.0, args.loss_type or "sigmoid", args.pref_ftx or 0.0)
            problem = args.pref.problem()
            if problem:
                ap.error(problem)
        reference(args.model, args.batch, args.out, args)
        return 0
    except InputError as e:
        print("gpt2_reference.py: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
