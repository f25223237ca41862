"""What the micro components share: reading a trained model as a float graph and
writing an integer graph as an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.iospec import IOSpec
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError
from heiti.micro.graph import Graph
from heiti.micro.quantize import detect_input_scale, signed_input_scale


class TorchToMicro(Optimizer):
    """Base of the optimizers that turn a zoo PyTorch model into an integer graph."""

    input_formats = ("torch",)
    output_format = "micro-int8"
    file_suffix = ".npz"
    requires = ("torch",)
    extra = "torch"


class SensitivityParams(Params):
    """Per-layer quantization sensitivity, measured at optimize time (docs/micro.md)."""

    sensitivity_samples: int = Field(
        200, ge=0, description="validation samples for the per-layer sensitivity (0: skip it)")
    warn_points: float = Field(
        1.0, ge=0, description="warn, naming the most sensitive layers, when int8 loses more than "
        "this many points (hundredths) of the task's primary metric against float")


def sensitivity(floats: Graph, graph: Graph, ctx: StepContext, params: SensitivityParams,
                producer: str) -> dict[str, Any] | None:
    """The sensitivity analysis for the artifact's details; logs a warning when the scheme
    loses more than ``warn_points``."""
    from heiti.micro.sensitivity import analyse, worst

    if not params.sensitivity_samples:
        return None
    data = samples(ctx, "val").head(params.sensitivity_samples)
    task, info = ctx.dataset.task, ctx.dataset.info()

    def metric(logits: Any) -> float | None:
        return task.evaluate(data, {"output": logits.astype("float32")}, info).primary

    result = analyse(floats, graph, data.x, metric) | {
        "metric": task.primary_metric, "higher_is_better": task.higher_is_better, "scheme": graph.scheme}
    if result["float"] is None or result["int8"] is None:
        return result
    loss = (result["float"] - result["int8"]) * (1 if task.higher_is_better else -1) * 100
    result["loss_points"] = round(loss, 2)
    if loss > params.warn_points:
        names = ", ".join(f"{layer['index']} {layer['kind']} ({task.primary_metric} alone "
                          f"{layer['metric_only_this_layer']:.4f}, SQNR {layer['sqnr_db']:.1f} dB)"
                          for layer in worst(result, task.higher_is_better))
        ctx.log(f"{producer}: warning: the {graph.scheme} scheme loses {loss:.1f} points of "
                f"{task.primary_metric} ({result['float']:.4f} float -> {result['int8']:.4f} int8 on "
                f"{result['samples']} validation samples); most sensitive layers: {names}")
    return result


def samples(ctx: StepContext, split: str) -> Any:
    """A split of the dataset, or all samples when the dataset is too small to split (a
    handful of samples evaluated with ``test: {split: all}``)."""
    try:
        return ctx.dataset.split(split)
    except InputError:
        return ctx.dataset.split("all")


def input_scale(given: float | None, ctx: StepContext) -> float:
    """The dataset's ``raw uint8 -> value`` factor, checked: the device reads raw bytes."""
    x = samples(ctx, "train").x
    if given is None:
        return detect_input_scale(x)
    raw = x / given
    if raw.min() < -0.5 or raw.max() > 255.5:
        raise InputError(f"micro: with input_scale {given:g} the inputs span raw values "
                         f"{raw.min():.1f}..{raw.max():.1f}, outside uint8 0..255",
                         hint="heiti micro models read raw uint8 inputs; use a dataset without "
                         "mean/std normalization (the model subtracts the mean itself)")
    return given


def input_grid(given: float | None, ctx: StepContext) -> tuple[float, str]:
    """The raw integers the device reads for a PyTorch model, as ``(scale, dtype)``: raw uint8
    (``input_scale``) for non-negative data; for data with negative values (e.g. vibration
    windows) int8 with zero point 0, on ``given`` or the power-of-two grid that holds the training
    split's largest magnitude."""
    x = samples(ctx, "train").x
    if x.min() >= 0:
        return input_scale(given, ctx), "uint8"
    if given is None:
        return signed_input_scale(x), "int8"
    raw = x / given
    if raw.min() < -128.5 or raw.max() > 127.5:
        raise InputError(f"micro: with input_scale {given:g} the signed inputs span raw values "
                         f"{raw.min():.1f}..{raw.max():.1f}, outside int8 -128..127",
                         hint="leave input_scale unset to fit the training data's range")
    return given, "int8"


