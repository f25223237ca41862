"""Instructions per MAC of heiti micro's portable kernels on the emulated boards.

The demo network (tiny-cnn [32, 64]/128, trained by examples/digits when
build/digits-model/model.pt is missing; power-of-two PTQ) and the MobileNetV2-style
network (the zoo's mobilenet-v2, width 0.5, depth 0.5, on 1x8x8 digits; seeded untrained
weights: counts depend on shapes, hardly on values; per-channel PTQ) run in firmware on
each built-in board under QEMU -icount shift=0, on the first SAMPLES test images.
Printed per board: instructions per inference, MACs, instructions per MAC in total and
per layer kind, and the ratio of instructions per MAC to the first board (the baseline).

    python benchmarks/board_instructions.py
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from _common import export_zoo_model
from heiti.cli import main as heiti_main
from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.models.mobilenet_v2 import MobileNetV2
from heiti.optimizers.micro_c import MicroC
from heiti.optimizers.micro_ptq import MicroPtq
from heiti.pipeline.inference import run_inference
from heiti.runtimes.micro_host import MicroHost
from heiti.targets.qemu import Qemu

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "build" / "digits-model" / "model.pt"
BOARDS = ("mps2-an386", "mps2-an500", "riscv32-virt")
SAMPLES = 40


def c_artifact(model: Artifact, scheme: str, folder: Path, ctx: StepContext) -> Artifact:
    graph = MicroPtq({"scheme": scheme}).optimize(model, folder / "graph.npz", ctx)
    graph.format = "micro-int8"
    c = MicroC({"check_samples": 0, "cortex_m4": False}).optimize(graph.save(), folder / "c", ctx)
    c.format = "c-int8"
    return c.save()


def on_board(board: str, artifact: Artifact) -> dict:
    executor = Qemu({"board": board}).open(MicroHost(), artifact)
    try:
        spec = artifact.io.inputs[0]
        x = spec.quantize(Digits({"seed": 0}).split("test").x[:SAMPLES])
        run_inference(executor, {spec.name: x}, warmup=0, show_progress=False)
    finally:
        executor.close()
    return executor.target_statistics["board"]


def by_kind(summary: dict) -> dict[str, float]:
    instructions, macs = defaultdict(float), defaultdict(int)
    for row in summary["layers"]:
        if row["macs"]:
            kind = row["kind"] if row["kind"] != "conv2d" else _conv_kind(row)
            instructions[kind] += row["instructions"]
            macs[kind] += row["macs"]
    return {kind: instructions[kind] / macs[kind] for kind in sorted(macs)}


def _conv_kind(row: dict) -> str:
    return f"conv2d {row.get('kernel', '')}".strip()


def print_tables(label: str, results: dict[str, dict]) -> None:
    first = results[BOARDS[0]]
    print(f"\n{label}: {first['macs_per_inference']:,} MACs per inference\n")
    kinds = sorted({k for r in results.values() for k in by_kind(r)})
    head = ["board", "instructions / inference", "instructions / MAC", f"vs {BOARDS[0]}",
            *(f"{k} / MAC" for k in kinds), "flash B", "RAM B", "stack B"]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for board, r in results.items():
        kind = by_kind(r)
        cells = [board, f"{r['instructions_per_inference']['mean']:,.0f}", f"{r['instructions_per_mac']:.2f}",
                 f"{r['instructions_per_mac'] / first['instructions_per_mac']:.2f}",
                 *(f"{kind.get(k, 0):.2f}" for k in kinds), str(r["flash"]["used_bytes"]),
                 str(r["ram"]["used_bytes"]), str(r["stack"]["high_water_bytes"])]
        print("| " + " | ".join(cells) + " |")
    if len(first["layers"]) > 12:
        return
    head = ["layer", "operator", "MACs", *(f"{b} instr / MAC" for b in BOARDS)]
    print("\n| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for i, row in enumerate(first["layers"]):
        per_mac = [results[b]["layers"][i]["instructions_per_mac"] for b in BOARDS]
        cells = [str(i), row["kind"], f"{row['macs']:,}",
                 *("–" if c is None else f"{c:.2f}" for c in per_mac)]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    if not DEMO.exists():
        heiti_main(["train", str(ROOT / "examples" / "digits" / "digits-micro.yml")])
    dataset = Digits({"seed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StepContext(dataset=dataset, build_dir=Path(tmp), seed=0, log=lambda m: None)
        mobilenet, _ = export_zoo_model(MobileNetV2({}), (1, 8, 8), 10, Path(tmp) / "mbv2.onnx", dataset)
        networks = [("tiny-cnn [32, 64]/128, pow2",
                     c_artifact(Artifact.load(DEMO), "pow2", Path(tmp) / "demo", ctx)),
                    ("mobilenet-v2 (0.5, 0.5), per-channel",
                     c_artifact(mobilenet, "per-channel", Path(tmp) / "mbv2", ctx))]
        for label, artifact in networks:
            print_tables(label, {board: on_board(board, artifact) for board in BOARDS})


if __name__ == "__main__":
    main()
