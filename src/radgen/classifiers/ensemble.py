"""Training the seeds of one arm together: a batched ensemble through ``torch.func``.

The S networks of an arm share their architecture and training set and differ only in their
seed (initialisation, batch order, augmentation draws). ``torch.func.stack_module_state``
stacks their parameters into tensors with a leading seed axis and ``vmap(functional_call)``
runs the S forward passes as one (convolutions become one grouped convolution, linear layers
one batched matmul), so the per-step fixed costs (dispatch, optimizer, Python) are paid once
for S networks (the model-ensembling recipe of the torch.func tutorial).

Equivalence with :func:`radgen.classifiers.train.fit_classifier` with ``channels_last=False``, seed by seed
(the ensemble trains in NCHW layout whatever ``channels_last`` says; grouped convolutions are its own layout):
- each seed keeps its own ``torch.Generator`` and draws from it in the same order as alone
  (epoch permutation or oversampling draw, then per batch the augmentation), so every seed sees
  the same batches as alone;
- the loss is sum_s CE_s, so the gradient of seed s's parameters is that of CE_s alone;
- Adam/AdamW and the learning-rate schedules act elementwise, so the stacked update of seed s
  is its update alone;
- selection and early stopping are per seed: a seed whose patience ran out keeps the weights
  it selected (it is still carried along, at no effect on its result, until all have stopped).
So the weights equal those of training each seed alone up to float32 rounding (grouped vs.
single convolutions sum in another order), tested in ``tests/classifiers``.
Networks with buffers (BatchNorm running statistics) are refused: their in-place updates do
not batch; radgen's classifiers use GroupNorm.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from radgen.classifiers.train import (
    ClassifierTrainConfig,
    augment_batch,
    class_weights,
    epoch_indices,
    improved,
    make_optimizer,
    make_schedule,
    val_scores,
)
from radgen.data.base import ImageSet
from radgen.errors import ConfigError


def can_batch(model: nn.Module) -> bool:
    """Whether ``model`` can be trained in a batched ensemble (no buffers, e.g. no BatchNorm)."""
    return not any(True for _ in model.buffers())


def batching_pays(model: nn.Module) -> bool:
    """Whether batching is expected to be faster than one by one. Not on a CPU: benchmarks/ensemble.py
    measured cnn001 at 64 px, 5 seeds, 0.35x (batched 45.9 s vs 19.7 s one by one, median of 3 paired
    runs on the loaded 2-core machine; the grouped convolutions vmap makes are slower than S plain
    ones there), and vmap has no batching rule for GroupNorm (ResNet-18 width 4, 3 seeds, one step:
    0.21 s batched vs 3 x 0.053 s alone). Accelerators are untested, so ``auto`` stays off."""
    return (
        can_batch(model)
        and not any(isinstance(m, nn.GroupNorm) for m in model.modules())
        and any(p.device.type != "cpu" for p in model.parameters())
    )


def fit_classifiers_batched(
    models: list[nn.Module], train: ImageSet, val: ImageSet | None, cfgs: list[ClassifierTrainConfig]
) -> list[tuple[nn.Module, list[dict]]]:
    """Train ``models[s]`` with ``cfgs[s]`` (configs equal but for the seed) as one batched ensemble;
    return, per seed, the model holding its selected weights and its history, as ``fit_classifier``."""
    from torch.func import functional_call, stack_module_state, vmap

    if train.task != "multiclass":
        raise ConfigError("classifiers here are single-label; use a multiclass dataset")
    if not models or len(models) != len(cfgs):
        raise ValueError(f"{len(models)} models for {len(cfgs)} configs")
    first = cfgs[0]
    if any(replace(c, seed=0) != replace(first, seed=0) for c in cfgs):
        raise ValueError("a batched ensemble needs the same training config for every seed (seeds may differ)")
    if not all(can_batch(m) for m in models):
        raise ConfigError("a batched ensemble needs networks without buffers (no BatchNorm); train seeds one by one")
    n_seeds, cfg = len(models), first
    gens = [torch.Generator().manual_seed(c.seed) for c in cfgs]
    weight = class_weights(train.labels, train.num_classes) if cfg.loss == "weighted_ce" else None
    for m in models:
        m.train()
    params, _ = stack_module_state(models)  # name -> (S, ...) leaf tensors
    names = list(params)
    base = copy.deepcopy(models[0]).to("meta")

    def logits_fn(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, p, (x,))

    forward = vmap(logits_fn)  # ({name: (S, ...)}, (S, B, C, H, W)) -> (S, B, K)
    opt = make_optimizer([params[k] for k in names], cfg)
    sched = make_schedule(opt, cfg, math.ceil(len(train) / cfg.batch_size))
    best = [{k: v[s].detach().clone() for k, v in params.items()} for s in range(n_seeds)]
    best_v, bad = [math.inf] * n_seeds, [0] * n_seeds
    active = [True] * n_seeds
    histories: list[list[dict]] = [[] for _ in range(n_seeds)]
    for epoch in range(cfg.epochs):
        idx = [epoch_indices(train.labels, sampling=cfg.sampling, generator=g) for g in gens]  # (S, N)
        total = torch.zeros(n_seeds)
        for start in range(0, len(train), cfg.batch_size):
            xs, ys = [], []
            for s in range(n_seeds):
                b = idx[s][start : start + cfg.batch_size]
                xs.append(augment_batch(train.batch(b)[0], cfg.augment, gens[s]))
                ys.append(train.labels[b])  # train.batch's labels
            x, y = torch.stack(xs), torch.stack(ys)  # (S, B, C, H, W), (S, B)
            logits = forward(params, x)  # (S, B, K)
            per_seed = torch.stack(
                [F.cross_entropy(logits[s], y[s], weight=weight) for s in range(n_seeds)]
            )  # the loss of each seed, as alone
            opt.zero_grad(set_to_none=True)
            per_seed.sum().backward()  # d(sum_s CE_s)/d theta_s = dCE_s/d theta_s
            opt.step()
            if sched is not None:
                sched.step()
            total += per_seed.detach() * y.shape[1]
        rows = [{"epoch": epoch + 1, "train_loss": float(total[s]) / len(train)} for s in range(n_seeds)]
        if val is not None and len(val):
            with torch.no_grad():
                vlog = torch.cat(
                    [
                        forward(params, val._to_float(val.stored(slice(i, i + 512))).expand(n_seeds, -1, -1, -1, -1))
                        for i in range(0, len(val), 512)
                    ],
                    dim=1,
                )  # (S, N_val, K)
            for s in range(n_seeds):
                if not active[s]:
                    continue
                rows[s].update(val_scores(vlog[s], val.labels))
                better, v = improved(rows[s], best_v[s], cfg.select)
                if better:
                    best_v[s], bad[s] = v, 0
                    best[s] = {k: t[s].detach().clone() for k, t in params.items()}
                else:
                    bad[s] += 1
        else:
            best = [{k: v[s].detach().clone() for k, v in params.items()} for s in range(n_seeds)]
        for s in range(n_seeds):
            if active[s]:
                histories[s].append(rows[s])
                if cfg.patience is not None and val is not None and len(val) and bad[s] >= cfg.patience:
                    active[s] = False
        if not any(active):
            break
    out = []
    for s, m in enumerate(models):
        with torch.no_grad():
            for name, p in m.named_parameters():
                p.copy_(best[s][name])
        out.append((m.eval(), histories[s]))
    return out
