"""Fixed-length clips: fitting utterances to one length, shifting them in time, mixing in
noise at a signal-to-noise ratio, and cutting silence windows from background noise."""

from __future__ import annotations

import numpy as np


def fit_length(audio: np.ndarray, length: int, shift: int = 0) -> np.ndarray:
    """``audio`` centred in ``length`` samples, moved ``shift`` samples later (negative:
    earlier); what falls outside is cut, what is missing is silence."""
    out = np.zeros(length, dtype=np.float32)
    start = (length - len(audio)) // 2 + shift
    src_from, dst_from = max(0, -start), max(0, start)
    count = min(len(audio) - src_from, length - dst_from)
    if count > 0:
        out[dst_from : dst_from + count] = audio[src_from : src_from + count]
    return out


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + noise`` with the noise scaled to ``snr_db`` below the signal's power."""
    signal_power = float(np.mean(signal.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    if noise_power == 0.0 or signal_power == 0.0:
        return signal.astype(np.float32)
    gain = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return np.clip(signal + gain * noise, -1.0, 1.0).astype(np.float32)


def coloured_noise(rng: np.random.Generator, length: int, colour: str) -> np.ndarray:
    """Unit-variance white, pink (1/f) or brown (1/f²) noise, shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
    noise = np.fft.irfft(spectrum / f**exponent, n=length)
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def windows_of(noise: np.ndarray, length: int, count: int, rng: np.random.Generator,
               max_gain: float = 1.0) -> np.ndarray:
    """``count`` windows of ``length`` samples at random offsets of ``noise``, each scaled by a
    random gain in [0, max_gain] (quiet rooms as well as loud ones)."""
    if len(noise) < length:
        noise = np.tile(noise, -(-length // max(len(noise), 1)))
    starts = rng.integers(0, len(noise) - length + 1, size=count)
    gains = rng.uniform(0.0, max_gain, size=count).astype(np.float32)
    return np.stack([noise[s : s + length] * g for s, g in zip(starts, gains, strict=True)]
                    ) if count else np.zeros((0, length), dtype=np.float32)
