"""A board run beside a host run in one comparison: the board row shows the board's own
figures (instructions, estimate at its clock, flash and RAM of the linked firmware), each
report opens with a verdict, and a board run's report shows the board first (a real
firmware on QEMU mps2-an386)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import run_cli, scenario_dict, write_scenario

NEEDED = ("qemu-system-arm", "arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                                reason="QEMU and arm-none-eabi-gcc are not installed (.ci/apt-packages)")
CHAIN = [{"type": "micro-ptq", "parameters": {"calibration_samples": 100}},
         {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}]


def test_a_board_run_is_compared_in_its_own_figures(workdir, monkeypatch):
    monkeypatch.setenv("HEITI_CACHE", str(workdir / "cache"))  # its own firmware cache
    host = write_scenario(workdir, scenario_dict("host", build_dir="build-host", optimizers=CHAIN,
                                                 runtime={"type": "micro-host"}), "host.yml")
    board = write_scenario(workdir, scenario_dict(
        "board", build_dir="build-board", optimizers=CHAIN, runtime={"type": "micro-host"},
        target={"kind": "qemu", "board": "mps2-an386"}, test={"warmup": 1, "samples": 20}), "board.yml")
    assert run_cli("run", host, board, "--compare", workdir / "comparison") == 0

    measured = json.loads((workdir / "build-board" / "measurements.json").read_text())
    figures = measured["resources"]["target"]["board"]
    tables = json.loads((workdir / "comparison" / "tables.json").read_text())
    assert tables["tables"][0]["section"] == "Runs compared"
    compared = tables["tables"][0]
    rows = {row[0]: dict(zip(compared["header"], row, strict=True)) for row in compared["rows"]}
    assert rows["board"]["instructions / inference"] == round(figures["instructions_per_inference"]["mean"])
    assert rows["board"]["flash B"] == figures["flash"]["used_bytes"]
    assert rows["board"]["RAM B"] == figures["ram"]["used_bytes"]
    assert rows["board"]["size"].endswith("flash")  # not the size of the C sources
    assert rows["board"]["p50 ms"] == pytest.approx(measured["performance"]["target_latency_ms"]["p50"],
                                                    abs=1e-4)  # not the host's round trip
    assert rows["host"]["instructions / inference"] is None and rows["host"]["flash B"] is None

    comparison = (workdir / "comparison" / "report.md").read_text()
    assert comparison.index("## Verdict") < comparison.index("## Runs compared")
    assert "estimated on mps2-an386" in comparison and "Best accuracy: " in comparison
    own = (workdir / "build-board" / "report" / "report.md").read_text()
    assert own.index("## Verdict") < own.index("## Board") < own.index("## Performance")
