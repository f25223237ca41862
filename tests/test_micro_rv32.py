"""The RV32 kernels (register tiling) on the emulated riscv32-virt board (real QEMU, real
cross compiler): bit-identical to the golden model in every scheme, and to the same
firmware with the portable kernels, on the graph that reaches every kernel path (see
test_micro_dsp.py), with fewer instructions per MAC than the portable build."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from heiti import boards
from heiti.datasets.digits import Digits
from heiti.micro import golden
from heiti.micro.quantize import calibrate_for, to_integer
from micro_boards import c_artifact, on_board
from test_micro_dsp import _every_path_graph

NEEDED = ("qemu-system-riscv32", "riscv64-unknown-elf-gcc")
pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                                reason="QEMU and the RISC-V cross compiler are not installed "
                                "(.ci/apt-packages)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A firmware cache of the module's own, and the board again with the portable kernels."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("rv32")
        mp.setenv("HEITI_CACHE", str(folder / "cache"))
        board = boards.builtin()["riscv32-virt"]
        flags = [*board.toolchain.flags, "-DHM_PORTABLE_KERNELS"]
        portable = board.model_copy(update={"name": "riscv32-virt-portable",
                                            "toolchain": board.toolchain.model_copy(update={"flags": flags})})
        (folder / "portable.yml").write_text(yaml.safe_dump(portable.model_dump()), encoding="utf-8")
        yield folder


@pytest.mark.parametrize("scheme", ["tflite", "tflite-single", "per-channel", "pow2"])
def test_rv32_kernels_equal_portable_and_golden_on_riscv32_virt(env, scheme):
    floats, x = _every_path_graph(), Digits().split("test").x[:48]
    graph = to_integer(floats, calibrate_for(floats, x, scheme), scheme)
    artifact = c_artifact(graph, env)
    raw = artifact.io.inputs[0].quantize(x)
    want = golden.predict(graph, raw)
    assert len(np.unique(want)) > 10  # real outputs, not a saturated constant
    # asymmetric (tflite) and symmetric (pow2) inputs: the portable build as well
    names = ["riscv32-virt", *([str(env / "portable.yml")] if scheme in ("tflite", "pow2") else [])]
    runs = [on_board(artifact, name, raw) for name in names]
    assert all(np.array_equal(outputs, want) for outputs, _ in runs)
    per_mac = [board["instructions_per_mac"] for _, board in runs]
    assert per_mac[0] == min(per_mac) and len(set(per_mac)) == len(per_mac)  # the RV32 build runs fewer
