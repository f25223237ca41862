"""What the binary element-wise operators (add, mul) share: broadcasting and constant operands.

Operands of the same rank broadcast as NumPy does (a dimension of 1 repeats), e.g. a CHW
tensor with a per-channel vector (C, 1, 1) or a scalar (1, 1, 1). A constant second operand
(an int8 array of a ``.tflite`` file) is the array ``operand`` of the operator, which then has
one input."""

from __future__ import annotations

from typing import Any

import numpy as np


def operands(op: Any, inputs: list[Any], backend: Any) -> tuple[Any, Any]:
    """The two operands (batches), the constant one shaped to broadcast over the batch."""
    if "operand" in op.arrays:
        return inputs[0], backend.asarray(op.arrays["operand"])[None]
    return inputs[0], inputs[1]


def shapes(e: Any) -> list[tuple[int, ...]]:
    """The operands' shapes (one sample)."""
    op, tensors = e.op, e.graph.tensors
    found = [tensors[name].shape for name in op.inputs]
    return found + [op.arrays["operand"].shape] if "operand" in op.arrays else found


def infer_shape(shapes: list[tuple[int, ...]], arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    if "operand" in arrays:
        shapes = [*shapes, arrays["operand"].shape]
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


def second(e: Any) -> str:
    """The C expression of the second operand: a buffer or the constant array."""
    return e.buffer(e.op.inputs[1]) if len(e.op.inputs) > 1 else f"{e.name}_operand"


def c_broadcast(e: Any) -> str:
    """``hm_broadcast`` of the operator (heiti_micro.h): the output as 3-D and each operand's
    strides, 0 along the dimensions it repeats."""
    out = e.graph.tensors[e.op.output].shape
    dims = (1,) * (3 - len(out)) + tuple(out)
    strides = []
    for shape in shapes(e):
        full = (1,) * (3 - len(shape)) + tuple(shape)
        contiguous = [full[1] * full[2], full[2], 1]
        strides.append([s if n > 1 else 0 for s, n in zip(contiguous, full, strict=True)])
    fields = [f"{{{', '.join(map(str, v))}}}" for v in (dims, *strides)]
    return f"static const hm_broadcast {e.name}_shape = {{{', '.join(fields)}}};\n"


def broadcasts(e: Any) -> bool:
    """Whether an operand repeats along some dimension (else both are as large as the output)."""
    size = e.graph.tensors[e.op.output].size
    return any(int(np.prod(shape)) != size for shape in shapes(e))
