"""Shared fixtures: scenario files in temporary folders and one trained digits model
per test session (training takes seconds; every end-to-end test reuses it)."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from heiti.cli import main as heiti_main


def pytest_configure(config):
    """A suite started without job control (``cmd &`` in a script, nohup, a CI runner's
    background step) inherits SIGINT as ignored, and so does every heiti it starts: Python
    then never raises KeyboardInterrupt, and the Ctrl-C tests would measure the launcher.
    The tests' children take Ctrl-C as a terminal's foreground job does."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
DIGITS_MODEL = {"type": "tiny-cnn", "parameters": {"channels": [8, 16], "hidden": 32},
                "train": {"epochs": 15, "lr": 0.003, "batch_size": 32, "patience": None}}


def scenario_dict(name: str = "t", **overrides: Any) -> dict[str, Any]:
    """A small digits scenario; keyword arguments replace top-level sections."""
    data: dict[str, Any] = {
        "name": name,
        "build_dir": "build",
        "dataset": {"type": "digits"},
        "model": dict(DIGITS_MODEL, path="model/model.pt"),
        "optimizers": [{"type": "onnx-export"}],
        "runtime": {"type": "onnxruntime"},
        "test": {"warmup": 2, "samples": 60},
    }
    data.update(overrides)
    return data


def write_scenario(folder: Path, data: dict[str, Any], filename: str = "scenario.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """A folder holding model/model.pt (+ sidecar), trained once per session."""
    folder = tmp_path_factory.mktemp("trained")
    scenario = write_scenario(folder, scenario_dict())
    assert heiti_main(["train", str(scenario)]) == 0
    return folder


@pytest.fixture
def workdir(tmp_path, trained_model_dir) -> Path:
    """A fresh folder with a copy of the session's trained model in model/."""
    shutil.copytree(trained_model_dir / "model", tmp_path / "model")
    return tmp_path


def run_cli(*args: str) -> int:
    return heiti_main([str(a) for a in args])


def measure(folder: Path, name: str, optimizers: list[dict[str, Any]], runtime: dict[str, Any],
            batch_size: int = 1, **overrides: Any) -> dict[str, Any]:
    """Run a scenario on the whole digits test split and return its measurements document."""
    import json

    data = scenario_dict(name, build_dir=f"b/{name}", optimizers=optimizers, runtime=runtime,
                         test={"warmup": 2, "batch_size": batch_size}, report={"enabled": False},
                         **overrides)
    assert heiti_main(["run", str(write_scenario(folder, data, f"{name}.yml"))]) == 0
    return json.loads((folder / "b" / name / "measurements.json").read_text(encoding="utf-8"))


def agreement(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Share of samples on which two runs predict the same class."""
    first, second = a["quality"]["predictions"], b["quality"]["predictions"]
    assert len(first) == len(second)
    return sum(x == y for x, y in zip(first, second, strict=True)) / len(first)


@pytest.fixture(scope="session")
def torch_reference(trained_model_dir) -> dict[str, Any]:
    """Measurements of the session's model in PyTorch eager mode: the reference predictions."""
    return measure(trained_model_dir, "torch-reference", [], {"type": "torch"})


@pytest.fixture
def broker(tmp_path):
    """A running mosquitto on a free port (tests/broker.py); stopped afterwards."""
    from broker import MOSQUITTO, Broker

    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
    pytest.importorskip("paho.mqtt", reason='paho-mqtt is not installed: pip install "heiti[mqtt]"')
    folder = tmp_path / "broker"
    folder.mkdir()
    running = Broker(folder)
    running.start()
    yield running
    running.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """End the run with the tests skipped for missing Debian packages and how to install them."""
    from system_packages import installed, packages, summary

    skipped = []
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):  # (file, line, "Skipped: reason")
            skipped.append((report.nodeid, str(report.longrepr[2]).removeprefix("Skipped: ")))
    lines = summary(skipped, [p for p in packages() if not installed(p)])
    if lines:
        terminalreporter.section("tests skipped for missing system packages")
        for line in lines:
            terminalreporter.write_line(line)
