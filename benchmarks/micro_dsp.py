"""Instructions per MAC on an emulated Cortex-M4: portable kernels vs the DSP-extension kernels.

The MobileNetV2-style network (the zoo's mobilenet-v2, width 0.5, depth 0.5) and the
keyword-spotting-style DS-CNN (the zoo's ds-cnn, 32 channels, 3 blocks), both on 1x8x8
digits with seeded untrained weights (counts depend on shapes, hardly on values) and
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

from _common import export_zoo_model, print_table
from board_instructions import SAMPLES, by_kind, c_artifact
from heiti import boards
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.flow.inference import run_inference
from heiti.models.ds_cnn import DsCnn
from heiti.models.mobilenet_v2 import MobileNetV2
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


def main() -> None:
    dataset = Digits({"seed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        portable = boards.builtin()[BOARD].model_dump()
        portable["name"] = f"{BOARD}-portable"
        portable["toolchain"]["flags"] = [*portable["toolchain"]["flags"], "-DHM_PORTABLE_KERNELS"]
        (folder / "portable.yml").write_text(yaml.safe_dump(portable), encoding="utf-8")
        ctx = StepContext(dataset=dataset, build_dir=folder, seed=0, log=lambda m: None)
        networks = {"MobileNetV2-style (0.5, 0.5)": MobileNetV2({}),
                    "DS-CNN (32 channels, 3 blocks)": DsCnn({})}
        for k, (label, zoo) in enumerate(networks.items()):
            model, _ = export_zoo_model(zoo, (1, 8, 8), 10, folder / f"m{k}.onnx", dataset)
            artifact = c_artifact(model, "tflite", folder / f"n{k}", ctx)
            dsp, dsp_out = run(BOARD, artifact)
            base, base_out = run(str(folder / "portable.yml"), artifact)
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
