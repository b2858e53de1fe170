"""LoRA in plain PyTorch for gpt2_reference.py: reads a PEFT adapter directory (adapter_config.json and
adapter_model.safetensors), adds each adapter's update to its linear layer in the forward pass of gpt2_reference.py
(GPT-2) and decoder_families.py (Llama, Qwen2, Qwen3), and writes random adapters. No peft, no transformers.

Written from /work/shared/REFERENCE.md section 7: for an adapted module with input x,
    y = base(x) + s * (x A^T) B^T,   A [r, in], B [out, r],   s = lora_alpha / r  (lora_alpha / sqrt(r) with use_rslora)
where base(x) is x W^T (+ b) for a torch Linear (W [out, in]) and x W + b for GPT-2's Conv1D (W [in, out], PEFT's
fan_in_fan_out). GPT-2's c_attn is one module producing q|k|v, so its adapter's B has 3C rows. Adapter tensors are
named as PEFT saves them: base_model.model.<module path>.lora_A.weight / .lora_B.weight, the module path as in the
Hugging Face model (GPT-2: transformer.h.0.attn.c_attn; Llama: model.layers.0.self_attn.q_proj). A target name t
selects the module whose path is t or ends with "." + t (PEFT's rule): "c_proj" selects both of GPT-2's.
Dropout is not modelled: the reference is the model in eval mode, as `iopo score` and PeftModel.eval() run it.
"""

import json
import math
import os

import torch

# Keys of adapter_config.json that change what the adapter computes in ways this reference does not model; each must be
# absent, null, false or empty.
UNSUPPORTED = ("use_dora", "modules_to_save", "layers_to_transform", "layers_pattern", "rank_pattern",
               "alpha_pattern", "trainable_token_indices", "target_parameters", "exclude_modules")


class Adapter:
    """A loaded adapter: `modules` maps the reference's weight name (h.0.attn.c_attn.weight,
    model.layers.0.self_attn.q_proj.weight) to the PEFT names of its (A, B); `tensors` holds them by those names."""

    def __init__(self, path, r, alpha, rslora, targets, modules, tensors):
        self.path, self.r, self.alpha, self.rslora, self.targets = path, r, alpha, rslora, targets
        self.scale = alpha / math.sqrt(r) if rslora else alpha / r
        self.modules, self.tensors = modules, tensors


def linear_modules(cfg, shapes):
    """The blocks' linear layers in the model's module order: {PEFT module path: (weight name, in, out, conv1d)}.
    The LM head is a linear layer too, but iopo adapts the blocks only (LLaMA-Factory's `all`), so it is not offered."""
    gpt2 = cfg.family == "gpt2"
    out = {}
    for name, shape in shapes.items():
        if len(shape) != 2 or not name.endswith(".weight") or not name.startswith("h." if gpt2 else "model.layers."):
            continue
        path = ("transformer." if gpt2 else "") + name[:-len(".weight")]
        out[path] = (name, shape[0], shape[1], True) if gpt2 else (name, shape[1], shape[0], False)
    return out


def selects(target, path):
    return path == target or path.endswith("." + target)


def tensor_names(path):
    return ("base_model.model.%s.lora_A.weight" % path, "base_model.model.%s.lora_B.weight" % path)


