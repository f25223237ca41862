"""MFCC and log-mel features: the preprocessing stage a keyword spotter declares.

Both implementations compute the same definition, the one of CMSIS-DSP's ``arm_mfcc``
so that a model trained on the host sees what a microcontroller computes:

1. a periodic Hann window over ``window`` samples, every ``hop`` samples (no padding);
2. the magnitude (not power) of the real FFT of the frame;
3. ``mel_bands`` triangular filters on the HTK mel scale between ``fmin`` and ``fmax``,
   unnormalized (peak 1);
4. the natural log of each band energy plus 1e-6 (log-mel stops here);
5. a DCT-II whose rows are ``sqrt(2 / mel_bands) * cos(pi * i * (j + 0.5) / mel_bands)``,
   keeping ``coefficients`` rows.

``librosa`` computes it in floating point; ``cmsis-q15`` runs CMSIS-DSP's fixed-point
``arm_mfcc_q15`` (through its Python package), whose Q8.7 output is exactly what the C
library returns on a device. Their difference is measured in docs/keyword-spotting.md.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from heiti.core.component import Params

LOG_FLOOR = 1e-6  # added before the log, as arm_mfcc does
Q15_FRACTION_BITS = 7  # arm_mfcc_q15 returns Q8.7


class FeatureParams(Params):
    kind: Literal["mfcc", "log-mel"] = Field("mfcc", description="MFCC or log-mel band energies")
    implementation: Literal["librosa", "cmsis-q15"] = Field(
        "librosa", description="librosa: floating point; cmsis-q15: CMSIS-DSP's fixed-point "
        "arm_mfcc_q15, the numbers a Cortex-M computes (MFCC only)")
    sample_rate: int = Field(16000, ge=4000, le=96000, description="audio sample rate in Hz")
    window: int = Field(512, ge=32, le=4096, description="samples per frame (and FFT length; a "
                        "power of two for cmsis-q15)")
    hop: int = Field(320, ge=1, description="samples between frame starts")
    mel_bands: int = Field(40, ge=2, le=128, description="triangular mel filters")
    coefficients: int = Field(10, ge=1, description="MFCC coefficients kept (mfcc only)")
    fmin: float = Field(20.0, ge=0, description="lowest filter edge in Hz")
    fmax: float | None = Field(None, gt=0, description="highest filter edge in Hz (default: "
                               "half the sample rate)")
    int8_scale: float | None = Field(
        None, gt=0, description="round features to int8 with this scale (value / scale, half up, "
        "saturated) and shift them by +128 into a byte, as a device feeds heiti micro's uint8 "
        "input: the dataset value is then byte * int8_scale; a power of two turns the Q8.7 "
        "fixed-point MFCC into the byte with one shift")

    @model_validator(mode="after")
    def _check(self) -> FeatureParams:
        top = self.sample_rate / 2
        if (self.fmax or top) > top or self.fmin >= (self.fmax or top):
            raise ValueError(f"need 0 <= fmin < fmax <= {top:g} Hz (half the sample rate)")
        if self.kind == "mfcc" and self.coefficients > self.mel_bands:
            raise ValueError("coefficients cannot exceed mel_bands")
        if self.implementation == "cmsis-q15":
            if self.kind != "mfcc":
                raise ValueError("cmsis-q15 computes MFCC only (CMSIS-DSP has no log-mel function)")
            if self.window & (self.window - 1):
                raise ValueError("cmsis-q15 needs a power-of-two window (its real FFT lengths)")
        return self

    @property
    def top(self) -> float:
        return self.fmax or self.sample_rate / 2

    @property
    def width(self) -> int:
        """Values per frame."""
        return self.coefficients if self.kind == "mfcc" else self.mel_bands

    def frames(self, samples: int) -> int:
        return 1 + (samples - self.window) // self.hop if samples >= self.window else 0


def extract(clips: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Features of equally long clips ``(N, samples)``: float32 ``(N, 1, frames, width)``,
    a one-channel image per clip as convolutional keyword spotters take it."""
    clips = np.atleast_2d(np.asarray(clips, dtype=np.float32))
    if params.frames(clips.shape[1]) < 1:
        raise ValueError(f"clips of {clips.shape[1]} samples are shorter than one window ({params.window})")
    if params.implementation == "cmsis-q15":
        values = _cmsis_q15(clips, params)
    else:
        values = _librosa(clips, params)
    if params.int8_scale is not None:
        values = to_int8_bytes(values, params.int8_scale) * np.float32(params.int8_scale)
    return values[:, None, :, :].astype(np.float32)


