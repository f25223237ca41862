"""Cost of MFCC extraction per second of audio: librosa (floating point, batched) against
CMSIS-DSP's fixed-point arm_mfcc_q15 (frame by frame, as a device runs it), and how far
apart their numbers are (docs/benchmarks.md and docs/keyword-spotting.md).

Both run on the same 1 s clips (a harmonic, vowel-like sound with noise, no download);
each repetition times one batch of clips with process CPU time and reports the median
per second of audio; the ratio of medians is the fixed-point path's relative cost here.
The host figure for cmsis-q15 includes the Python wrapper's per-frame call; on a
Cortex-M the C library runs alone.

    python benchmarks/feature_extraction.py [--clips 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np

from _common import median
from heiti.audio.features import FeatureParams, extract

RATE = 16000


def speech_like(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(90, 220) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) * rng.uniform(0.2, 1) / k for k in range(1, 16)) * np.hanning(len(t))
    return (rng.uniform(0.1, 0.6) * voiced / np.abs(voiced).max() + rng.normal(0, 0.005, len(t))
            ).astype(np.float32)


def cost_per_audio_second(clips: np.ndarray, params: FeatureParams, repeats: int) -> list[float]:
    extract(clips[:1], params)  # imports, filter banks, instances
    seconds = clips.shape[0] * clips.shape[1] / RATE
    times = []
    for _ in range(repeats):
        start = time.process_time()
        extract(clips, params)
        times.append((time.process_time() - start) / seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    clips = np.stack([speech_like(rng) for _ in range(args.clips)])
    floating, fixed = FeatureParams(), FeatureParams(implementation="cmsis-q15")
    base = median(cost_per_audio_second(clips, floating, args.repeats))
    q15 = median(cost_per_audio_second(clips, fixed, args.repeats))
    print(f"MFCC 49x10 per 1 s clip (window 512, hop 320, 40 mel bands), {args.clips} clips, "
          f"median of {args.repeats}, process CPU time")
    print(f"{'implementation':<16}{'ms per s of audio':>20}{'ratio':>8}")
    print(f"{'librosa':<16}{base * 1e3:>20.3f}{1.0:>8.2f}")
    print(f"{'cmsis-q15':<16}{q15 * 1e3:>20.3f}{q15 / base:>8.2f}")
    print_difference(f"{len(clips)} speech-like clips", extract(clips, floating), extract(clips, fixed))
    if shutil.which("espeak-ng"):
        from heiti.datasets.synthetic_keywords import SyntheticKeywords

        # the same seed gives the same clips: only the feature implementation differs
        a, b = (SyntheticKeywords({"features": f.model_dump()}).split("train").x for f in (floating, fixed))
        print_difference(f"synthetic-keywords train split ({len(a)} clips, espeak-ng)", a, b)


def print_difference(title: str, a: np.ndarray, b: np.ndarray) -> None:
    """|float - fixed| per coefficient: mean, 99th percentile, max, and the float spread."""
    a, b = a[:, 0], b[:, 0]
    difference = np.abs(a - b)
    spread = a.std(axis=(0, 1))
    print(f"\n{title}; |float - fixed| per coefficient: mean, 99th percentile, max; float std")
    for c in range(a.shape[2]):
        d = difference[:, :, c]
        print(f"c{c:<3}{d.mean():>8.3f}{np.percentile(d, 99):>8.3f}{d.max():>8.3f}{spread[c]:>8.3f}")
    print(f"all {difference.mean():>8.3f}{np.percentile(difference, 99):>8.3f}{difference.max():>8.3f}")


if __name__ == "__main__":
    main()
