"""Palette storage in heiti micro (micro-c weight_storage: palette): layers with few distinct
int8 values are stored as packed indices plus palettes and decoded into the arena before
their kernel runs. The host C and the emulated board (real QEMU, DSP and portable kernels)
compute exactly what the golden model computes, and the weights take less flash."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.datasets.digits import Digits
from heiti.micro import golden
from heiti.micro.build import HostModel, cortex_m4_report, host_library
from heiti.micro.codegen import generate
from heiti.micro.floatgraph import FloatBuilder
from heiti.micro.palette import Palette, choose, layers
from heiti.micro.quantize import calibrate_for, to_integer
from micro_boards import c_artifact, on_board

BOARD_TOOLS = ("qemu-system-arm", "arm-none-eabi-gcc")
RISCV_TOOLS = ("qemu-system-riscv32", "riscv64-unknown-elf-gcc")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("palette-cache")))
    yield
    mp.undo()


def _clustered(rng, shape, values, per_channel=False):
    """Weights drawn from ``values`` shared values (scaled per output channel when asked)."""
    centroids = rng.normal(0, 0.3, values)
    weight = centroids[rng.integers(0, values, shape)]
    if per_channel:
        weight *= rng.uniform(0.5, 1.5, (shape[0],) + (1,) * (len(shape) - 1))
    return weight


def _clustered_graph():
    """Every storage case: per-layer 2-bit (odd rows), per-channel 4-bit, depthwise, a 4-bit
    dense layer (one palette in pow2: the decoder's stream path), 1-bit dense, and a layer
    with too many values that stays int8."""
    rng = np.random.default_rng(3)
    b = FloatBuilder((1, 8, 8), 1 / 16)
    b.conv(_clustered(rng, (6, 1, 3, 3), 3), rng.normal(0, 0.1, 6), 1, 1, 1)
    b.activation("relu")
    b.conv(_clustered(rng, (8, 6, 3, 3), 16, per_channel=True), rng.normal(0, 0.1, 8), 2, 1, 1)
    b.activation("relu6")
    b.conv(_clustered(rng, (8, 1, 3, 3), 4), rng.normal(0, 0.1, 8), 1, 1, 8)
    b.conv(rng.normal(0, 0.3, (7, 8, 1, 1)), rng.normal(0, 0.1, 7), 1, 0, 1)  # many values: dense
    b.reshape((int(np.prod(b.shape)),))
    b.dense(_clustered(rng, (6, int(np.prod(b.shape))), 16), rng.normal(0, 0.1, 6))
    b.activation("relu")
    b.dense(_clustered(rng, (5, 6), 2), rng.normal(0, 0.1, 5))
    return b.finish()


@pytest.mark.parametrize("bits,values,row_len", [(1, 2, 13), (2, 3, 9), (4, 16, 7), (4, 11, 32)])
def test_packed_indices_give_back_every_weight(bits, values, row_len):
    rng = np.random.default_rng(bits)
    weight = rng.choice(np.arange(-128, 128), values, replace=False)[rng.integers(0, values, (5, row_len))]
    palette = choose(weight.astype(np.int8))
    assert palette is not None and palette.bits == bits and not palette.per_channel
    packed = palette.pack(weight)
    assert packed.shape == (5, (row_len * bits + 7) // 8)
    assert np.array_equal(palette.unpack(packed), weight)


def test_the_smaller_of_a_layer_and_a_channel_palette_is_chosen_and_only_when_it_saves():
    rng = np.random.default_rng(0)
    rows = np.stack([rng.choice(np.arange(-100, 100), 16, replace=False)[rng.integers(0, 16, 64)]
                     for _ in range(8)]).astype(np.int8)  # 16 values per channel, ~100 in the layer
    palette = choose(rows)
    assert palette.per_channel and palette.bits == 4 and palette.stored_bytes == 8 * 32 + 8 * 16
    assert np.array_equal(palette.unpack(palette.pack(rows)), rows)
    assert choose(rng.integers(-128, 128, (4, 64)).astype(np.int8)) is None  # too many values
    assert choose(rows[:, :9]) is None  # 9 weights per channel: 16 palette bytes each cost more


@pytest.mark.parametrize(("scheme", "decode_bytes"), [
    ("pow2", 0), ("pow2", 100), ("per-channel", 0), ("tflite", 100), ("tflite-single", 0)])
def test_palette_storage_is_bit_exact_on_the_host(scheme, decode_bytes, tmp_path):
    floats = _clustered_graph()
    x = Digits().split("test").x[:40]
    graph = to_integer(floats, calibrate_for(floats, x, scheme), scheme)
    palettes = layers(graph, decode_bytes)
    # operator 0 scales the input; the 1x1 convolution (4) keeps its 56 values as int8
    assert sorted(palettes) == [1, 2, 3, 6, 7]
    assert [palettes[i].bits for i in (1, 2, 6, 7)] == [2, 4, 4, 1]
    assert scheme != "pow2" or not palettes[6].per_channel
    raw = graph.quantize_input(x)
    want = golden.predict(graph, raw)
    assert len(np.unique(want)) > 10  # real outputs, not a saturated constant
    dense_plan = generate(graph, tmp_path / "dense")
    plan = generate(graph, tmp_path / "palette", palettes)
    host = HostModel(host_library(tmp_path / "palette"), raw[0].size, want.shape[1])
    assert np.array_equal(host.predict(raw), want)
    decoded = max(p.chunk * p.row_len for p in palettes.values())
    assert dense_plan.arena_bytes <= plan.arena_bytes <= dense_plan.arena_bytes + decoded
    chunks = {i: p.chunk for i, p in palettes.items()}
    if decode_bytes == 0:  # whole layers
        assert all(p.chunk == p.rows for p in palettes.values())
    else:  # rows of 54 and 112 bytes: chunks of the minimum, 4 channels;
        assert chunks == {1: 6, 2: 4, 3: 8, 6: 4, 7: 5}  # small layers and the depthwise one whole
    if shutil.which("arm-none-eabi-gcc"):  # compiles with -Werror for Cortex-M4 as well
        assert cortex_m4_report(tmp_path / "palette")["bss_bytes"] >= plan.arena_bytes


@pytest.mark.skipif(not all(shutil.which(p) for p in BOARD_TOOLS),
                    reason="QEMU and the ARM cross compiler are not installed (.ci/apt-packages)")
@pytest.mark.parametrize(("scheme", "decode_bytes"), [("pow2", 100), ("tflite", 0)])
def test_palette_storage_is_bit_exact_on_the_board_with_less_weight_flash(scheme, decode_bytes, tmp_path):
    import yaml

    from heiti import boards

    floats = _clustered_graph()
    x = Digits().split("test").x[:40]
    graph = to_integer(floats, calibrate_for(floats, x, scheme), scheme)
    dense, packed = (c_artifact(graph, tmp_path, storage, check_samples=8, weight_storage=storage,
                                decode_bytes=decode_bytes) for storage in ("dense", "palette"))
    storage = packed.provenance.details["weight_storage"]
    assert storage["weight_bytes_stored"] < storage["weight_bytes_int8"]
    raw = packed.io.inputs[0].quantize(x)
    want = golden.predict(graph, raw)
    portable = boards.builtin()["mps2-an386"].model_dump()
    portable["name"] = "mps2-an386-portable"
    portable["toolchain"]["flags"] = [*portable["toolchain"]["flags"], "-DHM_PORTABLE_KERNELS"]
    (tmp_path / "portable.yml").write_text(yaml.safe_dump(portable), encoding="utf-8")
    riscv = ["riscv32-virt"] if all(shutil.which(p) for p in RISCV_TOOLS) else []
    for board in (str(tmp_path / "portable.yml"), *riscv, "mps2-an386"):  # portable, RV32, DSP kernels
        out, packed_board = on_board(packed, board, raw)
        assert np.array_equal(out, want), board
    _, dense_board = on_board(dense, "mps2-an386", raw)
    # weight flash from the linked firmware's symbols: int8 arrays against indices + palettes
    assert dense_board["flash"]["weights_bytes"] >= storage["weight_bytes_int8"]
    assert packed_board["flash"]["weights_bytes"] < dense_board["flash"]["weights_bytes"]


def test_a_palette_holds_what_it_stores():
    palette = Palette(2, 3, 2, np.array([[-5, 0, 7]], dtype=np.int8))
    weight = np.array([[7, -5, 0], [0, 0, 7]], dtype=np.int8)
    assert palette.pack(weight).tolist() == [[2 | 0 << 2 | 1 << 4], [1 | 1 << 2 | 2 << 4]]
    assert palette.stored_bytes == 2 + 3


@pytest.mark.parametrize("bits,values,rows,row_len,per_channel", [
    (4, 16, 3, 6, False),  # one palette, even rows: the stream path, an odd byte count at its end
    (4, 16, 4, 8, False),
    (4, 12, 3, 7, False),  # odd rows: row by row
    (4, 16, 5, 33, True),
    (2, 4, 3, 9, True),
    (1, 2, 2, 13, False),
])
def test_the_c_decoder_gives_back_every_weight(tmp_path, bits, values, rows, row_len, per_channel):
    import ctypes

    rng = np.random.default_rng(rows * row_len)
    choices = [rng.choice(np.arange(-128, 128), values, replace=False) for _ in range(rows)]
    weight = np.stack([choices[r if per_channel else 0][rng.integers(0, values, row_len)]
                       for r in range(rows)]).astype(np.int8)
    palette = Palette(rows, row_len, bits, np.stack(choices if per_channel else choices[:1]).astype(np.int8))
    floats = _clustered_graph()
    graph = to_integer(floats, calibrate_for(floats, Digits().split("test").x[:8], "pow2"), "pow2")
    generate(graph, tmp_path, layers(graph))
    decode = ctypes.CDLL(str(host_library(tmp_path))).hm_unpalette

    class HmPalette(ctypes.Structure):
        _fields_ = [("index", ctypes.c_void_p), ("palette", ctypes.c_void_p)] + [
            (name, ctypes.c_int32) for name in ("rows", "row_len", "bits", "row_step")]

    packed = np.ascontiguousarray(palette.pack(weight))
    table = np.ascontiguousarray(palette.values)
    step = table.shape[1] if per_channel else 0
    stored = HmPalette(packed.ctypes.data, table.ctypes.data, rows, row_len, bits, step)
    for first, count in ((0, rows), (1, rows - 1)):  # the whole layer, then a chunk of its rows
        out = np.zeros(rows * row_len + 8, dtype=np.int32).view(np.int8)  # word-aligned, as the arena
        decode(ctypes.byref(stored), first, count, out.ctypes.data_as(ctypes.c_void_p))
        assert np.array_equal(out[: count * row_len].reshape(count, row_len), weight[first:])
        assert not out[count * row_len :].any()  # nothing written past the chunk


@pytest.mark.skipif(not all(shutil.which(p) for p in BOARD_TOOLS),
                    reason="QEMU and the ARM cross compiler are not installed (.ci/apt-packages)")
def test_a_clustered_digits_model_takes_less_weight_flash_on_the_board(trained_model_dir, torch_reference):
    """The session's digits model clustered to 16 values per layer: the linked firmware's weight
    arrays shrink by about 40 % (3.6 KB of weights: the palettes weigh more than in the demo
    model, whose 48 % docs/compression.md reports), the board computes what the golden model
    does on the whole test set, and the accuracy stays within 3 points of the PyTorch model
    (1 epoch of fine-tuning here)."""
    import json

    from heiti.micro.graph import Graph
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    chain = [{"type": "cluster", "parameters": {"clusters": 16, "epochs": 1}},
             {"type": "micro-ptq", "parameters": {"calibration_samples": 100, "sensitivity_samples": 0}},
             {"type": "micro-c", "parameters": {"weight_storage": "palette", "check_samples": 8}}]
    data = scenario_dict("clustered-micro", build_dir="b/clustered-micro", optimizers=chain,
                         runtime={"type": "micro-host"}, test={"warmup": 0, "batch_size": 1},
                         report={"enabled": False})
    assert run_cli("run", write_scenario(trained_model_dir, data, "clustered-micro.yml")) == 0
    folder = trained_model_dir / "b" / "clustered-micro"
    measured = json.loads((folder / "measurements.json").read_text(encoding="utf-8"))
    accuracy = (torch_reference["quality"]["metrics"]["accuracy"], measured["quality"]["metrics"]["accuracy"])
    assert accuracy[1] >= accuracy[0] - 0.03, accuracy
    artifact = Artifact.load(folder / "03-micro-c")
    storage = artifact.provenance.details["weight_storage"]
    assert len(storage["layers"]) >= 2
    raw = artifact.io.inputs[0].quantize(Digits().split("test").x)
    executor = Qemu({"board": "mps2-an386"}).open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    board = executor.target_statistics["board"]
    assert np.array_equal(loop.outputs[artifact.io.outputs[0].name],
                          golden.predict(Graph.load(folder / "02-micro-ptq.npz"), raw))
    assert board["flash"]["weights_bytes"] <= 0.62 * storage["weight_bytes_int8"]


def test_the_board_example_asks_for_palette_storage_after_clustering():
    import yaml

    from conftest import EXAMPLES_DIR
    from heiti.optimizers.micro_c import MicroCParams

    example = yaml.safe_load((EXAMPLES_DIR / "boards" / "digits-clustered-mps2-an386.yml").read_text())
    kinds = [step["type"] for step in example["optimizers"]]
    assert kinds == ["cluster", "micro-ptq", "micro-c"]
    assert MicroCParams(**example["optimizers"][2]["parameters"]).weight_storage == "palette"
