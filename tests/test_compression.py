"""Compression of PyTorch models: structured pruning (torch-pruning) and weight clustering,
on real models, through ONNX export and other runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from conftest import EXAMPLES_DIR, run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.errors import InputError
from heiti.frameworks import onnx_tools
from heiti.frameworks.torch_tools import load_module, mac_count, parameter_count
from heiti.models.tiny_cnn import TinyCNN
from heiti.optimizers.prune import Prune

pytest.importorskip("torch_pruning")

# accuracy a pruned (half the MACs) or clustered digits model may lose after fine-tuning
MARGIN = 0.03


def _measure(folder, name, optimizers, runtime=None):
    data = scenario_dict(name, build_dir=f"b/{name}", optimizers=optimizers,
                         runtime=runtime or {"type": "onnxruntime"},
                         test={"warmup": 0, "batch_size": 64}, report={"enabled": False})
    assert run_cli("run", write_scenario(folder, data, f"{name}.yml")) == 0
    return json.loads((folder / "b" / name / "measurements.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def unpruned(trained_model_dir):
    return _measure(trained_model_dir, "compress-reference", [{"type": "onnx-export"}])


PRUNE = {"type": "prune", "parameters": {"keep": 0.5, "steps": 2, "epochs": 3, "importance": "taylor"}}
CLUSTER = {"type": "cluster", "parameters": {"clusters": 16, "epochs": 2, "min_weights": 64}}


@pytest.fixture(scope="module")
def pruned(trained_model_dir):
    return _measure(trained_model_dir, "pruned", [PRUNE, {"type": "onnx-export"}])


@pytest.fixture(scope="module")
def clustered(trained_model_dir):
    return _measure(trained_model_dir, "clustered", [CLUSTER, {"type": "onnx-export"}])


def test_pruned_model_exports_with_half_the_macs_and_keeps_its_accuracy(trained_model_dir, unpruned, pruned):
    before, after = unpruned["model"], pruned["model"]
    assert after["statistics_from"].endswith(".onnx")  # counted in the exported file
    assert after["macs"] <= 0.5 * before["macs"] and after["parameters"] < before["parameters"]
    details = pruned["model"]["chain"][1]["details"]
    assert (details["macs_before"], details["macs_after"]) == (before["macs"], after["macs"])
    assert details["parameters_after"] < details["parameters_before"]
    assert [s["step"] for s in details["steps"]] == [1, 2]
    accuracy = (unpruned["quality"]["metrics"]["accuracy"], pruned["quality"]["metrics"]["accuracy"])
    assert accuracy[1] >= accuracy[0] - MARGIN, accuracy
    # the same pruned network in PyTorch (rebuilt from the sidecar's pruning history)
    eager = _measure(trained_model_dir, "pruned-torch", [PRUNE], {"type": "torch"})
    assert eager["model"]["macs"] == after["macs"]
    assert eager["quality"]["metrics"]["accuracy"] == pytest.approx(accuracy[1], abs=0.01)


def _untrained(tmp_path, parameters):
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=lambda m: None)
    model = TinyCNN(parameters).untrained(tmp_path / "model.pt", ctx)
    return model, ctx


def test_residual_adds_and_batch_norm_shrink_with_the_filters_they_depend_on(tmp_path):
    model, ctx = _untrained(tmp_path, {"channels": [8, 16], "hidden": 16, "residual": True})
    result = Prune({"keep": 0.4, "epochs": 0, "steps": 2}).optimize(
        model, tmp_path / "pruned.pt", ctx)
    result.save()
    module = load_module(Artifact.load(result.path))
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # conv -> residual(conv) -> conv -> residual(conv): the add ties a block's two convs
    assert convs[0].out_channels == convs[1].out_channels == convs[1].in_channels
    assert convs[2].in_channels == convs[0].out_channels < 8
    assert [n.num_features for n in norms] == [c.out_channels for c in convs]
    assert module[-1].out_features == 10  # the logits are never pruned
    details = result.provenance.details
    assert details["macs_after"] <= 0.4 * details["macs_before"]
    assert mac_count(module, (1, 8, 8)) == details["macs_after"]
    assert parameter_count(module) == details["parameters_after"]

    # ONNX Runtime computes what the pruned PyTorch network computes
    exported = _export(result, ctx, tmp_path)
    graph = onnx.load(str(exported.path))
    assert onnx_tools.mac_count(graph) == details["macs_after"]
    x = ctx.dataset.split("test").x[:8]
    import onnxruntime as ort

    got = ort.InferenceSession(str(exported.path)).run(None, {"input": x})[0]
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def _export(model, ctx, folder):
    from heiti.optimizers.onnx_export import OnnxExport

    return OnnxExport().optimize(Artifact.load(model.path), folder / "pruned.onnx", ctx)


def test_depthwise_groups_and_parameter_targets(tmp_path):
    from heiti.models.mobilenet_v2 import MobileNetV2

    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=lambda m: None)
    model = MobileNetV2({}).untrained(tmp_path / "model.pt", ctx)
    result = Prune({"keep": 0.6, "measure": "parameters", "epochs": 0, "steps": 1, "round_to": 4}).optimize(
        model, tmp_path / "pruned.pt", ctx)
    result.save()
    module = load_module(Artifact.load(result.path))
    depthwise = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    assert all(m.out_channels % 4 == 0 for m in depthwise)
    details = result.provenance.details
    assert details["parameters_after"] <= 0.6 * details["parameters_before"]
    with torch.no_grad():
        assert module(torch.from_numpy(ctx.dataset.split("test").x[:2])).shape == (2, 10)


@pytest.mark.parametrize(("parameters", "message"), [
    ({"keep": 0.01, "max_layer_fraction": 0.3}, "still leaves more than 1% of the model's macs"),
    ({"ignore": ["nowhere"]}, "the model has no module named nowhere"),
    ({"layers": {"7": 0.5, "99": 0.5}}, "the model has no module named 99"),
])
def test_impossible_pruning_is_bad_input(trained_model_dir, capsys, parameters, message):
    data = scenario_dict("bad-prune", build_dir="b/bad-prune",
                         optimizers=[{"type": "prune", "parameters": {"epochs": 0, **parameters}}])
    assert run_cli("optimize", write_scenario(trained_model_dir, data, "bad-prune.yml")) == 2
    assert message in capsys.readouterr().err


def test_kmeans_finds_the_groups_of_values():
    from heiti.optimizers.cluster import kmeans_1d

    centroids, index = kmeans_1d(np.array([0.0, 0.1, 1.0, 1.1, 0.05]), 2)
    assert centroids == pytest.approx([0.05, 1.05]) and index.tolist() == [0, 0, 1, 1, 0]
    few, _ = kmeans_1d(np.array([0.5, 0.5, -0.5]), 16)  # fewer distinct values than clusters
    assert sorted(few.tolist()) == [-0.5, 0.5]


def test_clustered_weights_share_16_values_per_layer_on_every_runtime(trained_model_dir, unpruned, clustered):
    details = clustered["model"]["chain"][1]["details"]
    assert [row["layer"] for row in details["layers"]] == ["0", "4", "9", "12"]
    assert all(row["distinct_values"] <= 16 for row in details["layers"])
    assert details["palette_bytes"] < 0.2 * details["float_bytes"]
    graph = onnx.load(clustered["model"]["path"]).graph
    weights = [onnx.numpy_helper.to_array(i) for i in graph.initializer if len(i.dims) >= 2]
    # the exporter folds batch norm into the convolutions: a scale per output channel
    assert weights and all(len(np.unique(row)) <= 16 for w in weights for row in w)
    accuracy = (unpruned["quality"]["metrics"]["accuracy"], clustered["quality"]["metrics"]["accuracy"])
    assert accuracy[1] >= accuracy[0] - MARGIN, accuracy
    eager = _measure(trained_model_dir, "clustered-torch", [CLUSTER], {"type": "torch"})
    assert eager["quality"]["metrics"]["accuracy"] == pytest.approx(accuracy[1], abs=0.01)


def test_reports_show_what_each_compression_step_did(unpruned, pruned, clustered, tmp_path):
    runs = [Path(doc["model"]["path"]).parent / "measurements.json" for doc in (unpruned, pruned, clustered)]
    section = _report([runs[1]], tmp_path / "pruned").split("## Compression", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    details = pruned["model"]["chain"][1]["details"]
    assert f"{details['macs_before']:,}" in rows["tiny-cnn"]
    assert f"{details['macs_after']:,}" in rows["prune"]
    assert f"{details['parameters_after']:,}" in rows["prune"]
    assert " → ".join(f"{s['macs']:,}" for s in details["steps"]) in rows["prune"]
    assert f"accuracy {pruned['quality']['metrics']['accuracy']:.4f}" in section
    assert "palettes would take" in _report([runs[2]], tmp_path / "clustered")
    assert "## Compression" not in _report([runs[0]], tmp_path / "plain")  # nothing compressed
    compared = _report(runs, tmp_path / "all").split("## Compression", 1)[1]
    share = 100 * pruned["model"]["macs"] / unpruned["model"]["macs"]
    assert f"{pruned['model']['macs']:,} ({share:.1f} %)" in compared


def test_a_report_of_damaged_pruning_details_is_bad_input(pruned, tmp_path, capsys):
    damaged = json.loads(json.dumps(pruned))
    damaged["model"]["chain"][1]["details"]["steps"] = [1, "x"]
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(damaged), encoding="utf-8")
    assert run_cli("report", path, "-o", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "details of its prune step are not what heiti writes (steps.0" in err and "heiti run" in err
    assert not (tmp_path / "r").exists()


def test_the_matrix_report_compares_a_pruned_cell_with_the_unpruned_ones(workdir):
    path = write_scenario(workdir, scenario_dict(test={"warmup": 0, "samples": 40}))
    out = workdir / "matrix"
    assert run_cli("matrix", path, "--runtimes", "onnxruntime", "--variants", "fp32",
                   "--chain", "prune:onnxruntime", "-o", out) == 0
    document = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    cells = {c["runtime"] + "-" + c["variant"]: c for c in document["cells"]}
    assert cells["onnxruntime-chain1"]["status"] == "ok", cells["onnxruntime-chain1"]["reason"]
    rows = (out / "report.md").read_text(encoding="utf-8").split("## Compression", 1)[1].split("\n## ", 1)[0]
    pruned = next(line for line in rows.splitlines() if line.startswith("| onnxruntime-chain1 "))
    share = float(pruned.split("|")[3].split("(")[1].split("%")[0])  # the MACs column
    assert share <= 50.0 and "prune" in pruned


def _report(measurements, out):
    assert run_cli("report", *measurements, "-o", out) == 0
    return (out / "report.md").read_text(encoding="utf-8")


def test_clustering_an_unknown_layer_is_bad_input(trained_model_dir, capsys):
    data = scenario_dict("bad-cluster", build_dir="b/bad-cluster",
                         optimizers=[{"type": "cluster", "parameters": {"skip": ["head"]}}])
    assert run_cli("optimize", write_scenario(trained_model_dir, data, "bad-cluster.yml")) == 2
    assert "the model has no module named head" in capsys.readouterr().err


def test_pruned_share_and_cluster_count_are_automl_dimensions(tmp_path, capsys):
    pytest.importorskip("optuna", reason="heiti automl needs optuna: pip install 'heiti[automl]'")
    search = {"parameters": {"optimizers[0].parameters.keep": {"low": 0.3, "high": 0.7},
                             "optimizers[1].parameters.clusters": {"choices": [4, 16]}},
              "budget": {"trials": 2, "epochs": 1}, "best": 1, "seed": 0}
    model = {"type": "tiny-cnn", "parameters": {"channels": [8, 8], "hidden": 16},
             "train": {"epochs": 1, "batch_size": 64}}
    optimizers = [{"type": "prune", "parameters": {"epochs": 0}},
                  {"type": "cluster", "parameters": {"epochs": 0}}]
    data = scenario_dict("search", model=model, optimizers=optimizers, runtime={"type": "torch"},
                         test={"warmup": 0, "samples": 40}, search=search)
    assert run_cli("automl", write_scenario(tmp_path, data)) == 0
    summary = json.loads((tmp_path / "build" / "automl" / "automl.json").read_text(encoding="utf-8"))
    trained = [t for t in summary["trials"] if t["outcome"] == "trained"]
    assert len(trained) == 2
    for trial in trained:
        measured = json.loads(Path(trial["facts"]["measurements"]).read_text(encoding="utf-8"))
        prune, cluster = (step["details"] for step in measured["model"]["chain"][1:3])
        keep = trial["params"]["optimizers[0].parameters.keep"]
        assert prune["macs_after"] <= keep * prune["macs_before"]
        assert cluster["clusters"] == trial["params"]["optimizers[1].parameters.clusters"]

    # a share the optimizer refuses is refused with its path before anything runs
    search["parameters"]["optimizers[0].parameters.keep"] = {"low": 0.5, "high": 1.0}
    data["build_dir"] = "refused"
    assert run_cli("automl", write_scenario(tmp_path, data, "refused.yml")) == 2
    assert ("search.parameters[optimizers[0].parameters.keep]: value 1.0 is refused by "
            "'optimizers[0]'") in capsys.readouterr().err


def test_the_automl_examples_differ_only_by_the_pruning_step_and_its_share(tmp_path):
    """digits-pruned-an386.yml searches what digits-tiny-an386.yml does, on the same board,
    plus the share a prune step keeps (docs/automl.md compares the two searches)."""
    from heiti.automl import prepare
    from heiti.scenario import read_scenario_file

    searches = {}
    for name in ("tiny", "pruned"):
        example = EXAMPLES_DIR / "automl" / f"digits-{name}-an386.yml"
        searches[name] = prepare(read_scenario_file(example), example.parent, example, tmp_path / name)
    tiny, pruned = searches["tiny"], searches["pruned"]
    assert tiny.scenario.target.board() == pruned.scenario.target.board()
    assert tiny.scenario.target.board().flash.size == 22 * 1024
    assert set(pruned.spec.parameters) - set(tiny.spec.parameters) == {"optimizers[0].parameters.keep"}
    assert [o.type for o in pruned.scenario.spec.optimizers] == [
        "prune", *(o.type for o in tiny.scenario.spec.optimizers)]


def test_a_pruned_model_goes_through_heiti_micro_with_fewer_weight_bytes(trained_model_dir):
    micro = {"type": "micro-ptq", "parameters": {"calibration_samples": 50, "sensitivity_samples": 0}}
    prune = {"type": "prune", "parameters": {"keep": 0.5, "steps": 1, "epochs": 1}}
    whole = _measure(trained_model_dir, "micro-whole", [micro], {"type": "micro-golden"})
    pruned = _measure(trained_model_dir, "micro-pruned", [prune, micro], {"type": "micro-golden"})
    sizes = [m["model"]["chain"][-1]["details"]["weight_bytes"] for m in (whole, pruned)]
    assert sizes[1] < 0.6 * sizes[0], sizes
    accuracy = [m["quality"]["metrics"]["accuracy"] for m in (whole, pruned)]
    assert accuracy[1] >= accuracy[0] - 0.05, accuracy  # one fine-tuning epoch, then int8


def test_a_damaged_pruning_history_is_bad_input(tmp_path):
    model, ctx = _untrained(tmp_path, {"channels": [8], "hidden": 0})
    result = Prune({"keep": 0.5, "epochs": 0, "steps": 1}).optimize(model, tmp_path / "pruned.pt", ctx)
    result.save()
    for damage in ([["0.missing", True, [0]]], [["0", True, [99]]], [["0", True, "x"]], "nonsense"):
        sidecar = json.loads(result.sidecar.read_text(encoding="utf-8"))
        sidecar["provenance"]["details"]["pruning_history"] = damage
        result.sidecar.write_text(json.dumps(sidecar), encoding="utf-8")
        with pytest.raises(InputError, match="does not fit its architecture|cannot load weights"):
            load_module(Artifact.load(result.path))
