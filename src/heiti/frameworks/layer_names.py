"""A runtime's profiled layers traced back to the ONNX model's own nodes.

Runtimes rename what they optimize: ONNX Runtime calls a fused convolution ``fused NAME``, a
kernel of its NCHWc layout after the tensor it computes (``TENSOR_nchwc``) and a QDQ group
``NAME_quant``; OpenVINO appends what it did to the node's name (``NAME/WithoutBiases``) or
names a node after its output tensor. Reports match host layers to the board's (which keep the
model's node names) through these nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

# operators the runtimes fuse into the convolution or matrix product before them
FUSED_AFTER = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Add"}


def node_tracer(path: Path) -> Callable[[str], list[str]]:
    """A function from a runtime's layer name to the model nodes it computes (first the node
    that names it, then an activation fused after it); empty for layers the runtime added
    (layout reorders, conversions)."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    by_name = {node.name: node for node in nodes if node.name}
    producer = {tensor: node for node in nodes for tensor in node.output}
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in nodes:
        for tensor in node.input:
            readers[tensor].append(node)

    def before(node: Any) -> Any:
        """The node an activation was fused into: its single-reader input's producer."""
        first = producer.get(node.input[0]) if node.input else None
        return first if first is not None and len(readers[first.output[0]]) == 1 else None

    def after(node: Any) -> list[Any]:
        """The activation fused into ``node``: its output's only reader."""
        following = readers[node.output[0]]
        return following if len(following) == 1 and following[0].op_type in FUSED_AFTER else []

    def trace(name: str) -> list[str]:
        chain: list[Any] = []
        if name.startswith("fused "):  # ONNX Runtime's FusedConv, FusedGemm
            node = by_name.get(name.removeprefix("fused "))
            chain = [node, *after(node)] if node is not None else []
        else:
            base = name.removesuffix("_nchwc").removesuffix("_quant")
            prefixes = [base[:i] for i, c in enumerate(base) if c == "/" and base[:i] in by_name]
            if base in by_name or prefixes:
                chain = [by_name.get(base) or by_name[prefixes[-1]]]
            elif base in producer:  # named after its output: from the fused activation back
                chain = [producer[base]]
                while chain[0].op_type in FUSED_AFTER and (first := before(chain[0])) is not None:
                    chain.insert(0, first)
        return [node.name or node.output[0] for node in chain]

    return trace
