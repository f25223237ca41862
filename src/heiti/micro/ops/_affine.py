"""What conv2d and dense share: quantizing int8 weights with an int32 bias and per-channel
requantization, and the weight arrays in the DSP kernels' order."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.ops import integer_op

MAX_FAN_IN = 65535  # 65535 * 128 * 128 + 2^30 (bias) < 2^31


def _fan_in(op: Any) -> None:
    fan_in = int(np.prod(op.arrays["weight"].shape[1:]))
    if fan_in > MAX_FAN_IN:
        raise InputError(f"micro: {op.kind} with fan-in {fan_in} is not supported "
                         f"(at most {MAX_FAN_IN} inputs per output)")


def _weights(op: Any, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(per-channel scales, int8 weights): imported int8 weights are kept exactly."""
    from heiti.micro.quantize import quantize_weight, weight_scales

    if "weight_q" in op.arrays:
        return op.arrays["weight_scale"], op.arrays["weight_q"]
    scales = weight_scales(op.arrays["weight"], scheme)
    return scales, quantize_weight(op.arrays["weight"], scales)


def quantize(op: Any, scales: dict[str, float], scheme: str) -> Any:
    """pow2 and per-channel: symmetric int8 weights and activations, heiti's requantization."""
    from heiti.micro.quantize import clamps, quantize_bias, requant_arrays

    _fan_in(op)
    in_scale, out_scale = scales[op.inputs[0]], scales[op.output]
    w_scales, w_q = _weights(op, scheme)
    arrays = {"weight": w_q, "bias": quantize_bias(op.arrays["bias"], in_scale * w_scales)}
    arrays |= requant_arrays(in_scale * w_scales / out_scale)
    if not np.any(arrays["mult"] != 1):
        del arrays["mult"]  # power-of-two: requantization is a shift, no multipliers stored
    return integer_op(op, clamps(op.attrs.get("act"), out_scale), arrays)


def quantize_tflite(op: Any, params: dict[str, tuple[float, int]], scheme: str, input_scale: float) -> Any:
    """The tflite schemes: per-channel symmetric weights, asymmetric activations."""
    from heiti.micro.quantize import requant_arrays, tflite_clamps

    _fan_in(op)
    s_out, z_out = params[op.output]
    s_in, z_in = params.get(op.inputs[0], (input_scale, 0))
    w_scales, w_q = _weights(op, "tflite")
    bias = op.arrays.get("bias_q")
    if bias is None:
        bias = np.clip(np.rint(op.arrays["bias"] / (s_in * w_scales)), -(2**31), 2**31 - 1)
    arrays = {"weight": w_q, "bias": bias.astype(np.int32)}
    arrays |= requant_arrays(np.array([s_in * float(w) / s_out for w in w_scales]), scheme)
    attrs = {"in_zp": z_in, "out_zp": z_out} | tflite_clamps(op.attrs.get("act"), s_out, z_out)
    return integer_op(op, attrs, arrays)


def c_arrays(e: Any, dsp: bool) -> str:
    """The operator's const arrays; with ``dsp`` the weights also in the DSP kernels' order
    (palette-stored weights: their packed indices, micro/palette.py)."""
    from heiti.micro.codegen import array_decl, dsp_order
    from heiti.micro.palette import c_storage

    name, weight = f"{e.name}_weight", e.op.arrays["weight"]
    if e.palette is not None:
        rows = weight.reshape(len(weight), -1)
        storage = c_storage(name, e.palette, rows, dsp_order(weight) if dsp else None)
        return e.arrays(special={"weight": storage})
    weights = array_decl(name, weight)
    if dsp:
        weights = (f"#if HM_DSP  /* (0, 2, 1, 3) in every group of four of a row: see dsp/hm_dsp.h */\n"
                   f"{array_decl(name, dsp_order(weight))}#else\n{weights}#endif\n")
    return e.arrays(special={"weight": weights})


def c_call(e: Any, kernel: str) -> str:
    """The kernel's statement; a palette-stored layer's goes through the kernel's wrapper that
    decodes its weights into the arena (micro/c/palette.c)."""
    if e.palette is None:
        return f"{kernel}({e.src}, {e.out}, &{e.name});"
    return (f"{kernel}_palette({e.src}, {e.out}, &{e.name}, &{e.name}_weight, {e.decode_buffer}, "
            f"{e.palette.chunk});")


def c_tail(e: Any) -> list:
    """The kernels' trailing fields: multipliers (NULL: all 1), shifts, zero points, rounding
    and the DSP scratch."""
    p, a = e.name, e.op.attrs
    return [f"{p}_mult" if "mult" in e.op.arrays else "NULL", f"{p}_shift", a.get("in_zp", 0),
            a.get("out_zp", 0), e.rounding, "hm_scratch"]