def check_fit(floats: Graph, model: Artifact, ctx: StepContext) -> None:
    """The dataset's samples against the model's input: a refusal naming both shapes, with
    the dataset's own hint (e.g. its image size parameter), before any NumPy reshape fails."""
    found = tuple(samples(ctx, "train").x.shape[1:])
    want = tuple(floats.tensors[floats.input].shape)
    if found != want:
        hint = ctx.dataset.fit_hint(model.io) if ctx.dataset is not None else None
        raise InputError(f"micro: the dataset's samples are {list(found)}, the model takes {list(want)} "
                         "(channels x height x width)",
                         hint=hint or "give the dataset the model's input size and channel count")


def torch_float_graph(model: Artifact, scale: float, mean: Any = None,
                      dtype: str = "uint8") -> tuple[Any, Graph]:
    """The PyTorch module of a zoo artifact and its float graph (raw ``dtype`` input)."""
    from heiti.frameworks.torch_tools import load_module
    from heiti.micro.from_torch import from_torch

    module = load_module(model)
    shape = tuple(model.provenance.details["input_shape"])
    return module, from_torch(module, shape, scale, mean, dtype)


def graph_artifact(graph: Graph, output: Path, model: Artifact, producer: str,
                   details: dict[str, Any], versions: dict[str, str] | None = None) -> Artifact:
    graph.save(output)
    facts = {"scheme": graph.scheme, "input_scale": graph.input_scale, "output_scale": graph.output_scale,
             "weight_bytes": graph.weight_bytes(), "operators": [op.kind for op in graph.ops]}
    return Artifact(path=output, format="micro-int8", io=integer_io(model.io, graph),
                    provenance=Provenance(producer=f"optimizer:{producer}", tool_versions=versions or {},
                                          details=facts | details))


def integer_io(io: IOSpec, graph: Graph) -> IOSpec:
    """The model's IO as the device sees it: raw integers in (uint8, or an imported model's own
    int8), int8 out, each with its scale and zero point."""
    io = io.model_copy(deep=True)
    if len(io.inputs) != len(graph.inputs):
        names = ", ".join(spec.name for spec in io.inputs)
        raise InputError(f"micro: the model has {len(io.inputs)} inputs ({names}), its integer graph "
                         f"{len(graph.inputs)}")
    for k, name in enumerate(graph.inputs):  # each input with its own grid
        source = graph.tensors[name]
        scale = graph.input_scale if k == 0 else source.scale
        io.inputs[k] = io.inputs[k].model_copy(update={"dtype": source.dtype, "scale": scale,
                                                       "zero_point": source.zero_point,
                                                       "shape": [-1, *source.shape]})
    if len(io.outputs) != len(graph.outputs):
        names = ", ".join(spec.name for spec in io.outputs)
        raise InputError(f"micro: the model has {len(io.outputs)} outputs ({names}), its integer graph "
                         f"{len(graph.outputs)}")
    for k, name in enumerate(graph.outputs):
        t = graph.tensors[name]
        io.outputs[k] = io.outputs[k].model_copy(update={"dtype": "int8", "scale": t.scale,
                                                         "zero_point": t.zero_point})
    return io


def train_qat(model: Artifact, ctx: StepContext, params: Any) -> tuple[Any, Any]:
    """Quantization-aware fine-tuning of a zoo model; returns the network and the training result."""
    import numpy as np

    from heiti.frameworks.torch_training import fit
    from heiti.micro.qat import QatNet, compensate_mean
    from heiti.micro.quantize import calibrate
    from heiti.scenario import TrainSettings

    scale, dtype = input_grid(params.input_scale, ctx)
    train = ctx.dataset.split("train")
    mean = None
    if params.subtract_mean:
        raw = train.x / scale
        mean = np.rint(raw.mean(axis=tuple(i for i in range(raw.ndim) if i != 1))).astype(np.int32)
    _, floats = torch_float_graph(model, scale, mean, dtype)
    check_fit(floats, model, ctx)
    compensate_mean(floats)
    ranges = calibrate(floats, ctx.dataset.split("calibration").x[: params.calibration_samples])
    net = QatNet(floats, ranges, params.momentum, params.scheme)
    settings = TrainSettings(epochs=params.epochs, lr=params.lr, batch_size=params.batch_size,
                             patience=params.patience, threads=params.threads)
    return net, fit(net, train, ctx.dataset.split("val"), settings, ctx.seed, ctx.dataset.task,
                    [spec.name for spec in model.io.outputs])
