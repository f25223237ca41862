"""The DSP-extension kernels (SMLAD, SXTB16) on emulated Cortex-M4 and Cortex-M7 boards
(real QEMU, real cross compiler): bit-identical to the portable kernels and the golden
model in every scheme, on a graph that reaches every path (padded and unpadded windows,
odd channel and pixel counts, fan-ins that are not multiples of four, depthwise with
stride 2, dense with every row grouping), and fewer instructions per MAC."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from heiti import boards
from heiti.datasets.digits import Digits
from heiti.micro import golden
from heiti.micro.floatgraph import FloatBuilder
from heiti.micro.graph import Graph
from heiti.micro.quantize import calibrate_for, to_integer
from micro_boards import c_artifact, on_board

NEEDED = ("qemu-system-arm", "arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                                reason="QEMU and the ARM cross compiler are not installed (.ci/apt-packages)")


def _every_path_graph() -> Graph:
    rng = np.random.default_rng(7)
    b = FloatBuilder((1, 8, 8), 1 / 16)
    b.conv(rng.normal(0, 0.4, (7, 1, 3, 3)), rng.normal(0, 0.1, 7), 1, 1, 1)  # padded edges, 7 channels
    b.activation("relu6")
    planes = b.conv(rng.normal(0, 0.3, (7, 1, 3, 3)), rng.normal(0, 0.1, 7), 1, 1, 7)  # depthwise 8x8: planes
    b.conv(rng.normal(0, 0.3, (7, 1, 3, 3)), rng.normal(0, 0.1, 7), 2, 1, 7)  # depthwise 3x3, stride 2, 8x8
    b.conv(rng.normal(0, 0.3, (8, 7, 1, 1)), rng.normal(0, 0.1, 8), 1, 0, 1)  # pointwise 7 -> 3 + 3 + 2
    b.activation("relu")
    b.conv(rng.normal(0, 0.3, (8, 1, 3, 3)), rng.normal(0, 0.1, 8), 2, 1, 8)  # depthwise 3x3, stride 2, 4x4
    odd = b.conv(rng.normal(0, 0.2, (5, 8, 2, 2)), rng.normal(0, 0.1, 5), 1, 1, 1)  # 3x3 = 9 pixels: odd
    side = np.random.default_rng(8)  # a branch of its own: the layers above keep their weights
    b.current = planes
    b.conv(side.normal(0, 0.3, (7, 1, 3, 3)), side.normal(0, 0.1, 7), 1, 0, 7)  # 8x8 -> 6x6, no padding
    b.conv(side.normal(0, 0.3, (7, 1, 3, 3)), side.normal(0, 0.1, 7), 2, 1, 7)  # depthwise 3x3, stride 2, 6x6
    b.conv(side.normal(0, 0.3, (5, 7, 1, 1)), side.normal(0, 0.1, 5), 1, 0, 1)
    b.add(odd, b.current)
    b.conv(rng.normal(0, 0.3, (5, 1, 3, 3)), rng.normal(0, 0.1, 5), 1, 1, 5)  # depthwise 3x3 on a 3x3 map
    skip = b.conv(rng.normal(0, 0.3, (5, 1, 2, 2)), rng.normal(0, 0.1, 5), 1, 0, 5)  # depthwise 2x2: general
    branch = b.conv(rng.normal(0, 0.3, (5, 1, 3, 3)), rng.normal(0, 0.1, 5), 1, 1, 5)  # 3x3 on a 2x2 map
    b.add(skip, branch)  # residual add
    b.avgpool(2, 2, 1)  # global average pooling
    b.conv(rng.normal(0, 0.3, (5, 1, 3, 3)), rng.normal(0, 0.1, 5), 1, 1, 5)  # depthwise on a 1-row map
    b.reshape((int(np.prod(b.shape)),))
    b.dense(rng.normal(0, 0.3, (11, int(np.prod(b.shape)))), rng.normal(0, 0.1, 11))  # 4 + 4 + 3 rows
    b.dense(rng.normal(0, 0.3, (5, 11)), rng.normal(0, 0.1, 5))  # 4 + 1 rows, fan-in 8 + 3
    feature = b.current
    b.dense(rng.normal(0, 0.5, (2, 5)), rng.normal(0, 0.1, 2))  # 2 rows from the int8 input, fan-in 4 + 1
    b.add(feature, b.dense(rng.normal(0, 0.5, (5, 2)), rng.normal(0, 0.1, 5)))  # keeps the outputs varied
    return b.finish()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("dsp")
    mp.setenv("HEITI_CACHE", str(folder / "cache"))
    portable = boards.builtin()["mps2-an386"].model_dump()
    portable["name"] = "mps2-an386-portable"
    portable["toolchain"]["flags"] = [*portable["toolchain"]["flags"], "-DHM_PORTABLE_KERNELS"]
    (folder / "portable.yml").write_text(yaml.safe_dump(portable), encoding="utf-8")
    yield folder
    mp.undo()


@pytest.mark.parametrize("scheme", ["tflite", "tflite-single", "per-channel", "pow2"])
def test_dsp_kernels_equal_portable_and_golden_on_the_boards(env, scheme):
    floats = _every_path_graph()
    x = Digits().split("test").x[:48]
    graph = to_integer(floats, calibrate_for(floats, x, scheme), scheme)
    artifact = c_artifact(graph, env)
    raw = artifact.io.inputs[0].quantize(x)
    want = golden.predict(graph, raw)
    assert len(np.unique(want)) > 10  # real outputs, not a saturated constant
    dsp, dsp_board = on_board(artifact, "mps2-an386", raw)
    assert np.array_equal(dsp, want)
    if scheme in ("tflite", "pow2"):  # the same firmware with the portable kernels, and the M7
        portable, portable_board = on_board(artifact, str(env / "portable.yml"), raw)
        assert np.array_equal(portable, want)
        # the DSP build runs fewer instructions
        assert dsp_board["instructions_per_mac"] < portable_board["instructions_per_mac"]
        m7, _ = on_board(artifact, "mps2-an500", raw)
        assert np.array_equal(m7, want)
