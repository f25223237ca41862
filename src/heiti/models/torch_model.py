"""Base of the PyTorch zoo: a network architecture that heiti can build, train and save.

Weights are saved as a plain ``state_dict`` (loaded with ``weights_only=True``); the
architecture is rebuilt from the sidecar, so no pickled code is ever loaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from heiti.core.artifact import Artifact, Provenance, save_with_sidecar
from heiti.core.build import build_step
from heiti.core.cache import StepKey, tool_versions
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import Model, StepContext
from heiti.errors import InputError


class TorchModel(Model):
    """Base of zoo architectures. ``build`` returns a module whose ``forward`` takes the
    dataset's inputs in order and returns one tensor or a tuple, named ``output_names``."""

    output_format = "torch"
    file_suffix = ".pt"
    requires = ("torch",)
    extra = "torch"
    output_names: ClassVar[tuple[str, ...]] = ("logits",)

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        """Return a fresh ``torch.nn.Module`` for inputs of ``input_shape`` (no batch dim);
        ``num_classes`` is the dataset's class (or category) count, 0 when it has none."""
        raise NotImplementedError

    def postprocess(self) -> dict[str, Any] | None:
        """The model's post-processing after inference (e.g. box decoding), untimed."""
        return None

    def prepare(self, path: Path, train: Any, ctx: StepContext, force: bool = False) -> Artifact:
        if path.exists() and (not force or train is None):
            if not Artifact.sidecar_exists(path):
                raise InputError(f"model file '{path}' has no sidecar '{path.name}.json'; "
                                 "heiti cannot tell which architecture it holds",
                                 hint="retrain it with 'heiti train --force' or remove the file")
            existing = Artifact.load(path)  # a damaged sidecar is refused with a hint
            if train is None:
                ctx.log(f"model: using {path}")
                return existing
            if not existing.is_current():  # someone's edit: not replaced without being asked
                raise InputError(f"model file '{path}' was changed after heiti wrote it (its sha256 "
                                 f"is not the one '{path.name}.json' records)",
                                 hint="restore it, or retrain it with 'heiti train --force'")
        if train is None:
            raise InputError(f"model file '{path}' does not exist and the scenario has no "
                             "'model.train' section to create it")
        key = self.training_key(train, ctx)
        module = self._fresh(ctx)  # checked before training is announced
        return build_step(key, path, lambda: self._train(module, path, train, ctx, key), ctx, label="model",
                          action=f"training {self.name} for up to {train.epochs} epochs", force=force,
                          owned=True)

    def training_key(self, train: Any, ctx: StepContext) -> StepKey:
        """What decides the trained weights: the dataset's content, the architecture, the
        training settings, the seed and the library versions."""
        return StepKey(tool=f"model:{self.name}", dataset=ctx.dataset.fingerprint(), seed=ctx.seed,
                       parameters={"architecture": self.params.model_dump(mode="json"),
                                   "train": train.model_dump(mode="json")},
                       versions=tool_versions(self.requires))

    def _fresh(self, ctx: StepContext) -> Any:
        """The architecture with its seeded initial weights, for the dataset and its task."""
        from heiti.frameworks.torch_tools import seed_everything

        dataset = ctx.dataset
        seed_everything(ctx.seed)
        module = self.build(dataset.input_shape, len(dataset.class_names))
        # a model that cannot serve the task (an autoencoder under classification) is
        # refused now, not by the loss halfway into the first epoch
        dataset.task.check_model(self.iospec(module, dataset.input_specs(), dataset.class_names),
                                 dataset.info())
        return module

    def _train(self, module: Any, path: Path, train: Any, ctx: StepContext, key: StepKey) -> Artifact:
        from heiti.frameworks.torch_training import evaluate_split, fit

        dataset, task = ctx.dataset, ctx.dataset.task
        started = time.perf_counter()
        result = fit(module, dataset.split("train"), dataset.split("val"), train, ctx.seed, task,
                     self.output_names)
        duration = time.perf_counter() - started
        _, test_score = evaluate_split(module, dataset.split("test"), task, self.output_names)
        shown = "" if result.best_val_score is None else f", validation score {result.best_val_score:.4f}"
        ctx.log(f"model: best epoch {result.best_epoch}{shown}")
        return self._save(module, path, ctx, duration, {
            "best_epoch": result.best_epoch, "val_score": result.best_val_score,
            "test_score_after_training": test_score, "history": result.history}, key)

    def untrained(self, path: Path, ctx: StepContext) -> Artifact:
        """The architecture with its initial weights: what an AutoML search converts and
        links to check a candidate fits before spending any training on it."""
        module = self._fresh(ctx).eval()
        return self._save(module, path, ctx, 0.0, {"untrained": True})

    def _save(self, module: Any, path: Path, ctx: StepContext, duration: float,
              facts: dict[str, Any], key: StepKey | None = None) -> Artifact:
        import torch

        dataset = ctx.dataset
        artifact = Artifact(
            path=path,
            format=self.output_format,
            io=self.iospec(module, dataset.input_specs(), dataset.class_names),
            provenance=Provenance(
                producer=f"model:{self.name}",
                parameters=self.params.model_dump(mode="json"),
                tool_versions={"torch": torch.__version__},
                duration_s=duration,
                key=key,
                scenario=ctx.scenario if key is not None else None,
                details={"architecture": self.describe(), "input_shape": list(dataset.input_shape),
                         "num_classes": len(dataset.class_names), **facts},
            ),
        )
        save_with_sidecar(artifact, lambda tmp: torch.save(module.state_dict(), tmp))
        return artifact

    def iospec(self, module: Any, inputs: list[TensorSpec], class_names: list[str]) -> IOSpec:
        """Inputs as the dataset names them; outputs named ``output_names``, shaped by a
        forward pass on zeros."""
        import torch

        from heiti.frameworks.torch_training import named

        with torch.no_grad():
            probe = [torch.zeros([1, *spec.shape[1:]]) for spec in inputs]
            outputs = named(module.eval()(*probe), self.output_names)
        return IOSpec(
            inputs=[spec.model_copy() for spec in inputs],
            outputs=[TensorSpec(name=name, shape=[-1, *t.shape[1:]]) for name, t in outputs.items()],
            class_names=class_names or None,
            postprocess=self.postprocess(),
        )
