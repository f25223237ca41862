"""Report tables as data: tables.json and tables/*.csv beside every report, comparison.csv
with one raw row per run (two real runs of the session's digits model)."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.report.export import value


def test_shown_cells_become_values():
    assert value("0.9805") == 0.9805 and value("12,345") == 12345 and value("-3") == -3
    assert value("–") is None and value("64.0 KiB") == "64.0 KiB" and value("1e-05") == 1e-05
    assert value("onnxruntime") == "onnxruntime" and value("1,2") == "1,2"


def test_comparison_and_run_reports_write_their_tables_as_csv_and_json(workdir):
    fp32 = write_scenario(workdir, scenario_dict("fp32", build_dir="build-fp32"), "fp32.yml")
    int8 = write_scenario(workdir, scenario_dict(
        "int8", build_dir="build-int8",
        optimizers=[{"type": "onnx-export"}, {"type": "ort-quantize"}]), "int8.yml")
    assert run_cli("run", fp32, int8, "--compare", workdir / "comparison") == 0
    folder = workdir / "comparison"
    tables = json.loads((folder / "tables.json").read_text())
    compared = next(t for t in tables["tables"] if t["section"] == "Runs compared")
    assert compared["header"][:3] == ["run", "format", "runtime"]
    assert [row[0] for row in compared["rows"]] == ["fp32", "int8"]
    accuracy = compared["header"].index("accuracy")
    assert all(isinstance(row[accuracy], float) for row in compared["rows"])
    with (folder / compared["file"]).open() as f:
        assert [r["run"] for r in csv.DictReader(f)] == ["fp32", "int8"]
    raw = list(csv.DictReader((folder / "comparison.csv").open()))
    assert [r["format"] for r in raw] == ["onnx", "onnx-int8"]
    assert int(raw[1]["size_bytes"]) < int(raw[0]["size_bytes"])
    rows = json.loads((folder / "comparison.json").read_text())
    assert rows[0]["latency_p50_ms"] > 0 and rows[0]["primary_metric"] == "accuracy"
    assert rows[0]["accuracy"] == pytest.approx(compared["rows"][0][accuracy], abs=5e-5)  # 4 digits shown
    run_tables = json.loads((workdir / "build-fp32" / "report" / "tables.json").read_text())
    assert run_tables["tables"] and all((workdir / "build-fp32" / "report" / t["file"]).is_file()
                                        for t in run_tables["tables"])


def test_a_single_outlier_does_not_empty_the_latency_histogram():
    import numpy as np

    from heiti.report.plots import robust_upper

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(1.0, 0.01, 99), [500.0]])  # one call preempted for 0.5 s
    high = robust_upper(values)
    assert values[:-1].max() <= high < 2.0  # every ordinary call shown, the outlier left out
    assert robust_upper(np.full(20, 3.0)) == 3.75  # all equal: 1.25 x the median