def to_int8_bytes(values: np.ndarray, scale: float) -> np.ndarray:
    """``sat8(floor(value / scale + 0.5)) + 128`` as float: the offset-binary byte a device
    hands heiti micro (its uint8 input is the int8 feature with the sign bit flipped)."""
    q = np.clip(np.floor(np.asarray(values, dtype=np.float64) / scale + 0.5), -128, 127)
    return (q + 128).astype(np.float32)


def _librosa(clips: np.ndarray, params: FeatureParams) -> np.ndarray:
    import librosa

    spectrum = np.abs(librosa.stft(clips, n_fft=params.window, hop_length=params.hop,
                                   window="hann", center=False))  # (N, bins, frames)
    bands = np.log(np.einsum("mb,nbf->nfm", _mel_matrix(params), spectrum) + LOG_FLOOR)
    if params.kind == "log-mel":
        return bands.astype(np.float32)
    return (bands @ _dct_matrix(params.coefficients, params.mel_bands).T).astype(np.float32)


@cache
def _mel_matrix_cached(sample_rate: int, window: int, bands: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=window, n_mels=bands, fmin=fmin, fmax=fmax,
                               htk=True, norm=None).astype(np.float32)


def _mel_matrix(params: FeatureParams) -> np.ndarray:
    return _mel_matrix_cached(params.sample_rate, params.window, params.mel_bands, params.fmin, params.top)


def _dct_matrix(coefficients: int, bands: int) -> np.ndarray:
    """CMSIS-DSP's DCT rows: every row scaled by sqrt(2 / bands), the first one too."""
    position = (np.arange(bands) + 0.5) / bands
    rows = np.cos(np.pi * np.arange(coefficients)[:, None] * position[None, :])
    return (rows * np.sqrt(2.0 / bands)).astype(np.float32)


def _cmsis_q15(clips: np.ndarray, params: FeatureParams) -> np.ndarray:
    import cmsisdsp

    instance = _cmsis_instance(params.sample_rate, params.window, params.mel_bands,
                               params.coefficients, params.fmin, params.top)
    scratch = np.zeros(2 * params.window, dtype=np.int32)
    pcm = q15(clips)
    count = params.frames(clips.shape[1])
    out = np.empty((len(clips), count, params.coefficients), dtype=np.float32)
    for n in range(len(clips)):
        for f in range(count):
            frame = pcm[n, f * params.hop : f * params.hop + params.window]
            status, values = cmsisdsp.arm_mfcc_q15(instance, frame, scratch)
            if status != 0:
                raise RuntimeError(f"arm_mfcc_q15 failed with status {status}")
            out[n, f] = values
    return out / np.float32(1 << Q15_FRACTION_BITS)


def q15(clips: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1) as the int16 PCM a microphone driver delivers."""
    return np.clip(np.floor(np.asarray(clips, dtype=np.float64) * 32768 + 0.5), -32768, 32767
                   ).astype(np.int16)


@cache
def _cmsis_instance(sample_rate: int, window: int, bands: int, coefficients: int, fmin: float,
                    fmax: float):
    import cmsisdsp
    import cmsisdsp.datatype as dt
    import cmsisdsp.mfcc as mfcc

    lengths, positions, filters = mfcc.melFilterMatrix(dt.Q15, fmin, fmax, bands, sample_rate, window)
    dct = mfcc.dctMatrix(dt.Q15, coefficients, bands)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)  # periodic, as librosa's
    instance = cmsisdsp.arm_mfcc_instance_q15()
    status = cmsisdsp.arm_mfcc_init_q15(instance, window, bands, coefficients, dct, positions, lengths,
                                        filters, dt.convert(hann, dt.Q15))
    if status != 0:
        raise RuntimeError(f"arm_mfcc_init_q15 refused window {window} (status {status})")
    return instance