def config_json(r, alpha, rslora, targets, conv1d, base):
    """adapter_config.json with the keys PEFT writes that matter here."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base, "r": r,
            "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": list(targets), "bias": "none",
            "use_rslora": bool(rslora), "fan_in_fan_out": bool(conv1d), "inference_mode": True,
            "modules_to_save": None}


def load(adapter_dir, cfg, shapes, error, st_read, st_tensor):
    """Adapter for the model (cfg, its parameter shapes); error(msg) raises the caller's InputError; st_read and
    st_tensor are gpt2_reference.py's safetensors reader and F32 converter."""
    path = os.path.join(adapter_dir, "adapter_config.json")
    try:
        with open(path, "r", encoding="utf-8") as f:
            j = json.load(f)
    except OSError as e:
        error("%s: cannot read: %s" % (path, e.strerror))
    except (UnicodeDecodeError, ValueError) as e:
        error("%s: not valid JSON: %s" % (path, e))
    if not isinstance(j, dict):
        error("%s: not a JSON object" % path)
    if j.get("peft_type") != "LORA":
        error("%s: peft_type %r is not \"LORA\"" % (path, j.get("peft_type")))
    r = j.get("r")
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        error("%s: \"r\" must be a positive integer, got %r" % (path, r))
    alpha = j.get("lora_alpha", 8)   # PEFT's default
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha):
        error("%s: \"lora_alpha\" must be a finite number, got %r" % (path, alpha))
    rslora = j.get("use_rslora", False)
    if not isinstance(rslora, bool):
        error("%s: \"use_rslora\" must be true or false, got %r" % (path, rslora))
    dropout = j.get("lora_dropout", 0.0)
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        error("%s: \"lora_dropout\" must be a number in [0, 1), got %r" % (path, dropout))
    if j.get("bias", "none") != "none":
        error("%s: \"bias\" %r is not \"none\" (adapter biases are not modelled)" % (path, j.get("bias")))
    for k in UNSUPPORTED:
        v = j.get(k)
        if v is not None and v is not False and v != [] and v != {}:
            error("%s: \"%s\" is set; this reference does not model it" % (path, k))
    targets = j.get("target_modules")
    if (not isinstance(targets, list) or not targets or
            not all(isinstance(t, str) and t for t in targets)):
        error("%s: \"target_modules\" must be a non-empty list of module names (a regex string is not modelled), "
              "got %r" % (path, targets))
    mods = linear_modules(cfg, shapes)
    for t in targets:
        if not any(selects(t, p) for p in mods):
            error("%s: target module %r matches no linear layer of the %s blocks (paths like %s)" %
                  (path, t, cfg.family, ", ".join(list(mods)[:4])))
    chosen = {p: m for p, m in mods.items() if any(selects(t, p) for t in targets)}
    fifo = j.get("fan_in_fan_out", False)
    conv1d = cfg.family == "gpt2"
    # PEFT corrects a wrong value with a warning; a reference refuses it, so that a writer's mistake shows.
    if fifo is not conv1d:
        error("%s: \"fan_in_fan_out\" is %r, but %s's layers are %s" %
              (path, fifo, cfg.family, "Conv1D (weights [in, out]): it must be true" if conv1d else
               "torch Linear (weights [out, in]): it must be false"))

    st_path = os.path.join(adapter_dir, "adapter_model.safetensors")
    entries = st_read(st_path)
    modules, tensors, expected = {}, {}, set()
    for p, (wname, fan_in, fan_out, _) in chosen.items():
        a, b = tensor_names(p)
        expected.update((a, b))
        for name, shape in ((a, [r, fan_in]), (b, [fan_out, r])):
            if name not in entries:
                error("%s: missing tensor %r (target %s)" % (st_path, name, p))
            if list(entries[name][1]) != shape:
                error("%s: tensor %r has shape %r, expected %r (r %d)" % (st_path, name, entries[name][1], shape, r))
            t = st_tensor(st_path, name, entries[name])
            if not torch.isfinite(t).all():
                error("%s: tensor %r holds a NaN or infinity" % (st_path, name))
            tensors[name] = t
        modules[wname] = (a, b)
    extra = sorted(set(entries) - expected)
    if extra:
        error("%s: unexpected tensor %r: not an adapter of target_modules %s" % (st_path, extra[0], targets))
    return Adapter(adapter_dir, r, float(alpha), rslora, targets, modules, tensors)


def add(y, x, p, cfg, weight_name):
    """y (the module's base output) plus its adapter's s (x A^T) B^T, if cfg carries an adapter for that module."""
    ad = getattr(cfg, "lora", None)
    if ad is None or weight_name not in ad.modules:
        return y
    a, b = ad.modules[weight_name]
    return y + ad.scale * ((x @ p[a].t()) @ p[b].t())


def merged(p, cfg):
    """The base weights with every adapter folded in, W + s B A (transposed for Conv1D), as functions of p's A and B,
    for the self-test's second formulation (PEFT's merge)."""
    ad = cfg.lora
    out = {n: t for n, t in p.items() if n not in ad.tensors}
    for wname, (a, b) in ad.modules.items():
        delta = ad.scale * (p[b] @ p[a])
        out[wname] = out[wname] + (delta.t() if cfg.family == "gpt2" else delta)
    return out


def random_tensors(cfg, shapes, r, targets, seed, std):
    """{PEFT name: tensor} with A and B drawn N(0, std^2) from torch.Generator().manual_seed(seed), in the model's
    module order, A before B (PEFT starts B at zero, which would make every gradient check of A trivial)."""
    mods = linear_modules(cfg, shapes)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for p, (_, fan_in, fan_out, _) in mods.items():
        if not any(selects(t, p) for t in targets):
            continue
        a, b = tensor_names(p)
        out[a] = torch.randn([r, fan_in], generator=g, dtype=torch.float32) * std
        out[b] = torch.randn([fan_out, r], generator=g, dtype=torch.float32) * std
    return out


