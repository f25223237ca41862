"""The host CPU's int8 dot-product instructions, and what they do to int8 accuracy.

On x86, ONNX Runtime's int8 kernels multiply uint8 activations by int8 weights. With VNNI
(AVX-512 VNNI or AVX-VNNI) the products are summed in int32. Without it (AVX2, or AVX-512
without VNNI) the kernels use VPMADDUBSW, which adds pairs of products into int16 and
saturates: full 8-bit weights can then cost accuracy, 7-bit weights (``reduce_range``) cannot
overflow. ONNX Runtime's quantization guide describes this under "When and why do I need to
try U8U8?" and the saturation note:
https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
"""

from __future__ import annotations

import functools
import platform

VNNI = ("avx512_vnni", "avx_vnni")
NONE = "none"  # x86 without VNNI: u8 x s8 pair sums saturate in int16
UNKNOWN = "unknown"  # x86 whose flags could not be read (no /proc/cpuinfo)
DEFAULT_MARGIN_POINTS = 1.0  # int8 may lose this many points of the primary metric unremarked


def instructions_from_cpuinfo(text: str, machine: str) -> str:
    """The int8 instruction set named by a /proc/cpuinfo text: a VNNI flag, 'none' on x86
    without one, 'not x86 (<machine>)' elsewhere (ARM kernels sum in int32)."""
    if machine.lower() not in ("x86_64", "amd64", "i686", "i386", "x86"):
        return f"not x86 ({machine})"
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    if not flags:
        return UNKNOWN
    return next((name for name in VNNI if name in flags), NONE)


@functools.cache
def int8_instructions() -> str:
    """This machine's int8 instruction set (see ``instructions_from_cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        text = ""
    return instructions_from_cpuinfo(text, platform.machine())


def saturates(instructions: str) -> bool:
    """Whether ONNX Runtime's u8 x s8 kernels may saturate with 8-bit weights (unknown x86
    counts as yes: 7-bit weights cost little, saturation can cost points)."""
    return instructions in (NONE, UNKNOWN)


def describe(instructions: str) -> str:
    if instructions == NONE:
        return "an x86 CPU without VNNI (AVX2 only)"
    if instructions == UNKNOWN:
        return "an x86 CPU whose int8 instructions are unknown"
    if instructions in VNNI:
        return f"a CPU with {instructions}"
    return f"a CPU that is {instructions}"


def saturation_cause(instructions: str) -> str:
    return (f"this is {describe(instructions)}: ONNX Runtime's u8 x s8 kernels add pairs of products "
            "in int16 and saturate with 8-bit weights")


def int8_loss(metric: str, float_value: float | None, int8_value: float | None,
              higher_is_better: bool, instructions: str, reduce_range: bool | None,
              margin: float = DEFAULT_MARGIN_POINTS) -> str | None:
    """A warning when int8 falls more than ``margin`` points (hundredths) of ``metric`` below
    its float parent, with the likely cause; None when it does not. ``reduce_range`` is the
    quantizer's setting when known (ONNX Runtime's), else None."""
    if float_value is None or int8_value is None:
        return None
    loss = round((float_value - int8_value) * (1 if higher_is_better else -1) * 100, 6)
    if loss <= margin:
        return None
    said = (f"int8 loses {loss:.1f} points of {metric} against its float parent "
            f"({float_value:.4f} -> {int8_value:.4f}, more than the {margin:g} allowed)")
    calibration = ("calibration ranges or layers sensitive to int8: try calibration_method "
                   "percentile or entropy, more calibration samples, or keep the sensitive layers "
                   "in float (heiti micro's sensitivity analysis names them)")
    if reduce_range is False and saturates(instructions):
        cause = f"{saturation_cause(instructions)}; quantize with reduce_range: true (or auto)"
    elif reduce_range is None and saturates(instructions):
        cause = f"{saturation_cause(instructions)} (7-bit weights avoid it), or {calibration}"
    else:
        cause = calibration
    return f"{said}; likely cause: {cause}"
