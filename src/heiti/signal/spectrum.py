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

Steps 1-3 run in float64 with numpy, or with ``implementation: cmsis-q15`` in fixed point
as a Cortex-M runs them with CMSIS-DSP (through its Python package, so the integers are the
C library's): each channel scaled so that its peak reaches full scale and rounded to int16,
times the window in Q15 (``arm_mult_q15``), ``arm_rfft_q15`` (which divides the DFT by the
length as it goes) and ``arm_cmplx_mag_q15`` (magnitudes in Q2.14). The integers are then
scaled back to the float definition's units (length / 2^14 x the channel's peak / the
window's sum: one float multiply per bin on a device with an FPU, or a constant added
after the log); bands and log follow in float. docs/anomaly.md measures how far apart the
two are.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.errors import InputError, MissingExtraError

Q14 = 1 << 14  # arm_cmplx_mag_q15 returns Q2.14
Q15_LENGTHS = tuple(1 << k for k in range(5, 14))  # what arm_rfft_init_q15 accepts: 32 ... 8192


class SpectrumParams(Params):
    window: Literal["hann", "hamming", "none"] = Field(
        "hann", description="window function applied before the FFT (none: rectangular)")
    log: bool = Field(True, description="natural log of the magnitudes (plus the floor)")
    floor: float = Field(0.1, gt=0, description="added to each magnitude before the log, as a "
                         "share of the window's mean magnitude: quieter bins count alike")
    bands: int | None = Field(None, ge=1, description="pool the bins into this many equal-width "
                              "bands (mean magnitude); default: every bin")
    implementation: Literal["numpy", "cmsis-q15"] = Field(
        "numpy", description="numpy: window, FFT and magnitude in float64; cmsis-q15: in fixed "
        "point with CMSIS-DSP's arm_rfft_q15, as a Cortex-M computes them (a power-of-two "
        "length from 32 to 8192; needs the audio extra)")

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
    if params.implementation == "cmsis-q15":
        magnitude = _cmsis_q15_magnitude(x, w)
    else:
        magnitude = np.abs(np.fft.rfft(x * w, axis=-1))[..., :bins] / w.sum()
    if params.bands is not None:
        edges = np.linspace(0, bins, params.bands + 1).round().astype(int)
        magnitude = np.add.reduceat(magnitude, edges[:-1], axis=-1) / np.diff(edges)
    if params.log:  # (a window of zeros stays finite: its level is replaced by 1)
        level = magnitude.mean(axis=(-2, -1) if magnitude.ndim > 1 else -1, keepdims=True)
        magnitude = np.log(magnitude + params.floor * np.where(level > 0, level, 1.0))
    return magnitude.astype(np.float32)


def _cmsis_q15_magnitude(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Steps 1-3 in CMSIS-DSP's fixed point, one window and channel at a time as a device
    runs them; float64 ``(..., length // 2)`` in the units of the float definition."""
    try:
        import cmsisdsp
    except ImportError:
        raise MissingExtraError("spectrum", "audio", "cmsisdsp") from None
    from heiti.audio.features import q15

    length = x.shape[-1]
    if length not in Q15_LENGTHS:
        raise InputError(f"spectrum: implementation cmsis-q15 needs windows of a power-of-two length "
                         f"from 32 to 8192 samples (what arm_rfft_q15 computes); these have {length}",
                         hint="change the windows' length, or use implementation: numpy")
    instance = cmsisdsp.arm_rfft_instance_q15()
    if cmsisdsp.arm_rfft_init_q15(instance, length, 0, 1) != 0:  # forward, bit-reversed output
        raise RuntimeError(f"arm_rfft_init_q15 refused length {length}")
    rows = x.reshape(-1, length)
    peak = np.abs(rows).max(axis=-1)
    peak[peak == 0] = 1.0  # a silent channel stays zeros
    pcm = q15(rows / peak[:, None])
    window = q15(w)
    out = np.empty((len(rows), length // 2))
    for i, samples in enumerate(pcm):
        spectrum_q15 = cmsisdsp.arm_rfft_q15(instance, cmsisdsp.arm_mult_q15(samples, window))
        out[i] = cmsisdsp.arm_cmplx_mag_q15(spectrum_q15[:length])  # the first length/2 bins
    scale = peak[:, None] * length / (Q14 * w.sum())
    return (out * scale).reshape(*x.shape[:-1], length // 2)


def window_features(windows: np.ndarray, params: SpectrumParams | None) -> np.ndarray:
    """What a windows dataset feeds its model: the windows as they are, or their spectra."""
    if params is None:
        return windows
    try:
        return spectrum(windows, params)
    except ValueError as exc:
        raise InputError(f"spectrum: {exc}", hint="lower 'spectrum.bands' or use longer windows") from None
