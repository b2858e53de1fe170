"""Preference objectives (DPO, IOPO) on per-sequence log-probs, for gpt2_reference.py.

Kept apart from the model so that the loss arithmetic can be read against /work/shared/REFERENCE.md §1 on its own and
tested without a forward pass. Everything here works on torch tensors of any float dtype, so the same code serves the
float32 reference run and the float64 self-test.

Batch layout (rows of batch.json, grouped per example e):
  dpo:  2e = (x, chosen), 2e+1 = (x, rejected)
  iopo: 4e = (x1, y1) chosen_v1, 4e+1 = (x1, y2) rejected_v1, 4e+2 = (x2, y2) chosen_v2, 4e+3 = (x2, y1) rejected_v2
"""

import math

import torch
import torch.nn.functional as F

OBJECTIVES = ("sft", "dpo", "iopo")
LOSS_TYPES = ("sigmoid", "ipo", "hinge", "robust")
GROUP = {"dpo": 2, "iopo": 4}

# Names as TRL's DPOTrainer and the official IOPO trainer log them (without the eval_ prefix); means over examples.
METRICS = {
    "dpo": ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
            "logps/chosen", "logps/rejected"),
    "iopo": ("rewards/chosen_v1", "rewards/rejected_v1", "rewards/chosen_v2", "rewards/rejected_v2",
             "rewards/margins_v1", "rewards/margins_v2", "rewards/accuracies_v1", "rewards/accuracies_v2",
             "logps/chosen_v1", "logps/rejected_v1", "logps/chosen_v2", "logps/rejected_v2",
             "logps/ref_chosen_v1", "logps/ref_rejected_v1", "logps/ref_chosen_v2", "logps/ref_rejected_v2"),
}


class Preference:
    def __init__(self, objective, beta=0.1, label_smoothing=0.0, loss_type="sigmoid", ftx=0.0):
        self.objective, self.beta, self.eps = objective, float(beta), float(label_smoothing)
        self.loss_type, self.ftx = loss_type, float(ftx)
        self.group = GROUP[objective]
        self.metric_names = METRICS[objective]

    def problem(self):
        """What is wrong with the hyperparameters, or None."""
        if self.objective not in GROUP:
            return "objective %r is not dpo or iopo" % self.objective
        if not (math.isfinite(self.beta) and self.beta > 0):
            return "--beta must be a positive finite number"
        if self.loss_type not in LOSS_TYPES:
            return "--loss-type %r is not one of %s" % (self.loss_type, "|".join(LOSS_TYPES))
        if self.objective == "iopo" and self.loss_type != "sigmoid":
            return "--loss-type applies to dpo only (iopo's loss is the sigmoid form)"
        if not math.isfinite(self.eps) or self.eps < 0:
            return "--label-smoothing must be a finite number >= 0"
        if self.loss_type in ("ipo", "hinge") and self.eps != 0:
            # TRL ignores it there; refusing keeps a misconfigured comparison from passing silently.
            return "--label-smoothing has no meaning for loss type %s" % self.loss_type
        if self.loss_type == "robust" and not self.eps < 0.5:
            return "--label-smoothing must be below 0.5 for the robust loss (it divides by 1 - 2*eps)"
        if not self.eps <= 0.5:
            return "--label-smoothing must be at most 0.5"
        if not (math.isfinite(self.ftx) and self.ftx >= 0):
            return "--pref-ftx must be a finite number >= 0"
        return None

    def ftx_rows(self, n_rows):
        """Rows whose length divides the SFT term: DPO's chosen, IOPO's (x1,y1) and (x2,y2)."""
        if self.ftx == 0:
            return []
        offs = (0,) if self.objective == "dpo" else (0, 2)
        return [e * self.group + o for e in range(n_rows // self.group) for o in offs]

    def _margin_loss(self, z):
        b, eps = self.beta, self.eps
        if self.loss_type == "sigmoid":
            return -(1 - eps) * F.logsigmoid(b * z) - eps * F.logsigmoid(-b * z)
        if self.loss_type == "robust":
            return (-(1 - eps) * F.logsigmoid(b * z) + eps * F.logsigmoid(-b * z)) / (1 - 2 * eps)
        if self.loss_type == "ipo":
            return (z - 1 / (2 * b)) ** 2
        return torch.relu(1 - b * z)  # hinge; gradient 0 exactly at the kink, as torch.relu gives

    def __call__(self, seq_logp, seq_count, ref_logp):
        """seq_logp (B, with grad), seq_count (B) = sum of mask = the length used by pref_ftx, ref_logp (B, fixed).
        Returns loss (mean over examples), example_loss (E), z (E) and metrics {name: 0-d tensor}."""
        g = self.group
        E = seq_logp.shape[0] // g
        lp = seq_logp.view(E, g)
        ref = ref_logp.to(seq_logp.dtype).view(E, g)
        n = seq_count.to(seq_logp.dtype).view(E, g)
        rho = lp - ref
        if self.objective == "dpo":
            z = rho[:, 0] - rho[:, 1]
            ex = self._margin_loss(z)
            if self.ftx != 0:
                ex = ex + self.ftx * (-lp[:, 0] / n[:, 0])
        else:
            c1, r1, c2, r2 = rho.unbind(1)  # (x1,y1), (x1,y2), (x2,y2), (x2,y1)
            # Written through Pi1, Pi2 as the paper and the official trainer do; z equals c1 + c2 - r1 - r2.
            pi1 = 2 * c1 - r1 - r2
            pi2 = 2 * c2 - r2 - r1
            z = 0.5 * (pi1 + pi2)
            ex = self._margin_loss(z)
            if self.ftx != 0:
                ex = ex + self.ftx * (-lp[:, 0] / n[:, 0] - lp[:, 2] / n[:, 2])
        loss = ex.mean()
        return {"loss": loss, "example_loss": ex, "z": z, "metrics": self._metrics(lp.detach(), ref, rho.detach())}

    def _metrics(self, lp, ref, rho):
        rw = self.beta * rho
        if self.objective == "dpo":
            vals = (rw[:, 0], rw[:, 1], rw[:, 0] - rw[:, 1], (rw[:, 0] > rw[:, 1]).to(rw.dtype), lp[:, 0], lp[:, 1])
        else:
            vals = (rw[:, 0], rw[:, 1], rw[:, 2], rw[:, 3], rw[:, 0] - rw[:, 1], rw[:, 2] - rw[:, 3],
                    (rw[:, 0] > rw[:, 1]).to(rw.dtype), (rw[:, 2] > rw[:, 3]).to(rw.dtype),
                    lp[:, 0], lp[:, 1], lp[:, 2], lp[:, 3], ref[:, 0], ref[:, 1], ref[:, 2], ref[:, 3])
        return {name: v.mean() for name, v in zip(self.metric_names, vals)}
