"""Per-layer profiles in measurements and reports: a scenario's test.profile_runs stores the
host runtime's profile (real ONNX Runtime), its report shows it, and a comparison with a board
run of the same model puts the board's instructions per layer beside it (a real firmware on
QEMU mps2-an386)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("onnxruntime", reason='ONNX Runtime is not installed: pip install "heiti[onnx]"')

from conftest import run_cli, scenario_dict, write_scenario  # noqa: E402

NEEDED = ("qemu-system-arm", "arm-none-eabi-gcc")
PROFILED = {"warmup": 1, "samples": 20, "profile_runs": 5}


def _tables(folder) -> dict[str, dict]:
    return {t["section"]: t for t in json.loads((folder / "tables.json").read_text())["tables"]}


def test_a_scenario_stores_and_reports_the_host_profile(workdir, capsys):
    scenario = write_scenario(workdir, scenario_dict("prof", build_dir="build-prof", test=PROFILED),
                              "prof.yml")
    assert run_cli("run", scenario) == 0
    measured = json.loads((workdir / "build-prof" / "measurements.json").read_text())
    profile = measured["profile"]
    assert profile["runtime"] == "onnxruntime" and profile["runs"] == 5
    layers = profile["layers"]
    assert all(layer["mean_ms"] > 0 for layer in layers)
    assert {"Conv", "Gemm"} <= {layer["op_type"] for layer in layers}
    # the kernels' sum is of the order of the whole call (ONNX Runtime's own work is left out)
    whole = measured["performance"]["latency_ms"]["p50"]
    assert whole / 20 < sum(layer["mean_ms"] for layer in layers) < whole * 20
    table = _tables(workdir / "build-prof" / "report")["Per-layer profile"]
    assert [row[0] for row in table["rows"]] == [layer["name"] for layer in layers]


@pytest.mark.parametrize("overrides, message", [
    ({"runtime": {"type": "torch"}, "optimizers": []}, "runtime 'torch' has no per-layer profiler"),
    ({"target": {"kind": "remote", "port": 1}}, "test.profile_runs profiles on this host only"),
])
def test_a_profile_the_runtime_cannot_give_is_refused(workdir, capsys, overrides, message):
    scenario = write_scenario(workdir, scenario_dict("refused", build_dir="build-refused",
                                                     test=PROFILED, **overrides), "refused.yml")
    assert run_cli("test", scenario) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "build-refused" / "measurements.json").exists()


@pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                    reason="QEMU and arm-none-eabi-gcc are not installed (.ci/apt-packages)")
def test_the_board_layers_stand_beside_the_host_profile(workdir, monkeypatch):
    monkeypatch.setenv("HEITI_CACHE", str(workdir / "cache"))  # its own firmware cache
    chain = [{"type": "onnx-export"}, {"type": "micro-import-onnx"},
             {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}]
    board = write_scenario(workdir, scenario_dict(
        "board", build_dir="build-board", optimizers=chain, runtime={"type": "micro-host"},
        target={"kind": "qemu", "board": "mps2-an386"}, test={"warmup": 1, "samples": 5}), "board.yml")
    host = write_scenario(workdir, scenario_dict("host", build_dir="build-host", test=PROFILED),
                          "host.yml")
    assert run_cli("run", board, host, "--compare", workdir / "comparison") == 0

    board_layers = json.loads((workdir / "build-board" / "measurements.json").read_text())[
        "resources"]["target"]["board"]["layers"]
    host_layers = json.loads((workdir / "build-host" / "measurements.json").read_text())[
        "profile"]["layers"]
    table = _tables(workdir / "comparison")["Per layer: board and the host"]
    assert table["header"] == ["#", "layer", "operator", "board instructions", "share %",
                               "host ms", "share %"]
    rows = [dict(zip(table["header"][:4] + ["host ms"], row[:4] + [row[5]], strict=True))
            for row in table["rows"]]
    # every board layer in graph order, under the model's node name
    assert [row["layer"] for row in rows[:len(board_layers)]] == [b["name"] for b in board_layers]
    assert all(row["board instructions"] > 0 for row in rows[:len(board_layers)])
    # ONNX Runtime's fused and NCHWc layers are traced back to the model's nodes, so every
    # board layer of the model (all but the input's preprocessing) has its host time beside it
    assert all(row["host ms"] > 0 for row in rows[1:len(board_layers)])
    # the rest are layers of ONNX Runtime's own (layout reorders), each once
    assert all(row["operator"].startswith("Reorder") for row in rows[len(board_layers):])
    # every host layer is counted once: the column adds up to the whole profile
    shown = sum(row["host ms"] for row in rows if row["host ms"] is not None)
    assert shown == pytest.approx(sum(layer["mean_ms"] for layer in host_layers), abs=1e-4 * len(rows))
