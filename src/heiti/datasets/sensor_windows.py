"""Generated multichannel vibration windows, some with injected faults, so that anomaly
detection runs offline and every figure can be reproduced from a seed."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from heiti.core.component import MAX_SEED
from heiti.core.dataset import Dataset, Samples
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.signal.spectrum import SpectrumParams, window_features

Kind = Literal["spike", "drift", "frequency", "dropout", "bearing"]
KINDS: tuple[Kind, ...] = ("spike", "drift", "frequency", "dropout")  # the default mix


class SensorWindowsParams(SplitParams):
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the generated windows, the split "
                      "and calibration")
    windows: int = Field(2000, ge=20, le=1_000_000, description="windows to generate")
    channels: int = Field(3, ge=1, le=64, description="sensor channels per window")
    length: int = Field(128, ge=16, le=65536, description="time steps per window")
    anomaly_fraction: float = Field(0.1, ge=0, le=0.5, description="share of anomalous windows")
    kinds: list[Kind] = Field(list(KINDS), min_length=1, description="fault kinds injected, in "
                              "equal shares: spike, drift, frequency, dropout, bearing (not "
                              "in the default mix)")
    spectrum: SpectrumParams | None = Field(None, description="feed the model each channel's "
                                            "magnitude spectrum instead of the raw window")


class SensorWindows(Dataset):
    """Seeded vibration windows shaped (channels, length), float32, some with one fault.

    A normal window is one machine running at 3-6 cycles per window: on every channel a
    sine with a second harmonic; each sensor's gain, phase lag and harmonic share are set
    by its mounting (fixed per seed, jittered by 10-20 % per window); the load scales all
    channels by 0.7-1.3; Gaussian noise of 0.02-0.08. Anomalous windows (truth 1) carry
    one fault starting between a quarter and half of the window: ``spike`` (1-3 impulses
    of 1-3 samples, 1.5-3x the channel's gain, anywhere), ``drift`` (a ramp on one channel
    reaching 0.4-1.2), ``frequency`` (the speed jumps by 1.3-2x), ``dropout`` (one channel
    reads zero) or ``bearing`` (a defect tone at 3.1-5.3x the shaft speed on every channel,
    5-15 % of the shaft vibration: under the noise in the waveform, a line in the spectrum).
    Sample ids name the kind (``00042-drift``). The seed fixes the windows, the split and
    calibration. With ``spectrum`` set, samples are shaped (channels, bins)."""

    name = "sensor-windows"
    Params = SensorWindowsParams
    default_task: ClassVar[str] = "anomaly"

    def _load_splits(self) -> dict[str, Samples]:
        p = self.params
        x, kinds = generate(p.windows, p.channels, p.length, p.anomaly_fraction, p.kinds, p.seed)
        truth = np.array([kind != "normal" for kind in kinds], dtype=np.int64)
        ids = [f"{i:05d}-{kind}" for i, kind in enumerate(kinds)]
        return split_samples(self.task, {"input": window_features(x, p.spectrum)}, truth, p, ids)


def generate(windows: int, channels: int, length: int, anomaly_fraction: float,
             kinds: list[Kind], seed: int) -> tuple[np.ndarray, list[str]]:
    """``windows`` windows (float32, shaped windows x channels x length) and each one's kind."""
    rng = np.random.default_rng((seed, 0x5E45))  # a stream apart from the split's
    t = np.arange(length) / length
    # the machine: each sensor's gain, phase lag and harmonic share are fixed by its mounting
    mount_gain = rng.uniform(0.6, 1.2, size=(1, channels, 1))
    mount_lag = rng.uniform(0, 2 * np.pi, size=(1, channels, 2))
    mount_harmonic = rng.uniform(0.1, 0.4, size=(1, channels, 1))
    # each window: its own speed, load (amplitude), start phase, noise, and slight jitter
    speed = rng.uniform(3, 6, size=(windows, 1, 1))
    gain = mount_gain * rng.uniform(0.7, 1.3, size=(windows, 1, 1)) \
        * rng.uniform(0.9, 1.1, size=(windows, channels, 1))
    phase = mount_lag + rng.uniform(0, 2 * np.pi, size=(windows, 1, 2))
    harmonic = mount_harmonic * rng.uniform(0.8, 1.2, size=(windows, channels, 1))
    noise = rng.uniform(0.02, 0.08, size=(windows, 1, 1))

    def vibration(cycles: np.ndarray, w: slice | np.ndarray) -> np.ndarray:
        """Signal of windows ``w`` given their accumulated cycles at each time step."""
        angle = 2 * np.pi * cycles
        return gain[w] * (np.sin(angle + phase[w][..., :1])
                          + harmonic[w] * np.sin(2 * angle + phase[w][..., 1:]))

    x = vibration(speed * t, slice(None)) + noise * rng.standard_normal((windows, channels, length))
    labels = ["normal"] * windows
    anomalous = rng.choice(windows, size=round(windows * anomaly_fraction), replace=False)
    for n, i in enumerate(anomalous):
        kind = kinds[n % len(kinds)]
        labels[i] = kind
        start = int(rng.integers(length // 4, length // 2))
        channel = int(rng.integers(channels))
        if kind == "spike":
            for _ in range(int(rng.integers(1, 4))):
                at, width = int(rng.integers(length - 3)), int(rng.integers(1, 4))
                sign = rng.choice((-1.0, 1.0))
                x[i, channel, at : at + width] += sign * rng.uniform(1.5, 3) * gain[i, channel, 0]
        elif kind == "drift":
            ramp = np.clip((np.arange(length) - start) / (length - start), 0, None)
            x[i, channel] += rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.2) * ramp
        elif kind == "frequency":
            factor = rng.uniform(1.3, 2.0)
            cycles = speed[i] * np.minimum(t, t[start]) + factor * speed[i] * np.maximum(t - t[start], 0)
            noise_part = x[i] - vibration(speed[i] * t, np.array([i]))[0]
            x[i] = vibration(cycles, np.array([i]))[0] + noise_part
        elif kind == "bearing":  # a defect frequency, not a harmonic of the shaft speed
            tone = np.sin(2 * np.pi * rng.uniform(3.1, 5.3) * speed[i] * t + rng.uniform(0, 2 * np.pi))
            x[i, :, start:] += (rng.uniform(0.05, 0.15) * gain[i] * tone)[:, start:]
        else:  # dropout: the sensor reads zero
            x[i, channel, start:] = 0.0
    return x.astype(np.float32), labels
