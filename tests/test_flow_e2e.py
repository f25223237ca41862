"""End to end: the demo flow (train -> export -> graph -> int8 -> evaluate -> compare)."""

import json

import numpy as np
import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.pipeline.measurements import SCHEMA, SCHEMA_VERSION

FP32 = [{"type": "onnx-export"}, {"type": "onnx-graph"}]
INT8 = FP32 + [{"type": "ort-quantize", "parameters": {"reduce_range": True}}]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, trained_model_dir):
    import shutil

    folder = tmp_path_factory.mktemp("demo")
    shutil.copytree(trained_model_dir / "model", folder / "model")
    fp32 = write_scenario(folder, scenario_dict("fp32", build_dir="b/fp32", optimizers=FP32,
                                                test={"warmup": 3}), "fp32.yml")
    int8 = write_scenario(folder, scenario_dict("int8", build_dir="b/int8", optimizers=INT8,
                                                test={"warmup": 3}), "int8.yml")
    assert run_cli("run", fp32, int8, "--compare", folder / "compare") == 0
    docs = {n: json.loads((folder / "b" / n / "measurements.json").read_text()) for n in ("fp32", "int8")}
    return folder, docs


def test_measurements_are_complete_and_consistent(demo_runs):
    folder, docs = demo_runs
    doc = docs["fp32"]
    assert doc["schema"] == SCHEMA and doc["schema_version"] == SCHEMA_VERSION
    perf = doc["performance"]
    assert perf["samples"] == 359 and perf["batches"] == 359 and perf["warmup"] == 3
    lat = perf["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert len(perf["series"]["latency_ms"]) == 359
    assert perf["throughput_sps"] == pytest.approx(359 / (sum(perf["series"]["latency_ms"]) / 1e3), rel=1e-3)
    assert doc["quality"]["metrics"]["accuracy"] >= 0.9
    assert sum(map(sum, doc["quality"]["details"]["confusion_matrix"])) == 359
    model = doc["model"]
    assert model["format"] == "onnx" and model["parameters"] > 1000 and model["macs"] > model["parameters"]
    assert [step["producer"] for step in model["chain"]] == ["model:tiny-cnn", "optimizer:onnx-export",
                                                             "optimizer:onnx-graph"]
    env = doc["environment"]["host"]
    assert env["cpu_count"] >= 1 and {"onnxruntime", "numpy", "heiti"} <= set(env["frameworks"])
    assert doc["runtime"]["versions"]["onnxruntime"]
    assert doc["resources"]["series"]["rss_mb"] and doc["resources"]["rss_mb"]["max"] > 10
    assert doc["scenario"]["build_dir"] == str((folder / "b" / "fp32").resolve())


def test_int8_is_smaller_and_close_in_accuracy(demo_runs):
    _, docs = demo_runs
    assert docs["int8"]["model"]["format"] == "onnx-int8"
    # this test model has only ~3.7k weights, so fixed per-tensor overhead keeps the ratio well
    # above the demo's (test_demo.py checks the demo's own figures)
    assert docs["int8"]["model"]["size_bytes"] < 0.75 * docs["fp32"]["model"]["size_bytes"]
    accuracy = {name: doc["quality"]["metrics"]["accuracy"] for name, doc in docs.items()}
    assert abs(accuracy["int8"] - accuracy["fp32"]) <= 0.02


def test_reports_are_written_with_embedded_plots(demo_runs):
    folder, _ = demo_runs
    html = (folder / "compare" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 + 2 * 4  # comparison + 4 per run
    assert "Latency versus accuracy" in html and "fp32" in html and "int8" in html
    md = (folder / "compare" / "report.md").read_text()
    assert "| run | format |" in md and (folder / "compare" / "compare-latency-metric.png").exists()
    single = (folder / "b" / "int8" / "report" / "report.html").read_text()
    assert "Confusion matrix" in single and "G-mean" in single


def test_the_same_scenario_twice_gives_the_same_predictions(demo_runs):
    folder, docs = demo_runs
    assert run_cli("test", folder / "int8.yml") == 0
    again = json.loads((folder / "b" / "int8" / "measurements.json").read_text())
    assert again["quality"]["predictions"] == docs["int8"]["quality"]["predictions"]
    assert again["model"]["sha256"] == docs["int8"]["model"]["sha256"]


def test_report_command_renders_given_measurements(demo_runs, tmp_path):
    folder, _ = demo_runs
    assert run_cli("report", folder / "b" / "fp32" / "measurements.json", "-o", tmp_path,
                   "--title", "mine") == 0
    assert "<title>mine</title>" in (tmp_path / "report.html").read_text()


def test_quality_gate_fails_the_run_with_exit_1(workdir, capsys):
    path = write_scenario(workdir, scenario_dict(test={"samples": 60, "min_accuracy": 0.999}))
    assert run_cli("test", path) == 1
    assert "quality gate failed: accuracy" in capsys.readouterr().err
    # the measurements are true results, so they are kept
    doc = json.loads((workdir / "build" / "measurements.json").read_text())
    assert doc["quality"]["metrics"]["accuracy"] < 0.999


def test_torch_runtime_agrees_with_onnxruntime(workdir):
    torch_run = write_scenario(workdir, scenario_dict("pt", build_dir="pt", optimizers=[],
                                                      runtime={"type": "torch"}), "pt.yml")
    onnx_run = write_scenario(workdir, scenario_dict("ox", build_dir="ox"), "ox.yml")
    assert run_cli("test", torch_run) == 0 and run_cli("test", onnx_run) == 0
    a = json.loads((workdir / "pt" / "measurements.json").read_text())
    b = json.loads((workdir / "ox" / "measurements.json").read_text())
    assert a["quality"]["predictions"] == b["quality"]["predictions"]
    # folding batch norm into the convolutions turns 2 values per channel into 1 bias
    assert a["model"]["parameters"] - b["model"]["parameters"] == 8 + 16
    assert a["model"]["macs"] == b["model"]["macs"]


def test_batches_larger_than_one(workdir):
    path = write_scenario(workdir, scenario_dict(test={"batch_size": 8, "samples": 60, "warmup": 1}))
    assert run_cli("test", path) == 0
    doc = json.loads((workdir / "build" / "measurements.json").read_text())
    assert doc["performance"]["batches"] == 8 and doc["quality"]["samples"] == 60


def test_reports_render_in_a_real_browser(demo_runs, tmp_path):
    """Headless Chromium loads the self-contained HTML report (no network) and paints the
    page: the screenshot is a real image with the plots' colours on it, not a blank page."""
    import shutil
    import subprocess

    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package chromium)")
    folder, _ = demo_runs
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1100,3000", f"--screenshot={shot}",
                    (folder / "compare" / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "Chromium wrote no screenshot"
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    assert pixels.shape[:2] == (3000, 1100)
    # the page is painted: headings, tables and plots put many distinct colours on it,
    # among them the blue of the plots' markers
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, 3)}
    assert len(colours) > 50
    blue = (np.abs(pixels - [76, 114, 176]).sum(axis=2) < 60).sum()
    assert blue > 500
