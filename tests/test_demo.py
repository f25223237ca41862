"""The demo scenarios from examples/digits, run as README's first command runs them,
checked against the figures the project promises (accuracy, int8 loss, int8 size) and
against README's figures table, within its tolerances."""

import json
import shutil
import sys
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "digits"
sys.path.insert(0, str(ROOT / "benchmarks"))
from check_figures import documented, field  # noqa: E402  (the benchmark's parser, not a copy)


def test_demo_meets_its_promises(tmp_path):
    folder = tmp_path / "examples" / "digits"
    shutil.copytree(EXAMPLES, folder)  # the scenarios write to ../../build, i.e. inside tmp_path
    assert run_cli("run", folder / "digits-fp32.yml", folder / "digits-int8.yml",
                   "--compare", tmp_path / "build" / "comparison") == 0
    fp32 = json.loads((tmp_path / "build" / "digits-fp32" / "measurements.json").read_text())
    int8 = json.loads((tmp_path / "build" / "digits-int8" / "measurements.json").read_text())
    assert fp32["quality"]["metrics"]["accuracy"] >= 0.97
    assert int8["quality"]["metrics"]["accuracy"] >= fp32["quality"]["metrics"]["accuracy"] - 0.01
    assert int8["model"]["size_bytes"] <= 0.35 * fp32["model"]["size_bytes"]
    assert (tmp_path / "build" / "comparison" / "report.html").stat().st_size > 10_000
    figures = [f for f in documented(ROOT / "README.md") if f.scenario.startswith("examples/digits/")]
    assert len(figures) >= 3
    for figure in figures:
        measured = {"digits-fp32": fp32, "digits-int8": int8}[Path(figure.scenario).stem]
        value = field(measured, figure.field)
        assert figure.holds(value), (f"{figure.scenario} {figure.field} is {value}, outside README's "
                                     f"{figure.documented} (bounds {figure.bounds}; {figure.source})")
