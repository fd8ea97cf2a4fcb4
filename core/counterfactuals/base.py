"""What the counterfactual methods share: the target rule, the classification loss, the factual rows in the
standardised space with their actionable box, validity, and the result (the attacks' ``AttackResult``:
``x_adv`` is the counterfactual in the data's units, ``delta`` its change, ``success`` its validity)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.attacks.result import AttackResult
from core.counterfactuals.actionable import ActionableSet
from core.validate import check_labels, check_on_model


def default_target(logits: torch.Tensor) -> torch.Tensor:
    """The class a counterfactual aims at: (prediction + 1) mod K (binary: the other class; MNIST: the issue's
    (y + 1) mod 10, of the model's decision)."""
    return (logits.argmax(1) + 1) % logits.shape[1]


def margin_loss(logits: torch.Tensor, t: torch.Tensor, kappa: float) -> torch.Tensor:
    """L(y, t) = max(max_{i != t} Z_i - Z_t + kappa, 0) per row: the S-CFE code's loss on logits Z (CEM's
    f_kappa up to a constant), zero once t leads by kappa."""
    z_t = logits.gather(1, t[:, None]).squeeze(1)
    others = logits.scatter(1, t[:, None], float("-inf")).amax(1)
    return (others - z_t + kappa).clamp_min(0)


class Flattened(nn.Module):
    """A model on images seen as rows (N, C*H*W): rows are reshaped to ``shape`` before ``model``."""

    def __init__(self, model: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.model, self.shape = model, tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.view(len(x), *self.shape))


@dataclass(frozen=True)
class Factual:
    """Rows ``x`` (N, D, data units) to explain, in the standardised space (``z``), their targets ``t``,
    the box of their perturbations (``lo``, ``hi``: A - z, holding 0) and the decisions before."""

    model: nn.Module
    actionable: ActionableSet
    x: torch.Tensor
    z: torch.Tensor
    t: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    before: torch.Tensor

    @classmethod
    def of(cls, model: nn.Module, x: torch.Tensor, actionable: ActionableSet,
           target: torch.Tensor | None) -> Factual:
        actionable.check(x)
        check_on_model(model, x)
        with torch.no_grad():
            logits = model(x)
        t = default_target(logits) if target is None else check_labels("targets", target, len(x), logits.shape[1])
        t = t.to(x.device)
        z = actionable.to_z(x)
        lo, hi = actionable.box(z)
        return cls(model, actionable, x, z, t, lo - z, hi - z, logits.argmax(1))

    def logits(self, w: torch.Tensor) -> torch.Tensor:
        return self.model(self.actionable.from_z(self.z + w))

    def valid(self, w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.logits(w).argmax(1) == self.t

    def result(self, name: str, w: torch.Tensor, valid: torch.Tensor, weight: torch.Tensor, steps: int,
               params: dict) -> AttackResult:
        """The counterfactuals x + delta in the data's units (exactly x where w is 0)."""
        moved = self.actionable.from_z(self.z + w)
        cf = torch.where(w != 0, moved, self.x)
        with torch.no_grad():
            after = self.model(cf).argmax(1)
        return AttackResult(name, cf.detach(), (cf - self.x).detach(), after == self.t,
                            torch.full_like(self.t, steps), params,
                            {"target": self.t, "before": self.before, "after": after, "weight": weight.detach()})
