"""What the pooling operators share: the kernels' parameter struct."""

from __future__ import annotations

from typing import Any

_MODES = {"round": "HM_POOL_ROUND", "requant": "HM_POOL_REQUANT", "qdq": "HM_POOL_QDQ"}


def c_struct(e: Any, kh: int, kw: int) -> str:
    """``hm_pool_params`` of a pooling operator (see heiti_micro.h)."""
    op, a = e.op, e.op.attrs
    c, h, w = e.graph.tensors[op.inputs[0]].shape
    _, oh, ow = e.graph.tensors[op.output].shape
    if e.rounding == "HM_HEITI":
        tail = ["HM_POOL_HEITI", 0, 0, 0, 0, 0, 0, "HM_HEITI"]
    else:
        mode = _MODES[a.get("mode", "round")] if op.kind == "avgpool" else "HM_POOL_ROUND"
        mult, shift = (int(op.arrays[k][0]) for k in ("mult", "shift")) if "mult" in op.arrays else (0, 0)
        tail = [mode, a.get("act_min", -128), a.get("act_max", 127), a.get("in_zp", 0), a.get("out_zp", 0),
                mult, shift, e.rounding]
    return e.struct("hm_pool_params", [c, h, w, kh, kw, a["stride"], oh, ow, *tail])
