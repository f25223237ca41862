"""Per-layer quantization sensitivity: which layers an int8 scheme hurts.

For every layer with its own quantization (convolutions, dense layers, additions,
average pooling with its own grid) two figures, as in layer-wise analyses of
post-training quantization:

- the signal-to-quantization-noise ratio of its int8 output in the integer graph
  against its float value, ``10 log10(sum f^2 / sum (f - q)^2)`` in dB (errors of
  earlier layers included, as deployed);
- the task's primary metric when only this layer is quantized (its int8 weights and
  bias, its output rounded to its int8 grid) and every other layer stays float.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from heiti.micro import golden
from heiti.micro.floatgraph import float_run_all
from heiti.micro.graph import Graph, Op
from heiti.micro.ops import unit

MAX_DB = 99.0  # an exact layer (no noise at all) is reported at this SQNR


def sqnr_db(reference: np.ndarray, value: np.ndarray) -> float:
    noise = float(np.sum((reference - value) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0:
        return MAX_DB
    return min(MAX_DB, 10 * np.log10(signal / noise)) if signal > 0 else 0.0


def _factors(op: Op) -> np.ndarray:
    """The real rescaling factor of each output channel: ``M * 2^-n``."""
    shift = op.arrays["shift"].astype(np.float64)
    mult = op.arrays["mult"].astype(np.float64) if "mult" in op.arrays else np.ones_like(shift)
    return mult * 2.0**-shift


def _only_this_layer(floats: Graph, graph: Graph, i: int) -> tuple[Graph, dict[str, Callable]]:
    """The float graph with operator ``i``'s weights, bias and output on their int8 grids."""
    op = graph.ops[i]
    out = graph.tensors[op.output]
    single = copy.copy(floats)
    single.ops = list(floats.ops)
    if unit(op.kind).weighted:
        s_in = graph.tensors[op.inputs[0]].scale
        s_w = _factors(op) * out.scale / s_in  # factor = s_in * s_w / s_out
        shaped = s_w.reshape((-1,) + (1,) * (op.arrays["weight"].ndim - 1))
        arrays = dict(floats.ops[i].arrays, weight=op.arrays["weight"] * shaped,
                      bias=op.arrays["bias"] * s_in * s_w)
        single.ops[i] = Op(op.kind, op.inputs, op.output, floats.ops[i].attrs, arrays)
    lo, hi = op.attrs.get("act_min", -128), op.attrs.get("act_max", 127)

    def on_grid(v: np.ndarray) -> np.ndarray:
        q = np.clip(np.rint(v / out.scale) + out.zero_point, lo, hi)
        return (q - out.zero_point) * out.scale

    return single, {op.output: on_grid}


def analyse(floats: Graph, graph: Graph, x: np.ndarray,
            metric: Callable[[np.ndarray], float | None]) -> dict[str, Any]:
    """Sensitivity of every quantized layer of ``graph`` (made from ``floats``) on inputs ``x``;
    ``metric`` scores float logits (the task's primary metric)."""
    float_values = float_run_all(floats, x)
    int_values = golden.run_all(graph, graph.quantize_input(x))
    layers = []
    for i, op in enumerate(graph.ops):
        if not (unit(op.kind).requantizes(op) or op.kind in ("avgpool", "maxpool")):  # pooling rounds too
            continue
        t = graph.tensors[op.output]
        deployed = (int_values[op.output] - t.zero_point) * t.scale
        single, after = _only_this_layer(floats, graph, i)
        alone = metric(float_run_all(single, x, after, float_values, i)[floats.output])
        name = graph.info.get("names", {}).get(op.output, op.output)  # the model's own, when known
        layers.append({"index": i, "kind": op.kind, "tensor": name,
                       "sqnr_db": round(float(sqnr_db(float_values[op.output], deployed)), 2),
                       "metric_only_this_layer": alone})
    deployed_out = graph.dequantize(int_values[graph.output])
    return {"samples": len(x), "float": metric(float_values[floats.output]),
            "int8": metric(deployed_out), "layers": layers}


def worst(result: dict[str, Any], higher_is_better: bool, count: int = 3) -> list[dict[str, Any]]:
    """The layers that hurt most alone: the worst metric first, then the lowest SQNR."""
    def order(layer: dict[str, Any]) -> tuple[float, float]:
        alone = layer["metric_only_this_layer"]
        loss = 0.0 if alone is None else (-alone if higher_is_better else alone)
        return -loss, layer["sqnr_db"]

    return sorted(result["layers"], key=order)[:count]
