"""heiti micro graphs made into C artifacts and run on an emulated board (real QEMU and
cross compilers), for the tests of the DSP, RV32 and palette kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heiti.core.artifact import Artifact, Provenance
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.micro.graph import Graph


def c_artifact(graph: Graph, folder: Path, name: str = "c", **micro_c: Any) -> Artifact:
    """``graph`` (a digits-shaped integer graph) through ``micro-c`` with ``micro_c``'s
    parameters, into ``folder/SCHEME-NAME``."""
    from heiti.micro.steps import graph_artifact
    from heiti.optimizers.micro_c import MicroC

    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8])],
                outputs=[TensorSpec(name="logits", shape=[-1, graph.tensors[graph.output].size])])
    source = Artifact(path=folder / "model.pt", format="torch", io=io, provenance=Provenance(producer="test"))
    npz = graph_artifact(graph, folder / f"{graph.scheme}.npz", source, "test", {}).save()
    ctx = StepContext(dataset=Digits(), build_dir=folder, log=lambda m: None)
    params = {"check_samples": 0, "cortex_m4": False, **micro_c}
    c = MicroC(params).optimize(npz, folder / f"{graph.scheme}-{name}", ctx)
    c.format = "c-int8"
    return c.save()


def on_board(artifact: Artifact, board: str, raw: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The board's outputs for the raw inputs, and its statistics (instructions, flash)."""
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    executor = Qemu({"board": board}).open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    return loop.outputs[artifact.io.outputs[0].name], executor.target_statistics["board"]
