"""IREE: iree-compile (ONNX -> MLIR -> .vmfb for llvm-cpu) and the iree runtime."""

import pytest

pytest.importorskip("iree.compiler", reason='IREE is not installed: pip install "heiti[iree]"')
pytest.importorskip("iree.runtime", reason='IREE is not installed: pip install "heiti[iree]"')

from backend_helpers import agreement, digits_fixture, planned_example, predict, step  # noqa: E402, F401
from conftest import run_cli  # noqa: E402
from heiti.errors import InputError, RunFailed  # noqa: E402
from heiti.optimizers.iree_compile import IreeCompile  # noqa: E402
from heiti.runtimes.iree_runtime import IreeRuntime  # noqa: E402


@pytest.fixture(scope="module")
def module(digits):
    return step(IreeCompile(), digits.onnx, digits.folder / "model.vmfb", digits.ctx)


@pytest.mark.parametrize("threads", [1, 2])
def test_module_agrees_with_pytorch(digits, module, threads):
    assert module.format == "iree" and module.provenance.details["native_code"] is True
    assert agreement(predict(IreeRuntime({"threads": threads}), module, digits.x),
                     digits.reference) >= 0.99


def test_module_for_another_architecture_is_refused_here(digits):
    optimizer = IreeCompile({"target_triple": "aarch64-linux-gnu", "target_cpu": "cortex-a55"})
    cross = step(optimizer, digits.onnx, digits.folder / "arm.vmfb", digits.ctx)
    assert cross.format == "iree-cross" and cross.provenance.details["cross_compiled"] is True
    with pytest.raises(InputError, match="cross-compiled for aarch64-linux-gnu"):
        IreeRuntime().load(cross)


def test_unknown_cpu_fails_with_the_compilers_reason(digits):
    with pytest.raises(RunFailed, match="Unknown CPU for target architecture"):
        IreeCompile({"target_cpu": "nonsense"}).optimize(digits.onnx, digits.folder / "bad.vmfb",
                                                          digits.ctx)


def test_info_shows_formats_and_parameters(capsys):
    assert run_cli("info", "iree-compile") == 0
    out = capsys.readouterr().out
    assert "onnx -> iree" in out and "target_triple" in out and "target_cpu" in out


def test_example_scenario_fits_together():
    assert planned_example("digits-iree.yml")[-2:] == [("iree-compile", "iree"), "iree"]
