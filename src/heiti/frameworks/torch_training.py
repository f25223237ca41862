"""Supervised training for classification: Adam, validation each epoch, early stopping,
and the best epoch's weights kept (by validation accuracy, then loss)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from heiti.core.dataset import Samples
from heiti.flow.progress import Progress
from heiti.frameworks.torch_tools import seed_everything


@dataclass
class TrainingResult:
    best_epoch: int
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def evaluate_split(module: torch.nn.Module, data: Samples, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``module`` on ``data``."""
    module.eval()
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = module(x[start : start + batch_size])
            target = y[start : start + batch_size]
            loss_sum += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += int((logits.argmax(1) == target).sum())
    return loss_sum / len(x), correct / len(x)


def fit(module: torch.nn.Module, train: Samples, val: Samples, settings: Any, seed: int) -> TrainingResult:
    """Train ``module`` in place; on return it holds the best epoch's weights."""
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _fit(module, train, val, settings, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(module: torch.nn.Module, train: Samples, val: Samples, settings: Any, seed: int) -> TrainingResult:
    generator = seed_everything(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    result = TrainingResult(best_epoch=0, best_val_accuracy=-1.0)
    best_key, best_state, stale = (-1.0, 0.0), None, 0
    progress = Progress(settings.epochs, "training")
    for epoch in range(1, settings.epochs + 1):
        module.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        scheduler.step()
        val_loss, val_accuracy = evaluate_split(module, val)
        train_loss, train_accuracy = evaluate_split(module, train)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                               "val_loss": val_loss, "val_accuracy": val_accuracy})
        progress.update(note=f"val_acc={val_accuracy:.4f} val_loss={val_loss:.4f}")
        key = (val_accuracy, -val_loss)
        if key > best_key:
            best_key, best_state, stale = key, copy.deepcopy(module.state_dict()), 0
            result.best_epoch, result.best_val_accuracy = epoch, val_accuracy
        else:
            stale += 1
            if settings.patience is not None and stale >= settings.patience:
                break
    progress.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return result
