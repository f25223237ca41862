"""Base of the PyTorch zoo: a network architecture that heiti can build, train and save.

Weights are saved as a plain ``state_dict`` (loaded with ``weights_only=True``); the
architecture is rebuilt from the sidecar, so no pickled code is ever loaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from heiti.core.artifact import Artifact, Provenance
from heiti.core.files import atomic_path
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import Model, StepContext
from heiti.errors import InputError


class TorchModel(Model):
    output_format = "torch"
    file_suffix = ".pt"
    requires = ("torch",)
    extra = "torch"

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        """Return a fresh ``torch.nn.Module`` for inputs of ``input_shape`` (no batch dim)."""
        raise NotImplementedError

    def prepare(self, path: Path, train: Any, ctx: StepContext, force: bool = False) -> Artifact:
        config = self._config(train, ctx)
        if path.exists() and not force:
            existing = Artifact.load(path) if Artifact.sidecar_exists(path) else None
            if existing is None:
                raise InputError(f"model file '{path}' has no sidecar '{path.name}.json'; "
                                 "heiti cannot tell which architecture it holds")
            if train is None or existing.provenance.details.get("config") == config:
                ctx.log(f"model: using {path}")
                return existing
        if train is None:
            raise InputError(f"model file '{path}' does not exist and the scenario has no "
                             "'model.train' section to create it")
        return self._train(path, train, ctx, config)

    def _config(self, train: Any, ctx: StepContext) -> dict[str, Any]:
        return {"architecture": self.describe(), "dataset": ctx.dataset.describe(),
                "train": train.model_dump() if train else None, "seed": ctx.seed}

    def _train(self, path: Path, train: Any, ctx: StepContext, config: dict[str, Any]) -> Artifact:
        import torch

        from heiti.frameworks.torch_tools import seed_everything
        from heiti.frameworks.torch_training import evaluate_split, fit

        dataset = ctx.dataset
        input_shape = dataset.input_shape
        num_classes = len(dataset.class_names)
        seed_everything(ctx.seed)
        module = self.build(input_shape, num_classes)
        ctx.log(f"model: training {self.name} for up to {train.epochs} epochs")
        started = time.perf_counter()
        result = fit(module, dataset.split("train"), dataset.split("val"), train, ctx.seed)
        duration = time.perf_counter() - started
        _, test_accuracy = evaluate_split(module, dataset.split("test"))
        ctx.log(f"model: best epoch {result.best_epoch}, val accuracy {result.best_val_accuracy:.4f}")
        with atomic_path(path) as tmp:
            torch.save(module.state_dict(), tmp)
        artifact = Artifact(
            path=path,
            format=self.output_format,
            io=self.iospec(input_shape, num_classes, dataset.class_names),
            provenance=Provenance(
                producer=f"model:{self.name}",
                parameters=self.params.model_dump(mode="json"),
                tool_versions={"torch": torch.__version__},
                duration_s=duration,
                details={
                    "architecture": self.describe(),
                    "input_shape": list(input_shape),
                    "num_classes": num_classes,
                    "config": config,
                    "best_epoch": result.best_epoch,
                    "val_accuracy": result.best_val_accuracy,
                    "test_accuracy_after_training": test_accuracy,
                    "history": result.history,
                },
            ),
        )
        return artifact.save()

    @staticmethod
    def iospec(input_shape: tuple[int, ...], num_classes: int, class_names: list[str]) -> IOSpec:
        return IOSpec(
            inputs=[TensorSpec(name="input", shape=[-1, *input_shape])],
            outputs=[TensorSpec(name="logits", shape=[-1, num_classes])],
            class_names=class_names,
        )