def write(adapter_dir, conf, tensors, st_write):
    os.makedirs(adapter_dir, exist_ok=True)
    tmp = os.path.join(adapter_dir, "adapter_config.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(adapter_dir, "adapter_config.json"))
    st_write(os.path.join(adapter_dir, "adapter_model.safetensors"), tensors, {"format": "pt"})


# ---------------------------------------------------------------------------------------------------------------------
# self-test (run by gpt2_reference.py --self-test; `ref` is the gpt2_reference module)

def self_test(check, maxdiff, ref):
    import copy
    import tempfile

    B, T = 3, 9
    lengths, prompt = [9, 6, 3], [3, 1, 0]
    gpt2 = ref.Config(n_layer=2, n_head=2, n_embd=16, n_ctx=12, vocab_size=37, eps=1e-5)
    llama, _, _, qwen3 = ref.fam.self_test_configs()
    every = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    # (model, r, alpha, rslora, targets, adapted modules per block)
    cases = [(gpt2, 4, 3.0, True, ["c_attn", "c_proj", "c_fc"], 4), (gpt2, 2, 4.0, False, ["attn.c_proj"], 1),
             (llama, 4, 8.0, False, every, 7), (qwen3, 3, 5.0, True, ["k_proj", "o_proj", "down_proj"], 3)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, (base_cfg, r, alpha, rslora, targets, per_block) in enumerate(cases):
            tag = "lora %s r%d%s %s" % (base_cfg.family, r, " rslora" if rslora else "", ",".join(targets))
            if len(tag) > 40:
                tag = tag[:37] + "..."
            mdir, adir = os.path.join(tmp, "m%d" % n), os.path.join(tmp, "a%d" % n)
            ref.init_model(mdir, base_cfg, 3 + n, "plain")
            ref.init_adapter(adir, mdir, r, alpha, rslora, targets, 9 + n, 0.3)
            cfg = ref.load_config(mdir)
            base = ref.load_params(mdir, cfg)
            cfg.lora = ref.load_adapter(adir, cfg)
            ad = cfg.lora
            check("%s: %d adapted modules, 2 tensors each" % (tag, len(ad.modules)),
                  len(ad.modules) == per_block * cfg.n_layer and len(ad.tensors) == 2 * len(ad.modules))

            g = torch.Generator().manual_seed(31 + n)
            ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
            mask = torch.zeros(B, T)
            targets_t = torch.zeros(B, T, dtype=torch.long)
            for b in range(B):
                for t in range(T):
                    if t + 1 < lengths[b] and t + 1 >= prompt[b]:
                        targets_t[b, t], mask[b, t] = ids[b, t + 1], 1.0
            batch = ref.Batch(ids, torch.tensor(lengths), targets_t, mask)

            def leaves(dtype, adapter=None):
                p = {k: t.detach().to(dtype).clone() for k, t in base.items()}
                p.update(ref.leaf_params(adapter or ad.tensors, dtype))
                return p

            p64 = leaves(torch.float64)
            logits64, _, _, _, _ = ref.forward_backward(p64, cfg, batch)
            g64 = {k: p64[k].grad.clone() for k in ad.tensors}

            # The merged weights W + s B A (Conv1D: + s (B A)^T) with s from the config's numbers, by autograd too.
            s = alpha / math.sqrt(r) if rslora else alpha / r
            q64 = leaves(torch.float64)
            plain = copy.copy(cfg)
            plain.lora = None
            merged_p = {k: v for k, v in q64.items() if k not in ad.tensors}
            for wname, (a, b) in ad.modules.items():
                delta = s * (q64[b] @ q64[a])
                merged_p[wname] = merged_p[wname] + (delta.t() if cfg.family == "gpt2" else delta)
            lm = ref.forward(merged_p, plain, ids, batch.lengths)
            ref.losses(lm, batch)[3].backward()
            valid = torch.arange(T)[None, :] < batch.lengths[:, None]
            dl = maxdiff(lm[valid], logits64[valid]) / float(logits64[valid].abs().max())
            dg = max(maxdiff(q64[k].grad, g64[k]) / float(g64[k].abs().max()) for k in g64)
            check("%s: x W + s (x A^T) B^T == merged W + s B A (f64)" % tag, dl < 1e-12 and dg < 1e-10,
                  "logits rel %.1e, grads rel %.1e" % (dl, dg))

            # Autograd against float64 central finite differences, 3 entries of every adapter tensor.
            def loss_at(pp):
                with torch.no_grad():
                    return ref.losses(ref.forward(pp, cfg, ids, batch.lengths), batch)[3].item()

            worst, n_checked, h = 0.0, 0, 1e-6
            probe = {k: t.detach().clone() for k, t in p64.items()}
            for name in ad.tensors:
                flat = probe[name].view(-1)
                for j in torch.randperm(flat.numel(), generator=g)[:3].tolist():
                    old = float(flat[j])
                    flat[j] = old + h
                    fp = loss_at(probe)
                    flat[j] = old - h
                    fm = loss_at(probe)
                    flat[j] = old
                    fd, ag = (fp - fm) / (2 * h), float(g64[name].view(-1)[j])
                    err = abs(fd - ag) / (1e-8 + 1e-5 * abs(ag))
                    worst, n_checked = max(worst, err), n_checked + 1
                    if err > 1:
                        print("    %s %s[%d]: autograd %.10g, finite difference %.10g" % (tag, name, j, ag, fd))
            check("%s: adapter grads == finite differences (%d entries)" % (tag, n_checked), worst <= 1,
                  "worst err %.2f of tolerance" % worst)
            check("%s: gradient of every adapter tensor is nonzero" % tag,
                  all(float(t.abs().max()) > 0 for t in g64.values()))
            check("%s: the base gets no gradient" % tag, all(p64[k].grad is None for k in base))

            # float32 (what --out holds) agrees with float64.
            p32 = leaves(torch.float32)
            l32 = ref.forward_backward(p32, cfg, batch)
            gw = max(maxdiff(p32[k].grad, g64[k]) / float(g64[k].abs().max()) for k in g64)
            check("%s: float32 == float64 (adapter grads)" % tag, gw < 1e-4 and maxdiff(l32[0], logits64) < 1e-4,
                  "grads rel %.1e" % gw)

            # B = 0 (PEFT's initialisation) is the base model, bit for bit; B != 0 is not.
            zero_b = {k: (torch.zeros_like(t) if ".lora_B." in k else t) for k, t in ad.tensors.items()}
            base32 = {k: t.clone() for k, t in base.items()}
            l0 = ref.forward(leaves(torch.float32, zero_b), cfg, ids, batch.lengths)
            lb = ref.forward(base32, plain, ids, batch.lengths)
            check("%s: B = 0 gives the base's logits exactly; the adapter changes them" % tag,
                  torch.equal(l0, lb) and maxdiff(l32[0][valid], lb[valid]) > 1e-3)

            check("%s: scale %s" % (tag, "alpha / sqrt(r)" if rslora else "alpha / r"), ad.scale == s,
                  "%r, config gives %r" % (ad.scale, s))

        # Refusals: one line naming the file and what is wrong.
        adir, mdir = os.path.join(tmp, "a0"), os.path.join(tmp, "m0")
        cfg = ref.load_config(mdir)
        conf_path = os.path.join(adir, "adapter_config.json")
        st_path = os.path.join(adir, "adapter_model.safetensors")
        good_conf = open(conf_path).read()
        good_st = open(st_path, "rb").read()
        a0 = "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"
        tensors = {k: ref.st_tensor_f32(st_path, k, e) for k, e in ref.st_read(st_path).items()}

        def conf_with(**kw):
            j = json.loads(good_conf)
            j.update(kw)
            return lambda: open(conf_path, "w").write(json.dumps(j))

        def st_with(fn):
            def go():
                t = dict(tensors)
                fn(t)
                ref.st_write(st_path, t)
            return go

        bad = [
            ("peft_type", conf_with(peft_type="IA3"), "peft_type 'IA3' is not \"LORA\""),
            ("r", conf_with(r=0), "\"r\" must be a positive integer"),
            ("fan_in_fan_out false on Conv1D", conf_with(fan_in_fan_out=False), "it must be true"),
            ("a target that matches nothing", conf_with(target_modules=["c_attn", "q_proj"]), "'q_proj' matches no"),
            ("the LM head", conf_with(target_modules=["lm_head"]), "'lm_head' matches no linear layer"),
            ("a regex target", conf_with(target_modules=".*attn.*"), "a regex string is not modelled"),
            ("use_dora", conf_with(use_dora=True), "\"use_dora\" is set"),
            ("bias", conf_with(bias="all"), "\"bias\" 'all' is not \"none\""),
            ("a missing tensor", st_with(lambda t: t.pop(a0)), "missing tensor %r" % a0),
            ("an extra tensor", st_with(lambda t: t.__setitem__("base_model.model.lm_head.lora_A.weight",
                                                                torch.zeros(4, 16))), "unexpected tensor"),
            ("a wrong shape", st_with(lambda t: t.__setitem__(a0, torch.zeros(4, 17))), "expected [4, 16]"),
            ("a NaN", st_with(lambda t: t.__setitem__(a0, t[a0].clone().fill_(float("nan")))), "NaN"),
        ]
        for what, mutate, want in bad:
            open(conf_path, "w").write(good_conf)
            open(st_path, "wb").write(good_st)
            mutate()
            try:
                ref.load_adapter(adir, cfg)
                msg = ""
            except ref.InputError as e:
                msg = str(e)
            check("lora: refuses %s" % what, want in msg and adir in msg, msg.replace(tmp, "") or "accepted")
