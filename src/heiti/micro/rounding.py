"""The integer arithmetic every operator's golden model shares (docs/micro.md).

Written once on integer arrays that may be NumPy arrays or PyTorch tensors (int64), so
quantization-aware training evaluates the same integers as the golden model.
"""

from __future__ import annotations

from typing import Any


def scale_round(acc: Any, mult: Any, shift: Any) -> Any:
    """``round_half_away(acc * mult * 2^-shift)`` on int64 arrays (``mult`` None: 1)."""
    p = acc if mult is None else acc * mult
    one = shift * 0 + 1
    right = shift.clip(0, None)
    p = p << (-shift).clip(0, None)
    half = (one << right) >> 1
    return ((abs(p) + half) >> right) * (1 - 2 * (p < 0))


def requantize(acc: Any, mult: Any, shift: Any, lo: int = -128, hi: int = 127) -> Any:
    """``clamp(round_half_away(acc * mult * 2^-shift), lo, hi)`` on int64 arrays
    (``mult`` None: 1)."""
    return scale_round(acc, mult, shift).clip(max(lo, -128), min(hi, 127))


def divide_round(total: Any, count: int) -> Any:
    """``total / count`` rounded half away from zero (average pooling)."""
    return ((abs(total) + count // 2) // count) * (1 - 2 * (total < 0))


def tflite_multiply(acc: Any, mult: Any, shift: Any) -> Any:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding) for the factor ``M * 2^-n``:
    with ``e = 31 - n``, shift left by ``max(e, 0)``, SaturatingRoundingDoublingHighMul
    (``floor((x * M + 2^30) / 2^31)``, i.e. half up), then RoundingDivideByPOT by
    ``max(-e, 0)`` (half away from zero)."""
    exponent = 31 - shift
    x = acc << exponent.clip(0, None)
    high = (x * mult + (1 << 30)) >> 31  # arithmetic shift: floor
    right = (-exponent).clip(0, None)
    half = ((right * 0 + 1) << right) >> 1
    return ((abs(high) + half) >> right) * (1 - 2 * (high < 0))


def tflite_multiply_single(acc: Any, mult: Any, shift: Any) -> Any:
    """The same built with TFLITE_SINGLE_ROUNDING: ``floor((acc * M + 2^(n-1)) / 2^n)``, one
    rounding, half up."""
    return (acc * mult + ((shift * 0 + 1) << (shift - 1))) >> shift


def tflite_requantize(acc: Any, mult: Any, shift: Any, zero_point: int, lo: int, hi: int,
                      single: bool = False) -> Any:
    """``clamp(zero_point + MultiplyByQuantizedMultiplier(acc, M, e), lo, hi)``."""
    scaled = (tflite_multiply_single if single else tflite_multiply)(acc, mult, shift)
    return (scaled + zero_point).clip(max(lo, -128), min(hi, 127))


def channel(array: Any, x: Any) -> Any:
    """A per-channel vector shaped to broadcast over ``x`` (N, C, ...)."""
    return array.reshape((1, -1) + (1,) * (x.ndim - 2))
