"""The command line: fast start, no heavy imports, listings and component descriptions."""

import subprocess
import sys
import time

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args", [["--help"], ["list"], ["info", "onnx-export"]])
def test_cli_imports_no_framework(args):
    code = ("import sys, heiti.cli\n"
            f"try:\n    heiti.cli.main({args!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'sklearn', 'matplotlib') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "HEAVY []" in result.stdout, result.stdout


def test_help_returns_quickly():
    # the time itself is measured in docs/benchmarks.md; here only a generous sanity bound
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "heiti", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 5


def test_list_shows_every_kind_with_formats(capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    for heading in ("datasets:", "models:", "optimizers:", "runtimes:", "targets:"):
        assert heading in out
    assert "ort-quantize" in out and "onnx -> onnx-int8" in out and "runs torch" in out


def test_info_describes_parameters_with_types_and_defaults(capsys):
    assert run_cli("info", "tiny-cnn") == 0
    out = capsys.readouterr().out
    assert "tiny-cnn (model)" in out and "channels: list[int] = [16, 32]" in out
    assert "output channels of each conv block" in out


def test_info_for_unknown_name_suggests(capsys):
    assert run_cli("info", "mobilenet") == 2
    assert "did you mean 'mobilenet-v2'" in capsys.readouterr().err


def test_usage_errors_exit_2():
    result = subprocess.run([sys.executable, "-m", "heiti", "run"], capture_output=True, text=True)
    assert result.returncode == 2 and "required" in result.stderr
