"""One content key for cached steps: what invalidates an artifact, and sharing between scenarios."""

import numpy as np

from conftest import DIGITS_MODEL, run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.core.cache import ArtifactStore, StepKey, samples_digest
from heiti.core.dataset import Samples
from heiti.datasets.digits import Digits

INT8_CHAIN = [{"type": "onnx-export"},
              {"type": "ort-quantize", "parameters": {"mode": "static", "calibration_samples": 50}}]


def test_the_key_says_what_changed():
    key = StepKey(tool="optimizer:x", parameters={"a": 1}, inputs={"model": "m"}, calibration="c1",
                  seed=0, versions={"heiti": "1"})
    assert key.changes(key.model_copy()) == []
    assert key.changes(None) == ["never built"]
    other = key.model_copy(update={"calibration": "c2", "parameters": {"a": 2}})
    assert other.digest != key.digest
    assert other.changes(key) == ["parameters changed: a 1 -> 2", "calibration samples changed"]


def test_samples_digest_sees_values_and_truth():
    x = np.zeros((3, 2), np.float32)
    base = samples_digest(Samples({"input": x}, np.array([0, 1, 2])))
    assert samples_digest(Samples({"input": x}, np.array([0, 1, 1]))) != base
    assert samples_digest(Samples({"input": x + 1}, np.array([0, 1, 2]))) != base
    assert samples_digest(Samples({"input": x.copy()}, np.array([0, 1, 2]))) == base


def _digits_npz(path, scale=1.0):
    data = Digits().split("all")
    np.savez(path, input=data.x * np.float32(scale), labels=data.truth)


def test_changed_calibration_data_rebuilds_the_int8_artifact(workdir, capsys):
    # same parameters, same file name: only the samples inside the file differ
    _digits_npz(workdir / "data.npz")
    model = {k: v for k, v in DIGITS_MODEL.items() if k != "train"} | {"path": "model/model.pt"}
    data = scenario_dict(dataset={"type": "npz-arrays", "parameters": {"path": "data.npz"}},
                         model=model, optimizers=INT8_CHAIN)
    path = write_scenario(workdir, data)
    assert run_cli("optimize", path) == 0
    int8 = Artifact.load(workdir / "build" / "02-ort-quantize.onnx")
    assert run_cli("optimize", path) == 0
    assert "optimizers[1] ort-quantize: up to date" in capsys.readouterr().err
    _digits_npz(workdir / "data.npz", scale=0.5)
    assert run_cli("optimize", path) == 0
    rebuilt = Artifact.load(workdir / "build" / "02-ort-quantize.onnx")
    assert ("optimizers[1] ort-quantize: onnx -> onnx-int8 (dataset changed; calibration samples "
            "changed)") in capsys.readouterr().err
    assert rebuilt.provenance.key.calibration != int8.provenance.key.calibration
    assert rebuilt.sha256 != int8.sha256  # other activation ranges, other scales
    assert rebuilt.provenance.key.changes(int8.provenance.key)[:2] == [
        "dataset changed", "calibration samples changed"]


def test_scenarios_building_side_by_side_share_artifacts(workdir, capsys):
    first = write_scenario(workdir, scenario_dict(name="a", build_dir="build/a", optimizers=INT8_CHAIN),
                           "a.yml")
    second = write_scenario(workdir, scenario_dict(name="b", build_dir="build/b", optimizers=INT8_CHAIN),
                            "b.yml")
    assert run_cli("optimize", first) == 0
    capsys.readouterr()
    assert run_cli("optimize", second) == 0
    log = capsys.readouterr().err
    assert "optimizers[0] onnx-export: reused from the artifact store" in log
    assert "optimizers[1] ort-quantize: reused from the artifact store" in log
    a, b = (Artifact.load(workdir / "build" / d / "02-ort-quantize.onnx") for d in "ab")
    assert a.sha256 == b.sha256 and b.is_current()
    store = ArtifactStore(workdir / "build" / ".heiti-store")
    assert store.find(a.provenance.key) is not None
