"""Quantization-aware training, in either scale scheme (power-of-two as KANJI, or
per-channel).

``QatNet`` holds trainable float weights for the operators of a float graph and,
per tensor, a moving average of its largest magnitude (like batch norm's running
statistics), from which the scale is snapped to the scheme. In training mode the
forward pass fake-quantizes weights, biases and activations with straight-through
gradients. In evaluation mode it exports the integer graph and runs it with the
golden semantics on PyTorch tensors, so what validation measures is exactly what
the generated C computes.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from heiti.micro import golden
from heiti.micro.graph import Graph
from heiti.micro.ops import unit
from heiti.micro.quantize import activation_scale, to_integer, weight_scales
from heiti.micro.torch_backend import TorchBackend


def fake_quant(v: torch.Tensor, scale: float | torch.Tensor, lo: int = -128, hi: int = 127) -> torch.Tensor:
    """Round to the grid with a straight-through gradient (zero outside the range)."""
    q = torch.clamp(v / scale, lo, hi)
    return (q + (torch.round(q) - q).detach()) * scale


class QatNet(nn.Module):
    def __init__(self, floats: Graph, ranges: dict[str, float], momentum: float = 0.9,
                 scheme: str = "pow2"):
        super().__init__()
        self.floats = floats
        self.momentum = momentum
        self.scheme = scheme
        self.params = nn.ParameterDict()
        for i, op in enumerate(floats.ops):
            for key in ("weight", "bias"):
                if key in op.arrays:
                    initial = torch.tensor(op.arrays[key], dtype=torch.float32)
                    self.params[f"op{i}_{key}"] = nn.Parameter(initial)
        self.register_buffer("ranges", torch.tensor([ranges.get(op.output, 0.0) for op in floats.ops],
                                                    dtype=torch.float64))

    def float_graph(self) -> Graph:
        """The float graph with the current (fine-tuned) weights."""
        graph = copy.copy(self.floats)
        graph.ops = [copy.copy(op) for op in self.floats.ops]
        for i, op in enumerate(graph.ops):
            op.arrays = {k: (self.params[f"op{i}_{k}"].detach().double().numpy() if k in ("weight", "bias")
                             else v) for k, v in op.arrays.items()}
        return graph

    def to_integer(self) -> Graph:
        """The integer graph of the current weights and tracked ranges."""
        graph = self.float_graph()
        ranges = {op.output: float(r) for op, r in zip(graph.ops, self.ranges.tolist(), strict=True)}
        return to_integer(graph, ranges, self.scheme)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            graph = self.to_integer()
            info = np.iinfo(graph.tensors[graph.input].dtype)  # raw uint8, or int8 for signed data
            raw = torch.clamp(torch.round(x.double() / graph.input_scale), info.min, info.max)
            q = golden.run(graph, raw, TorchBackend)
            return ((q.double() - graph.output_zero_point) * graph.output_scale).float()
        return self._train_forward(x)

    def _observe(self, i: int, v: torch.Tensor) -> float:
        with torch.no_grad():
            seen = float(v.detach().abs().max())
            old = float(self.ranges[i])
            self.ranges[i] = seen if old == 0 else self.momentum * old + (1 - self.momentum) * seen
        return activation_scale(float(self.ranges[i]), self.scheme)

    def _train_forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.floats.input: x}
        scales: dict[str, float] = {}
        for i, op in enumerate(self.floats.ops):
            rules = unit(op.kind)
            inputs = [values[name] for name in op.inputs]
            if rules.weighted:  # fake-quantized weights and bias, straight-through gradients
                s_in = scales[op.inputs[0]]
                w = self.params[f"op{i}_weight"]
                s_w = torch.from_numpy(weight_scales(w.detach().double().numpy(), self.scheme)).float()
                w = fake_quant(w, s_w.reshape((-1,) + (1,) * (w.ndim - 1)), -127, 127)
                b = fake_quant(self.params[f"op{i}_bias"], s_in * s_w, -(2**30), 2**30)
                out = rules.train_forward(op, inputs, self.floats, w, b)
            else:
                out = rules.train_forward(op, inputs, self.floats)
            if rules.keeps_scale:
                scales[op.output] = scales[op.inputs[0]]
            else:
                scales[op.output] = self._observe(i, out)
            values[op.output] = out if rules.in_place == "always" else fake_quant(out, scales[op.output])
        return values[self.floats.output]


def compensate_mean(graph: Graph) -> None:
    """Fold the preprocessing mean into the first convolution's bias, so a float model
    trained without mean subtraction starts out (away from the borders) unchanged."""
    pre, first = graph.ops[0], graph.ops[1] if len(graph.ops) > 1 else None
    if first is None or first.kind != "conv2d" or first.attrs["groups"] != 1 or not pre.arrays["mean"].any():
        return
    mean = pre.arrays["mean"] * graph.input_scale
    first.arrays["bias"] = first.arrays["bias"] + np.einsum("oihw,i->o", first.arrays["weight"], mean)
