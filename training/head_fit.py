"""Training a bi-encoder's head on embedding features (`models.head.head_inputs`): the MLP (an ensemble
merged into one head) or the linear head (an exact logistic regression)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.head import HeadKind

if TYPE_CHECKING:
    import numpy as np
    import torch


class HeadSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "mlp": one hidden layer over [q, t, q*t, |q-t|, cos] (wins on QC); "linear": a logistic regression
    # over [q*t, |q-t|, cos], L2 strength 1/C, fitted exactly by sklearn (wins on QI: docs/quality.md).
    kind: HeadKind = "mlp"
    C: float = Field(default=0.3, gt=0)
    # Word overlap of query and target (models.lexical) read beside the embeddings.
    lexical: bool = False

    hidden: int = Field(default=256, ge=1)
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    epochs: int = Field(default=6, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    batch_size: int = Field(default=128, ge=1)
    seed: int = 0
    # Heads trained from seeds seed, seed+1, ...; their logits averaged. Merged into one wider head
    # (`merge_heads`), so the checkpoint and the serving code do not change with it.
    ensemble: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_linear_fit(self) -> HeadSettings:
        if self.kind == "linear" and self.ensemble != 1:
            raise ValueError("a linear head's fit is exact: ensemble must be 1")
        return self


def merge_heads(heads: Sequence[torch.nn.Sequential]) -> torch.nn.Sequential:
    """One head whose logit is the mean of `heads`' logits: hidden units side by side, the output layer's
    weights and bias divided by their number (dropout is off at inference)."""
    import torch

    from models.head import build_net

    first = heads[0][1]
    merged = build_net(first.in_features, kind="mlp", hidden=first.out_features * len(heads))
    with torch.no_grad():
        merged[1].weight.copy_(torch.cat([h[1].weight for h in heads]))
        merged[1].bias.copy_(torch.cat([h[1].bias for h in heads]))
        merged[4].weight.copy_(torch.cat([h[4].weight for h in heads], dim=1) / len(heads))
        merged[4].bias.copy_(torch.stack([h[4].bias for h in heads]).mean(0))
    return merged.eval()


def fit_head(
    x: torch.Tensor,
    labels: torch.Tensor,
    settings: HeadSettings,
    *,
    init: torch.nn.Sequential | Sequence[torch.nn.Sequential] | None = None,
) -> torch.nn.Sequential:
    """The head's network trained on input rows `x` (`models.head.head_inputs`).

    `init`: MLP heads whose training continues (e.g. pre-trained on another task's rows): one head that
    every seed starts from, or one per seed of the ensemble (`pretrain_heads`). Each starts from a copy
    (`init` is left as it was), with a fresh optimiser and the same settings otherwise (its dropout is
    `init`'s: a merged ensemble has none)."""
    import torch

    if init is not None and settings.kind != "mlp":
        raise ValueError("init continues an MLP head's training; a linear head's fit is exact")
    if settings.kind == "linear":
        return _fit_linear(x, labels, settings)
    seeds = range(settings.seed, settings.seed + settings.ensemble)
    if init is None or isinstance(init, torch.nn.Module):  # one head (a Sequential is also a sequence)
        inits = [init] * len(seeds)
    elif len(init) != len(seeds):
        raise ValueError(f"{len(init)} initial heads for an ensemble of {len(seeds)}")
    else:
        inits = list(init)
    heads = [
        _fit_mlp(x, labels, settings.model_copy(update={"seed": s}), init=start)
        for s, start in zip(seeds, inits, strict=True)
    ]
    return heads[0] if len(heads) == 1 else merge_heads(heads)


def pretrain_heads(
    x: torch.Tensor, labels: torch.Tensor, settings: HeadSettings
) -> list[torch.nn.Sequential]:
    """One MLP head per seed of the ensemble, unmerged: seed s of a later `fit_head(..., init=)` continues
    the head of seed s, so pre-training keeps the ensemble's diversity."""
    if settings.kind != "mlp":
        raise ValueError("pre-training trains MLP heads; a linear head's fit is exact")
    seeds = range(settings.seed, settings.seed + settings.ensemble)
    return [_fit_mlp(x, labels, settings.model_copy(update={"seed": s})) for s in seeds]


def _fit_linear(x: torch.Tensor, labels: torch.Tensor, settings: HeadSettings) -> torch.nn.Sequential:
    """sklearn's logistic regression (L-BFGS to convergence), its weights copied into the torch net."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from models.head import build_net

    fitted = LogisticRegression(C=settings.C, max_iter=3000).fit(x.numpy(), labels.numpy().astype(int))
    net = build_net(x.shape[1], kind="linear")
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(fitted.coef_).float())
        net[0].bias.copy_(torch.from_numpy(fitted.intercept_).float())
    return net.eval()


def _fit_mlp(
    x: torch.Tensor, labels: torch.Tensor, settings: HeadSettings, *, init: torch.nn.Sequential | None = None
) -> torch.nn.Sequential:
    """One head: binary cross-entropy, AdamW, fixed epochs, minibatches shuffled from `settings.seed`;
    from a copy of `init` when given, else from a fresh network."""
    import copy

    import torch

    from models.head import build_net

    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    if init is None:
        head = build_net(x.shape[1], kind="mlp", hidden=settings.hidden, dropout=settings.dropout)
    elif len(init) != 5 or init[1].in_features != x.shape[1]:
        raise ValueError(f"init is not an MLP head over {x.shape[1]} features: {init}")
    else:
        # A copy: the caller's head (e.g. one pre-trained head continued on several folds) stays intact.
        head = copy.deepcopy(init)
    opt = torch.optim.AdamW(head.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    head.train()
    for _ in range(settings.epochs):
        for rows in torch.randperm(len(labels), generator=generator).split(settings.batch_size):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                head(x[rows]).squeeze(-1), labels[rows]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


def head_scores(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return torch.sigmoid(net(x).squeeze(-1)).double().numpy()
