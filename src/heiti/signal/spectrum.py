"""Magnitude spectra of sensor windows: the features in which a machine's faults show.

Faults of rotating machines (bearing defects, imbalance, gear wear) appear as lines at
their own frequencies; in the raw waveform such a line is a small wiggle under the noise,
in the spectrum one bin that stands far above the noise floor. Per window and channel:

1. the window function (periodic Hann or Hamming, or none) times the samples;
2. the magnitude of the real FFT over the window's length, scaled by the window's sum
   so that a sine of amplitude A shows as A/2 in its bin whatever the window and length;
3. the first ``length // 2`` bins, from DC up to just below Nyquist (a power-of-two
   length gives a power-of-two count, as the convolutional autoencoder wants);
4. optionally ``bands`` equal-width bands, each the mean magnitude of its bins;
5. optionally the natural log of each value plus ``floor`` times the window's mean
   magnitude (over its channels and bins): bins far below the window's level count
   alike, whatever the units of the data, and the level itself stays in every value.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.errors import InputError


class SpectrumParams(Params):
    window: Literal["hann", "hamming", "none"] = Field(
        "hann", description="window function applied before the FFT (none: rectangular)")
    log: bool = Field(True, description="natural log of the magnitudes (plus the floor)")
    floor: float = Field(0.1, gt=0, description="added to each magnitude before the log, as a "
                         "share of the window's mean magnitude: quieter bins count alike")
    bands: int | None = Field(None, ge=1, description="pool the bins into this many equal-width "
                              "bands (mean magnitude); default: every bin")

    def width(self, length: int) -> int:
        """Values per channel for windows of ``length`` samples."""
        return self.bands or length // 2


def window_function(kind: str, length: int) -> np.ndarray:
    """The periodic window (as spectral analysis uses it), float64."""
    if kind == "none":
        return np.ones(length)
    a0 = 0.5 if kind == "hann" else 0.54
    return a0 - (1 - a0) * np.cos(2 * np.pi * np.arange(length) / length)


def spectrum(windows: np.ndarray, params: SpectrumParams) -> np.ndarray:
    """Spectra of windows shaped ``(..., length)`` along the last axis: float32
    ``(..., params.width(length))``."""
    x = np.asarray(windows, dtype=np.float64)
    length = x.shape[-1]
    bins = length // 2
    if bins < 1:
        raise ValueError(f"a window of {length} sample(s) has no spectrum; it needs at least 2")
    if params.bands is not None and params.bands > bins:
        raise ValueError(f"bands is {params.bands}, but windows of {length} samples have only "
                         f"{bins} frequency bins")
    w = window_function(params.window, length)
    magnitude = np.abs(np.fft.rfft(x * w, axis=-1))[..., :bins] / w.sum()
    if params.bands is not None:
        edges = np.linspace(0, bins, params.bands + 1).round().astype(int)
        magnitude = np.add.reduceat(magnitude, edges[:-1], axis=-1) / np.diff(edges)
    if params.log:  # (a window of zeros stays finite: its level is replaced by 1)
        level = magnitude.mean(axis=(-2, -1) if magnitude.ndim > 1 else -1, keepdims=True)
        magnitude = np.log(magnitude + params.floor * np.where(level > 0, level, 1.0))
    return magnitude.astype(np.float32)


def window_features(windows: np.ndarray, params: SpectrumParams | None) -> np.ndarray:
    """What a windows dataset feeds its model: the windows as they are, or their spectra."""
    if params is None:
        return windows
    try:
        return spectrum(windows, params)
    except ValueError as exc:
        raise InputError(f"spectrum: {exc}", hint="lower 'spectrum.bands' or use longer windows") from None
