"""The keyword spotter as a live flow on this host: how much faster than real time?

A minute of 16 kHz audio (noise with tone bursts) is cut into 1 s windows every 125 ms,
turned into MFCC features (10 coefficients, 40 mel bands, the keyword datasets'
defaults), classified by the MLPerf-Tiny-sized DS-CNN (64 channels, 4 blocks, untrained:
timing does not depend on the weights; ONNX fp32 on onnxruntime, one thread) and smoothed
by the keyword-spotter postprocessing, (a) as a flow (one thread per stage) and (b) in a
bare loop in one thread doing the same calls. The real-time factor is processing time /
audio duration (below 1: keeps up with live audio). Repeats alternate; ratios of medians.

    python benchmarks/keyword_flow.py [--seconds 60] [--repeats 5] [--implementation cmsis-q15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import export_zoo_model, median
from flow_throughput import Count

RATE, HOP_S = 16000, 0.125


class Example:
    """Feature-shaped example inputs for the ONNX exporter."""

    def __init__(self, shape):
        from heiti.core.dataset import Samples

        self.samples = Samples({"input": np.zeros((2, *shape), np.float32)}, np.zeros(2, np.int64))

    def split(self, name):
        return self.samples


def write_audio(path: Path, seconds: int) -> None:
    import soundfile

    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.02, seconds * RATE).astype(np.float32)
    t = np.arange(RATE // 2) / RATE
    for start in range(RATE // 2, len(audio) - RATE, int(1.5 * RATE)):
        audio[start : start + RATE // 2] += 0.4 * np.sin(2 * np.pi * rng.choice([400, 900]) * t)
    soundfile.write(path, audio, RATE, subtype="PCM_16")


def as_flow(wav: Path, artifact, features: dict) -> tuple[float, dict]:
    from heiti.flows.engine import FlowRunner
    from heiti.flows.model import ModelStage
    from heiti.flows.sources.wav_stream import WavStream
    from heiti.flows.transforms.keyword_spotter import KeywordSpotter
    from heiti.flows.transforms.mfcc import Mfcc
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime
    from heiti.targets.local import Local

    source = WavStream({"path": wav, "window_s": 1.0, "hop_s": HOP_S})
    stages = [("mfcc", Mfcc(features)), ("model", ModelStage(artifact, OnnxRuntime({"threads": 1}), Local())),
              ("spotter", KeywordSpotter({"threshold": 1.0}))]
    statistics = FlowRunner("bench", source, stages, [("count", Count())]).run()
    return statistics["wall_s"], statistics


def bare(wav: Path, artifact, features: dict) -> float:
    from heiti.audio.features import FeatureParams, extract
    from heiti.audio.wav import read_wav
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime

    runtime = OnnxRuntime({"threads": 1})
    runtime.load(artifact)
    params = FeatureParams(**features)
    started = time.perf_counter()
    audio = read_wav(wav, RATE)
    hop, recent = int(HOP_S * RATE), []
    for start in range(0, len(audio) - RATE + 1, hop):
        features = extract(audio[None, start : start + RATE], params)
        logits = runtime.outputs(runtime.infer(runtime.prepare({"input": features})))["logits"][0]
        scores = np.exp(logits - logits.max())
        recent = [*recent[-3:], scores / scores.sum()]
        np.mean(recent, axis=0).argmax()
    wall = time.perf_counter() - started
    runtime.close()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--implementation", choices=["librosa", "cmsis-q15"], default="librosa",
                        help="MFCC in floating point, or CMSIS-DSP's fixed point as the kws example")
    args = parser.parse_args()
    from heiti.core.artifact import Artifact
    from heiti.models.ds_cnn import DsCnn

    features = {"implementation": args.implementation}
    with tempfile.TemporaryDirectory() as folder:
        shape = (1, 49, 10)  # 1 s of features: (16000 - 512) / 320 + 1 frames x 10 coefficients
        _, onnx = export_zoo_model(DsCnn(), shape, 12, Path(folder) / "ds-cnn.onnx", Example(shape))
        artifact = Artifact.load(onnx.path)
        wav = Path(folder) / "audio.wav"
        write_audio(wav, args.seconds)
        as_flow(wav, artifact, features)  # warm up both paths (feature code builds its caches)
        bare(wav, artifact, features)
        flows, loops, last = [], [], None
        for _ in range(args.repeats):
            wall, last = as_flow(wav, artifact, features)
            flows.append(wall)
            loops.append(bare(wav, artifact, features))
    print(f"{args.seconds} s of audio, {last['items']} windows of 1 s every {HOP_S * 1000:.0f} ms, "
          f"MFCC by {args.implementation}")
    print(f"{'path':<26} {'median s':>9} {'real-time factor':>17} {'x real time':>12}")
    for name, values in (("bare loop, one thread", loops), ("flow, thread per stage", flows)):
        rtf = median(values) / args.seconds
        print(f"{name:<26} {median(values):>9.2f} {rtf:>17.4f} {1 / rtf:>12.0f}")
    print(f"flow / bare time = {median(flows) / median(loops):.3f}")
    print("flow stages (last repeat): " + ", ".join(
        f"{s['stage']} p50 {s['latency_ms']['p50']:.2f} ms" for s in last["stages"]))


if __name__ == "__main__":
    main()
