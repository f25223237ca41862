"""Declarative rules of an accelerator platform, checked on a candidate before training.

A rule set is a YAML file (built-ins in ``automl/platforms/``) naming limits such as the
operators the accelerator runs, the kernel sizes and paddings of its convolutions, the
channels of a layer, the number of layers, weights and MACs. A candidate's layers are
heiti micro's operator units (``heiti.micro.ops``): the PyTorch importer reads the untrained
network, each operator is a layer whose kind is its unit's kind and whose weights and MACs
its unit counts, so an operator added as a unit is a kind rule files can name. The first
rule the candidate breaks is reported by name, with the layer that breaks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heiti.errors import InputError

# layer kinds of rule files before the kinds were heiti micro's units -> what to write now
RENAMED = {
    "depthwise-conv2d": "write conv2d: a depthwise convolution is a conv2d (groups = channels)",
    "global-avgpool": "write avgpool: global average pooling is an avgpool over the whole map",
    "relu": "a ReLU is fused into the layer before it: list it under 'activations: [relu]' "
            "(and 'clamp' under operators for a ReLU no layer absorbs)",
    "relu6": "a ReLU6 is fused into the layer before it: list it under 'activations: [relu6]' "
             "(and 'clamp' under operators for a ReLU6 no layer absorbs)",
}
# rules that need the candidate's operators (the others count weight tensors)
LAYER_RULES = ("operators", "activations", "kernel_sizes", "paddings", "strides", "max_channels",
               "max_macs")


class PlatformRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    operators: list[str] | None = Field(None, description="heiti micro operators (unit kinds) the "
                                        "platform runs")
    activations: list[str] | None = Field(None, description="activations (relu, relu6) the platform "
                                          "applies, fused into a layer or a clamp of their own")
    kernel_sizes: list[int] | None = Field(None, description="allowed square kernel sizes of conv2d")
    paddings: list[int] | None = Field(None, description="allowed paddings of conv2d")
    strides: list[int] | None = Field(None, description="allowed strides of conv2d")
    max_channels: int | None = Field(None, ge=1, description="input or output channels of a layer")
    max_layers: int | None = Field(None, ge=1, description="layers with weights")
    weight_bits: int = Field(8, ge=1, le=32, description="bits per weight on the platform")
    max_layer_weight_bytes: int | None = Field(None, ge=1, description="weight memory of one layer")
    max_weight_bytes: int | None = Field(None, ge=1, description="weight memory of the model")
    max_macs: int | None = Field(None, ge=1, description="multiply-accumulates per inference")


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # a heiti micro unit's kind: conv2d, dense, maxpool, avgpool, add, clamp, ...
    in_channels: int = 0  # of the first input (features of a flat one)
    out_channels: int = 0
    kernel: tuple[int, int] = (0, 0)  # conv2d only, as stride and padding
    stride: int = 1
    padding: int = 0
    weights: int = 0
    macs: int = 0
    activation: str | None = None  # relu or relu6 fused into it (a clamp's own)

    @property
    def has_weights(self) -> bool:
        return self.weights > 0


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def layers_of(module: Any, input_shape: tuple[int, ...]) -> list[Layer]:
    """The layers of a PyTorch module in execution order, read by heiti micro's importer
    (batch norm folds into its convolution, ReLUs into the layer before them; dropout,
    flattening and the input's preprocessing are no layers). InputError when the importer
    cannot read the module (an operator no unit implements)."""
    from heiti.micro.from_torch import from_torch
    from heiti.micro.ops import unit

    graph = from_torch(module, tuple(input_shape), 1.0)  # the input scale changes no layer
    names = graph.info.get("names", {})
    found = []
    for op in graph.ops:
        u = unit(op.kind)
        if not u.platform_layer:
            continue
        geometry: dict[str, Any] = {}
        if op.kind == "conv2d":  # what kernel_sizes, paddings and strides rule on
            geometry = {"kernel": tuple(int(k) for k in op.arrays["weight"].shape[2:]),
                        "stride": op.attrs["stride"], "padding": op.attrs["pad"]}
        found.append(Layer(names.get(op.output, op.output), op.kind, graph.tensors[op.inputs[0]].shape[0],
                           graph.tensors[op.output].shape[0], weights=u.weights(op), macs=u.macs(op, graph),
                           activation=op.attrs.get("act"), **geometry))
    return found


def check_module(module: Any, input_shape: tuple[int, ...],
                 rules: PlatformRules) -> tuple[Violation | None, dict[str, Any]]:
    """The first rule a PyTorch candidate breaks (or None), and facts: its MACs, or the rules
    left unchecked when heiti micro cannot read it (a network only a host runtime runs).
    Such a network breaks ``operators`` when the rules list them (no unit runs its
    unreadable part); otherwise its weight tensors (conv and linear weights) are checked
    against max_layers, max_layer_weight_bytes and max_weight_bytes, and the other rules
    are reported as not checked."""
    try:
        layers = layers_of(module, input_shape)
    except InputError as exc:
        why = exc.message.removeprefix("micro: ")
        if rules.operators is not None:
            return Violation("operators", f"{why}; {rules.name} runs only heiti micro operators "
                             f"({', '.join(rules.operators)})"), {}
        weighted = [Layer(name.removesuffix(".weight"), "", weights=p.numel())
                    for name, p in module.named_parameters() if name.endswith("weight") and p.dim() > 1]
        unchecked = [rule for rule in LAYER_RULES if getattr(rules, rule) is not None]
        violation = check(weighted, rules.model_copy(update=dict.fromkeys(unchecked)))
        return violation, {"rules_not_checked": f"{', '.join(unchecked)} ({why})"} if unchecked else {}
    return check(layers, rules), {"macs": sum(layer.macs for layer in layers)}


def check(layers: list[Layer], rules: PlatformRules) -> Violation | None:
    """The first rule the layers break, or None."""
    weighted = [layer for layer in layers if layer.has_weights]
    per_byte = rules.weight_bits / 8
    for layer in layers:
        if rules.operators is not None and layer.kind not in rules.operators:
            return Violation("operators", f"layer '{layer.name}' is a {layer.kind}, which "
                             f"{rules.name} does not run (it runs {', '.join(rules.operators)})")
        if rules.activations is not None and layer.activation not in (None, *rules.activations):
            return Violation("activations", f"layer '{layer.name}' ({layer.kind}) applies "
                             f"{layer.activation}, which {rules.name} does not (it applies "
                             f"{', '.join(rules.activations) or 'none'})")
        if layer.kind == "conv2d":
            square = layer.kernel[0] if layer.kernel[0] == layer.kernel[1] else None  # 8x4: never allowed
            for rule, value, shown, allowed in (
                    ("kernel_sizes", square, "x".join(map(str, layer.kernel)), rules.kernel_sizes),
                    ("paddings", layer.padding, layer.padding, rules.paddings),
                    ("strides", layer.stride, layer.stride, rules.strides)):
                if allowed is not None and value not in allowed:
                    return Violation(rule, f"layer '{layer.name}' has {rule[:-1].replace('_', ' ')} "
                                     f"{shown}; {rules.name} allows {allowed}")
        if rules.max_channels is not None and max(layer.in_channels, layer.out_channels) > rules.max_channels:
            return Violation("max_channels", f"layer '{layer.name}' has "
                             f"{max(layer.in_channels, layer.out_channels)} channels; {rules.name} "
                             f"allows {rules.max_channels}")
        limit = rules.max_layer_weight_bytes
        if limit is not None and layer.weights * per_byte > limit:
            return Violation("max_layer_weight_bytes", f"layer '{layer.name}' needs "
                             f"{layer.weights * per_byte:.0f} bytes of weights; {rules.name} has "
                             f"{rules.max_layer_weight_bytes} per layer")
    if rules.max_layers is not None and len(weighted) > rules.max_layers:
        return Violation("max_layers", f"{len(weighted)} layers with weights; {rules.name} runs at "
                         f"most {rules.max_layers}")
    total = sum(layer.weights for layer in weighted) * per_byte
    if rules.max_weight_bytes is not None and total > rules.max_weight_bytes:
        return Violation("max_weight_bytes", f"{total:.0f} bytes of weights; {rules.name} holds "
                         f"{rules.max_weight_bytes}")
    macs = sum(layer.macs for layer in layers)
    if rules.max_macs is not None and macs > rules.max_macs:
        biggest = max(layers, key=lambda layer: layer.macs)
        return Violation("max_macs", f"{macs} multiply-accumulates per inference (layer "
                         f"'{biggest.name}': {biggest.macs}); {rules.name} allows {rules.max_macs}")
    return None


def builtin_names() -> list[str]:
    folder = resources.files("heiti.automl") / "platforms"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def load_rules(name: str, base_dir: Path) -> PlatformRules:
    """A built-in rule set by name, or a rules file by path (relative to the scenario)."""
    if name.endswith((".yml", ".yaml")):
        path = Path(base_dir) / name
    elif name in builtin_names():
        path = Path(str(resources.files("heiti.automl") / "platforms" / f"{name}.yml"))
    else:
        raise InputError(f"search.platform: unknown platform '{name}' (built-in: "
                         f"{', '.join(builtin_names())})", hint="or name a rules file: platform: rules.yml")
    try:
        rules = PlatformRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(f"search.platform: cannot read '{path}': {exc}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputError(f"search.platform: '{path}' is not a valid rule set: {exc}") from None
    _check_operators(rules, path)
    return rules


def _check_operators(rules: PlatformRules, path: Path) -> None:
    """Every kind a rule file names is a heiti micro unit; an old kind gets its migration."""
    from heiti.micro.ops import units

    known = units()
    for kind in rules.operators or []:
        if kind in RENAMED:
            raise InputError(f"search.platform: '{path}' names operator '{kind}', a layer kind heiti "
                             f"no longer has (operators are heiti micro's units now)", hint=RENAMED[kind])
        if kind not in known:
            raise InputError(f"search.platform: '{path}' names operator '{kind}', which heiti micro "
                             f"does not have (it has {', '.join(sorted(known))})",
                             hint="docs/micro.md, 'Adding an operator', makes a new one")
