"""Instructions per MAC on an emulated Cortex-M4: portable kernels vs the DSP-extension kernels.

The MobileNetV2-style network (the zoo's mobilenet-v2, width 0.5, depth 0.5) and the
keyword-spotting-style DS-CNN (the zoo's ds-cnn in its MLPerf Tiny shape, 64 channels,
4 blocks), both on 1x8x8 digits with seeded untrained weights (counts depend on shapes, hardly on values) and
quantized in the tflite scheme, run in firmware on mps2-an386 (Cortex-M4) under QEMU
-icount shift=0: once as built for the board (DSP kernels, chosen by -mcpu=cortex-m4) and
once with -DHM_PORTABLE_KERNELS (the baseline). The outputs of both builds are checked
equal. Printed: instructions per inference, per MAC and per MAC of each layer kind.

    python benchmarks/micro_dsp.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from _common import print_table
from board_instructions import SAMPLES, by_kind
from heiti import boards
from heiti.core.artifact import Artifact, Provenance
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.micro.from_torch import from_torch
from heiti.micro.quantize import calibrate_for, to_integer
from heiti.micro.steps import graph_artifact
from heiti.models.ds_cnn import DsCnn
from heiti.models.mobilenet_v2 import MobileNetV2
from heiti.optimizers.micro_c import MicroC
from heiti.pipeline.inference import run_inference
from heiti.runtimes.micro_host import MicroHost
from heiti.targets.qemu import Qemu

BOARD = "mps2-an386"


def run(board: str, artifact) -> tuple[dict, object]:
    executor = Qemu({"board": board}).open(MicroHost(), artifact)
    try:
        spec = artifact.io.inputs[0]
        x = spec.quantize(Digits({"seed": 0}).split("test").x[:SAMPLES])
        loop = run_inference(executor, {spec.name: x}, warmup=0, show_progress=False)
    finally:
        executor.close()
    return executor.target_statistics["board"], loop.outputs[artifact.io.outputs[0].name]


def c_artifact(zoo, folder: Path, ctx: StepContext) -> Artifact:
    """The seeded, untrained zoo network quantized in the tflite scheme, as generated C."""
    import torch

    torch.manual_seed(0)
    floats = from_torch(zoo.build((1, 8, 8), 10).eval(), (1, 8, 8), 1 / 16)
    x = ctx.dataset.split("calibration").x[:100]
    graph = to_integer(floats, calibrate_for(floats, x, "tflite"), "tflite")
    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8])],
                outputs=[TensorSpec(name="logits", shape=[-1, 10])])
    source = Artifact(path=folder / "model.pt", format="torch", io=io,
                      provenance=Provenance(producer="benchmark"))
    npz = graph_artifact(graph, folder / "graph.npz", source, "benchmark", {}).save()
    c = MicroC({"check_samples": 0, "cortex_m4": False}).optimize(npz, folder / "c", ctx)
    c.format = "c-int8"
    return c.save()


def portable_board(folder: Path) -> str:
    """A board file: BOARD with the portable kernels (-DHM_PORTABLE_KERNELS)."""
    portable = boards.builtin()[BOARD].model_dump()
    portable["name"] = f"{BOARD}-portable"
    portable["toolchain"]["flags"] = [*portable["toolchain"]["flags"], "-DHM_PORTABLE_KERNELS"]
    (folder / "portable.yml").write_text(yaml.safe_dump(portable), encoding="utf-8")
    return str(folder / "portable.yml")


def main() -> None:
    dataset = Digits({"seed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        portable = portable_board(folder)
        ctx = StepContext(dataset=dataset, build_dir=folder, seed=0, log=lambda m: None)
        networks = {"MobileNetV2-style (0.5, 0.5)": MobileNetV2({}),
                    "DS-CNN (MLPerf Tiny shape: 64 channels, 4 blocks)": DsCnn({})}
        for k, (label, zoo) in enumerate(networks.items()):
            (folder / f"n{k}").mkdir()
            artifact = c_artifact(zoo, folder / f"n{k}", ctx)
            dsp, dsp_out = run(BOARD, artifact)
            base, base_out = run(portable, artifact)
            assert (base_out == dsp_out).all(), f"{label}: DSP and portable outputs differ"
            kinds = sorted(set(by_kind(base)) | set(by_kind(dsp)))
            rows = []
            for name, r in (("portable", base), ("DSP", dsp)):
                kind = by_kind(r)
                rows.append([name, f"{r['instructions_per_inference']['mean']:,.0f}",
                             f"{r['instructions_per_mac']:.2f}",
                             f"{base['instructions_per_mac'] / r['instructions_per_mac']:.2f}",
                             *(f"{kind.get(c, 0):.2f}" for c in kinds), r["flash"]["used_bytes"],
                             r["ram"]["used_bytes"]])
            print(f"\n{label}, tflite scheme, {dsp['macs_per_inference']:,} MACs per inference, "
                  f"outputs equal on {SAMPLES} samples\n")
            print_table(["kernels", "instructions / inference", "instructions / MAC", "speed-up",
                         *(f"{c} / MAC" for c in kinds), "flash B", "RAM B"], rows)


if __name__ == "__main__":
    main()
