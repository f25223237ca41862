"""Quantization-aware training into a heiti micro integer graph (power-of-two scales)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.micro.steps import SensitivityParams, TorchToMicro


class MicroQatParams(SensitivityParams):
    scheme: Literal["pow2", "per-channel", "tflite", "tflite-single"] = Field(
        "pow2", description="pow2: power-of-two scales, shift-only requantization (KANJI); "
        "per-channel: per-channel weight scales, fixed-point multipliers; tflite: TFLite's int8 "
        "scheme (zero points; ranges of ReLU outputs start at 0); tflite-single: with single rounding")
    epochs: int = Field(10, ge=1)
    lr: float = Field(5e-4, gt=0, description="learning rate (Adam)")
    batch_size: int = Field(32, ge=1)
    patience: int | None = Field(None, ge=1, description="early stopping: epochs without improvement")
    subtract_mean: bool = Field(True, description="preprocessing subtracts the training set's integer "
                                "mean per channel (input-independent, runs on the raw uint8 input)")
    calibration_samples: int = Field(200, ge=1, description="samples that set the initial ranges")
    momentum: float = Field(0.9, ge=0, lt=1, description="of the moving averages of activation ranges")
    input_scale: float | None = Field(
        None, gt=0, description="dataset value = raw uint8 * input_scale (default: detected)")
    threads: int = Field(1, ge=0, description="CPU threads for training (0: PyTorch's default)")


class MicroQat(TorchToMicro):
    """Fine-tunes a PyTorch model with int8 quantization in the loop (KANJI):
    in evaluation mode the network computes exactly the integers of the exported graph and
    the generated C, so validation accuracy is deployed accuracy."""

    name = "micro-qat"
    Params = MicroQatParams

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import torch

        from heiti.micro.steps import graph_artifact, sensitivity, train_qat

        net, result = train_qat(model, ctx, self.params)
        graph = net.to_integer()
        ctx.log(f"micro-qat: best epoch {result.best_epoch}, "
                f"int8 validation score {result.best_val_score:.4f}")
        details = {"best_epoch": result.best_epoch, "val_score": result.best_val_score,
                   "history": result.history,
                   "sensitivity": sensitivity(net.float_graph(), graph, ctx, self.params, self.name)}
        return graph_artifact(graph, output, model, self.name, details, {"torch": torch.__version__})
