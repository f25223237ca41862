"""Supervised training of a PyTorch module for any task: Adam with a cosine schedule,
validation each epoch, early stopping, and the best epoch's weights kept (by the task's
validation score when it has one, then by validation loss). The task supplies the loss."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from heiti.core.dataset import Samples
from heiti.core.task import Task
from heiti.frameworks.torch_tools import seed_everything
from heiti.pipeline.progress import Progress

# called after each epoch with (epoch, val_loss, val_score); it may raise to stop training, as an
# AutoML search does to prune a poor trial or end one over its time limit
epoch_observer: ContextVar[Callable[[int, float, float | None], None] | None] = ContextVar(
    "epoch_observer", default=None)


@dataclass
class TrainingResult:
    best_epoch: int
    best_val_score: float | None  # the task's validation score of the best epoch (None: loss only)
    history: list[dict[str, float | None]] = field(default_factory=list)


def named(outputs: Any, names: Sequence[str]) -> dict[str, Any]:
    """A module's output (a tensor or a tuple) as a mapping of the model's output names."""
    values = outputs if isinstance(outputs, tuple | list) else (outputs,)
    return dict(zip(names, values, strict=True))


def evaluate_split(module: torch.nn.Module, data: Samples, task: Task, output_names: Sequence[str],
                   batch_size: int = 256) -> tuple[float, float | None]:
    """Mean loss of ``module`` on ``data`` and the task's validation score."""
    module.eval()
    tensors = [torch.from_numpy(a) for a in data.inputs.values()]
    loss_sum, collected = 0.0, []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            index = np.arange(start, min(start + batch_size, len(data)))
            inputs = {k: t[index] for k, t in zip(data.inputs, tensors, strict=True)}
            outputs = named(module(*inputs.values()), output_names)
            loss_sum += float(task.loss(inputs, outputs, task.select(data.truth, index))) * len(index)
            collected.append({k: v.numpy() for k, v in outputs.items()})
    merged = {k: np.concatenate([c[k] for c in collected]) for k in collected[0]}
    score = task.training_score({k: v for k, v in data.inputs.items()}, merged, data.truth)
    return loss_sum / len(data), score


def fit(module: torch.nn.Module, train: Samples, val: Samples, settings: Any, seed: int,
        task: Task, output_names: Sequence[str]) -> TrainingResult:
    """Train ``module`` in place; on return it holds the best epoch's weights."""
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _fit(module, train, val, settings, seed, task, output_names)
    finally:
        torch.set_num_threads(threads)


def _fit(module: torch.nn.Module, train: Samples, val: Samples, settings: Any, seed: int,
         task: Task, output_names: Sequence[str]) -> TrainingResult:
    generator = seed_everything(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    tensors = {k: torch.from_numpy(a) for k, a in train.inputs.items()}
    result = TrainingResult(best_epoch=0, best_val_score=None)
    best_key: tuple[float, float] | None = None
    best_state, stale = None, 0
    with Progress(settings.epochs, "training") as progress:  # a pruned trial stops inside
        observer = epoch_observer.get()
        for epoch in range(1, settings.epochs + 1):
            module.train()
            order = torch.randperm(len(train), generator=generator)
            for start in range(0, len(train), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                inputs = {k: t[batch] for k, t in tensors.items()}
                optimizer.zero_grad()
                outputs = named(module(*inputs.values()), output_names)
                loss = task.loss(inputs, outputs, task.select(train.truth, batch.numpy()))
                loss.backward()
                optimizer.step()
            scheduler.step()
            val_loss, val_score = evaluate_split(module, val, task, output_names)
            result.history.append({"epoch": epoch, "val_loss": val_loss, "val_score": val_score})
            shown = "" if val_score is None else f"val_score={val_score:.4f} "
            progress.update(note=f"{shown}val_loss={val_loss:.4f}")
            if observer is not None:
                observer(epoch, val_loss, val_score)
            key = (val_score if val_score is not None else 0.0, -val_loss)
            if best_key is None or key > best_key:
                best_key, best_state, stale = key, copy.deepcopy(module.state_dict()), 0
                result.best_epoch, result.best_val_score = epoch, val_score
            else:
                stale += 1
                if settings.patience is not None and stale >= settings.patience:
                    break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return result


def fine_tune(module: torch.nn.Module, ctx: Any, settings: Any, output_names: Sequence[str]
              ) -> TrainingResult | None:
    """Train a compressed network further on the task's own loss (``settings`` has the
    fields of a scenario's ``train`` section; 0 epochs: leave it as it is)."""
    if not settings.epochs:
        return None
    data = ctx.dataset
    return fit(module, data.split("train"), data.split("val"), settings, ctx.seed, data.task, output_names)
