"""gemmlowp's fixed-point arithmetic as TensorFlow Lite Micro's reference kernels use it
(softmax, tanh; logistic uses the same): int32 values with a number of integer bits, on
int64 NumPy arrays holding int32 values. The C twins are the ``gl_*`` helpers in
``micro/c/hm_common.h``; the names follow gemmlowp's ``fixedpoint.h``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def high_mul(a: Any, b: Any) -> Any:
    """SaturatingRoundingDoublingHighMul: ``(a * b + nudge) / 2^31``, truncated."""
    ab = a * b
    total = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = np.where(total >= 0, total >> 31, -((-total) >> 31))  # C's division truncates
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def divide_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT: ``x / 2^exponent`` rounded half away from zero."""
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def shift_left_saturating(x: np.ndarray, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT with a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant, third = 1895147668, 715827883
    x = a + (1 << 28)
    x2 = high_mul(x, x)
    x3 = high_mul(x2, x)
    x4 = high_mul(x2, x2)
    poly = divide_pot(high_mul(divide_pot(x4, 2) + x3, third) + x2, 1)
    return constant + high_mul(np.int64(constant), x + poly)


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))  # exp(-2^k) in Q0.31


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 with ``integer_bits`` (at most 5) integer bits, as Q0.31."""
    fraction_bits = 31 - integer_bits
    quarter = 1 << (fraction_bits - 2)
    rest = (a & (quarter - 1)) - quarter
    result = _exp_quarter(shift_left_saturating(rest, integer_bits))
    remainder = rest - a
    for exponent, multiplier in _BARREL[: integer_bits + 2]:
        hit = (remainder & (1 << (fraction_bits + exponent))) != 0
        result = np.where(hit, high_mul(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 / (1 + a) in Q2.29, (1 + a) / 2 in Q0.31) for a in [0, 1) (Newton-Raphson)."""
    half = (a + INT32_MAX + 1) >> 1  # RoundingHalfSum(a, 1) for a >= 0
    x = 1515870810 + high_mul(half, -1010580540)
    for _ in range(3):
        one_minus = (1 << 29) - high_mul(half, x)
        x = x + shift_left_saturating(high_mul(x, one_minus), 2)
    return x, half


def one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    return shift_left_saturating(_newton_reciprocal(a)[0], 1)


def one_minus_x_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    return shift_left_saturating(_newton_reciprocal(a)[0] - (1 << 29), 2)


def tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """tanh(a) with ``integer_bits`` integer bits (at most 4), as Q0.31."""
    negative = -np.abs(a)  # |a| <= 2^31 - 1, so the negation is exact
    t = one_minus_x_over_one_plus_x(exp_on_negative_values(negative, integer_bits + 1))  # exp(2 * -|a|)
    return np.where(a == 0, 0, np.where(a < 0, -t, t))


def input_radius(integer_bits: int, left_shift: int) -> int:
    """TFLite's CalculateInputRadius: the largest input whose rescaled value stays below the
    fixed-point range (beyond it, the function is saturated)."""
    return math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / 2.0**left_shift)
