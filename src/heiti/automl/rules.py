"""Declarative rules of an accelerator platform, checked on a candidate before training.

A rule set is a YAML file (built-ins in ``automl/platforms/``) naming limits such as the
operators the accelerator runs, the kernel sizes and paddings of its convolutions, the
channels of a layer, the number of layers and the weight memory of a layer. A candidate
is read as a list of layers (from its PyTorch modules, untrained) and the first rule it
breaks is reported by name, with the layer that breaks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heiti.errors import InputError


class PlatformRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    operators: list[str] | None = Field(None, description="layer kinds the platform runs")
    kernel_sizes: list[int] | None = Field(None, description="allowed square kernel sizes of conv2d")
    paddings: list[int] | None = Field(None, description="allowed paddings of conv2d")
    strides: list[int] | None = Field(None, description="allowed strides of conv2d")
    max_channels: int | None = Field(None, ge=1, description="input or output channels of a layer")
    max_layers: int | None = Field(None, ge=1, description="layers with weights (conv2d, dense)")
    weight_bits: int = Field(8, ge=1, le=32, description="bits per weight on the platform")
    max_layer_weight_bytes: int | None = Field(None, ge=1, description="weight memory of one layer")
    max_weight_bytes: int | None = Field(None, ge=1, description="weight memory of the model")


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # conv2d, depthwise-conv2d, dense, maxpool, avgpool, global-avgpool, relu, add, ...
    in_channels: int = 0
    out_channels: int = 0
    kernel: tuple[int, int] = (0, 0)
    stride: int = 1
    padding: int = 0
    weights: int = 0

    @property
    def has_weights(self) -> bool:
        return self.weights > 0


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def layers_of(module: Any) -> list[Layer]:
    """The layers of a zoo PyTorch module in execution order (batch norm, dropout and
    flatten fold away on any accelerator and are not listed)."""
    from torch import nn

    found: list[Layer] = []

    def walk(m: Any, path: str) -> None:
        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                walk(child, f"{path}.{name}" if path else name)
        elif hasattr(m, "body") and hasattr(m, "residual"):
            walk(m.body, f"{path}.body")
            if m.residual:
                found.append(Layer(path, "add"))
        elif isinstance(m, nn.Conv2d):
            depthwise = m.groups > 1 and m.groups == m.in_channels
            pad = m.padding[0] if isinstance(m.padding, tuple) else -1
            found.append(Layer(path, "depthwise-conv2d" if depthwise else "conv2d", m.in_channels,
                               m.out_channels, tuple(m.kernel_size), m.stride[0], pad, m.weight.numel()))
        elif isinstance(m, nn.Linear):
            found.append(Layer(path, "dense", m.in_features, m.out_features, weights=m.weight.numel()))
        elif isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
            found.append(Layer(path, "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            found.append(Layer(path, "global-avgpool"))
        elif isinstance(m, nn.ReLU | nn.ReLU6):
            found.append(Layer(path, type(m).__name__.lower()))
        elif not isinstance(m, nn.BatchNorm2d | nn.Dropout | nn.Flatten | nn.Identity):
            found.append(Layer(path, type(m).__name__))
    walk(module, "")
    return found


def check(layers: list[Layer], rules: PlatformRules) -> Violation | None:
    """The first rule the layers break, or None."""
    weighted = [layer for layer in layers if layer.has_weights]
    per_byte = rules.weight_bits / 8
    for layer in layers:
        if rules.operators is not None and layer.kind not in rules.operators:
            return Violation("operators", f"layer '{layer.name}' is a {layer.kind}, which "
                             f"{rules.name} does not run (it runs {', '.join(rules.operators)})")
        if layer.kind.endswith("conv2d"):
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
        return PlatformRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(f"search.platform: cannot read '{path}': {exc}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputError(f"search.platform: '{path}' is not a valid rule set: {exc}") from None
