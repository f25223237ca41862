"""The converter registry: export steps inserted where a chain changes framework."""

import json

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.errors import InputError
from heiti.pipeline import conversions
from heiti.pipeline.chain import plan_chain
from heiti.scenario import load_scenario


def plan(tmp_path, **overrides):
    return plan_chain(load_scenario(write_scenario(tmp_path, scenario_dict(**overrides))))


def test_paths_between_formats():
    assert conversions.find_path("onnx", ("onnx",)) == []
    assert [c.name for c in conversions.find_path("torch", ("onnx",))] == ["onnx-export"]
    assert [c.name for c in conversions.find_path("torch", ("tflite", "tflite-int8"))] == ["litert-convert"]
    assert [c.name for c in conversions.find_path("torch", ("pte",))] == ["executorch-export"]
    assert conversions.find_path("onnx", ("torch",)) is None
    assert "torch -> onnx (onnx-export)" in conversions.available()


def test_an_export_step_is_inserted_before_an_optimizer_that_takes_another_format(tmp_path):
    steps = plan(tmp_path, optimizers=[{"type": "ort-quantize"}])
    assert [(s.label, s.optimizer.name, s.input_format, s.output_format) for s in steps] == [
        ("inserted", "onnx-export", "torch", "onnx"),
        ("optimizers[0]", "ort-quantize", "onnx", "onnx-int8")]
    assert steps[0].inserted_for == "optimizers[0] 'ort-quantize'"
    assert [s.output.name for s in steps] == ["01-onnx-export.onnx", "02-ort-quantize.onnx"]


@pytest.mark.parametrize(("runtime", "converter"), [("onnxruntime", "onnx-export"),
                                                    ("litert", "litert-convert"),
                                                    ("executorch", "executorch-export")])
def test_an_export_step_is_inserted_for_the_runtime(tmp_path, runtime, converter):
    try:
        steps = plan(tmp_path, optimizers=[], runtime={"type": runtime})
    except InputError as exc:  # a converter whose extra is absent is named with its install command
        pytest.skip(f"{converter}: {exc.hint}")
    assert [(s.optimizer.name, s.inserted_for) for s in steps] == [(converter, f"runtime '{runtime}'")]


def test_a_gap_without_converter_lists_the_available_ones(tmp_path):
    with pytest.raises(InputError) as info:
        plan(tmp_path, optimizers=[{"type": "ort-quantize"}], runtime={"type": "litert"})
    message = info.value.message
    assert "runtime 'litert' runs 'tflite' or 'tflite-int8', but optimizers[0] 'ort-quantize' " \
           "produces 'onnx-int8'" in message
    assert "no converter from 'onnx-int8' to 'tflite' or 'tflite-int8'" in message
    assert "torch -> tflite (litert-convert)" in message
    assert "optimizers that make 'tflite' or 'tflite-int8': litert-convert (takes torch)" in message


def test_the_inserted_step_runs_and_is_recorded(workdir, capsys):
    path = write_scenario(workdir, scenario_dict(optimizers=[], report={"enabled": False}))
    assert run_cli("run", path) == 0
    assert "inserted onnx-export: torch -> onnx (converter inserted for runtime 'onnxruntime')" \
        in capsys.readouterr().err
    doc = json.loads((workdir / "build" / "measurements.json").read_text())
    assert [step["producer"] for step in doc["model"]["chain"]] == ["model:tiny-cnn", "optimizer:onnx-export"]


def test_optimizers_with_required_parameters_are_never_inserted(monkeypatch):
    from pydantic import Field

    from heiti import registry
    from heiti.core.component import Params
    from heiti.core.steps import Optimizer

    class NeedsTarget(Params):
        target: str = Field(description="required")

    class Compiler(Optimizer):
        name = "needs-target"
        Params = NeedsTarget
        input_formats = ("torch",)
        output_format = "blob"
        converts = True

    table = {kind: dict(found) for kind, found in registry.components().items()}
    table["optimizer"]["needs-target"] = Compiler
    monkeypatch.setattr(registry, "components", lambda: table)
    assert Compiler.outputs_for("torch") == []
    assert conversions.find_path("torch", ("blob",)) is None
    assert "needs-target" not in " ".join(conversions.available())
