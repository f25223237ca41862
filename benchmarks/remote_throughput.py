"""Remote evaluation over loopback TCP against local evaluation of the same model.

A real `heiti server` process serves the models; the host side is heiti's inference
loop with the remote target, the baseline is the same loop with the runtime
in-process. The remote side runs in lockstep (each request sent after the previous
answer) and pipelined (the next request sent while the target runs the current one),
alternating in the same session. Batch 1, one ONNX Runtime thread on both sides,
repeats alternate; the figures are medians over repeats of samples / loop wall time.

With ``--baseline-src DIR`` (the ``src`` folder of another heiti checkout, e.g. the
commit before a change) a second server runs that code, alternating with this one in
the same run; the table then compares the two (ratio of medians).

    python benchmarks/remote_throughput.py [--samples 1000] [--repeats 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import digits_inputs, export_tiny_cnn, median

MODELS = {  # label: (channels, hidden)
    "tiny-cnn [256, 512, 256]/256 (~1 ms)": ((256, 512, 256), 256),
    "demo tiny-cnn [32, 64]/128": ((32, 64), 128),
}


def start_server(log: Path, src: Path | None = None) -> tuple[subprocess.Popen, int]:
    """`heiti server` of this heiti, or of the one in ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "heiti", "server", "--port", "0",
                                 "--runtime", "onnxruntime"], stderr=err, stdout=subprocess.DEVNULL,
                                env=env)
    deadline = time.monotonic() + 30
    while not (found := re.search(r"listening on tcp://[^:]+:(\d+)", log.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"server did not start: {log.read_text()}")
        time.sleep(0.05)
    return proc, int(found.group(1))


def artifact_for(path: Path):
    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import IOSpec, TensorSpec

    spec = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8])],
                  outputs=[TensorSpec(name="logits", shape=[-1, 10])])
    return Artifact(path=path, format="onnx", io=spec, provenance=Provenance(producer="benchmark")).save()


def measure(executor, x: np.ndarray) -> tuple[float, float, float | None]:
    """Samples per second of loop wall time, median call latency (µs), median transport
    overhead per call (round trip minus the target's own inference time, µs)."""
    from heiti.pipeline.inference import run_inference

    loop = run_inference(executor, {"input": x}, batch_size=1, warmup=50, show_progress=False)
    overhead = None
    if loop.target_latencies_ns is not None:
        overhead = median(loop.latencies_ns - loop.target_latencies_ns) / 1e3
    return len(x) / loop.wall_s, median(loop.latencies_ns) / 1e3, overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None, metavar="DIR",
                        help="also serve with the heiti in DIR (its src folder) and compare")
    args = parser.parse_args()

    import onnxruntime as ort

    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime
    from heiti.targets.remote import Remote

    sources = {"this": None, **({"baseline": args.baseline_src.resolve()} if args.baseline_src else {})}
    modes = {"lockstep": False, "pipelined": True}  # the same session, alternating
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        servers = {name: start_server(Path(tmp) / f"{name}.log", src) for name, src in sources.items()}
        try:
            x = digits_inputs(args.samples)
            for label, (channels, hidden) in MODELS.items():
                model = artifact_for(export_tiny_cnn(Path(tmp) / f"{channels[0]}.onnx", channels, hidden))
                local = OnnxRuntime({"threads": 1})
                local.load(model)
                remotes = {name: Remote({"protocol": "tcp", "port": port}).open(
                    OnnxRuntime({"threads": 1}), model) for name, (_, port) in servers.items()}
                runs: dict[tuple[str, str], list] = {("local", ""): []}
                for _ in range(args.repeats):
                    runs[("local", "")].append(measure(local, x))
                    for mode, pipelined in modes.items():
                        for name, remote in remotes.items():
                            remote.pipelined = pipelined
                            runs.setdefault((name, mode), []).append(measure(remote, x))
                for remote in remotes.values():
                    remote.close()
                medians = {key: [None if values[0][i] is None else median(r[i] for r in values)
                                 for i in (0, 1, 2)] for key, values in runs.items()}
                rows += [(label, mode, medians[("local", "")],
                          {name: medians[(name, mode)] for name in sources}) for mode in modes]
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait()
    print(f"{args.samples} digits inputs x {args.repeats} repeats, batch 1, onnxruntime {ort.__version__}, "
          "1 thread, server on loopback TCP")
    if args.baseline_src:
        print("| model | remote mode | local (samples/s) | baseline server (samples/s) | this server "
              "(samples/s) | this / baseline | this / local | round trip − target, baseline → this (µs) |")
        print("|---|---|---|---|---|---|---|---|")
        for label, mode, local, remote in rows:
            this, base = remote["this"], remote["baseline"]
            print(f"| {label} | {mode} | {local[0]:.0f} | {base[0]:.0f} | {this[0]:.0f} | "
                  f"{this[0] / base[0]:.1%} | {this[0] / local[0]:.1%} | {base[2]:.0f} → {this[2]:.0f} |")
        return
    print("| model | remote mode | local latency (µs) | local (samples/s) | remote host time per call (µs) "
          "| remote (samples/s) | remote / local | overhead per sample (µs) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, mode, (local_tp, local_lat, _), remote in rows:
        remote_tp, remote_lat, overhead = remote["this"]
        print(f"| {label} | {mode} | {local_lat:.0f} | {local_tp:.0f} | {remote_lat:.0f} | {remote_tp:.0f} "
              f"| {remote_tp / local_tp:.1%} | {1e6 / remote_tp - 1e6 / local_tp:.0f} "
              f"(round trip − target: {overhead:.0f}) |")


if __name__ == "__main__":
    main()
