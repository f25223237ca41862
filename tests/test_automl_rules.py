"""AutoML's platform rules read heiti micro's operator units: a candidate's layers are the
units the PyTorch importer maps its modules to, with the units' own weight and MAC counts,
so a unit registered from this test is a kind a rule file can allow or forbid without any
AutoML edit; old layer kinds in a user's rule file are refused with their migration; a
network the importer cannot read is still checked where the rules make sense."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import run_cli, scenario_dict, write_scenario


@pytest.fixture
def gain(monkeypatch):
    """A toy operator registered from the test, y = x * w per channel, and its PyTorch
    importer line; both undone after the test."""
    import torch
    from torch import nn

    from heiti.micro import from_torch, ops

    class Gain(ops.Unit):
        kind = "toy_gain"
        weighted = True

        def macs(self, op, graph):
            return graph.tensors[op.output].size

    class GainModule(nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels))

        def forward(self, x):
            return x * self.weight.view(1, -1, 1, 1)

    ops.units()  # the package's units first, so that the copy below holds them
    monkeypatch.setattr(ops, "_UNITS", dict(ops._UNITS))
    ops.register(Gain)
    monkeypatch.setitem(from_torch.MODULES, "GainModule", lambda m, b, path: b.emit(
        "toy_gain", [b.current], {}, {"weight": m.weight.detach().double().numpy()}))
    return GainModule


def _rules(tmp_path: Path, **fields) -> object:
    from heiti.automl.rules import load_rules

    (tmp_path / "npu.yml").write_text(yaml.safe_dump({"name": "toy-npu", **fields}), encoding="utf-8")
    return load_rules("npu.yml", tmp_path)


def test_a_unit_registered_from_a_test_is_a_kind_a_rule_file_allows_or_forbids(gain, tmp_path):
    from torch import nn

    from heiti.automl.rules import check, layers_of

    network = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), gain(4), nn.Flatten(),
                            nn.Linear(256, 3))
    layers = layers_of(network, (1, 8, 8))
    # the units' kinds, names, weights and MACs: ReLU fused, flatten and preprocessing no layers
    assert [(layer.name, layer.kind, layer.weights, layer.macs, layer.activation) for layer in layers] == [
        ("0", "conv2d", 36, 36 * 64, "relu"), ("2", "toy_gain", 4, 4 * 64, None),
        ("4", "dense", 768, 768, None)]
    assert check(layers, _rules(tmp_path, operators=["conv2d", "toy_gain", "dense"])) is None
    violation = check(layers, _rules(tmp_path, operators=["conv2d", "dense"]))
    assert violation.rule == "operators"
    assert violation.message.startswith("layer '2' is a toy_gain, which toy-npu does not run")
    # the toy unit's own counts are what the weight and MAC rules read
    violation = check(layers, _rules(tmp_path, weight_bits=16, max_layer_weight_bytes=1000))
    assert (violation.rule, violation.message) == (
        "max_layer_weight_bytes", "layer '4' needs 1536 bytes of weights; toy-npu has 1000 per layer")
    violation = check(layers, _rules(tmp_path, max_macs=3000))
    assert violation.rule == "max_macs" and "3328 multiply-accumulates" in violation.message
    assert "layer '0': 2304" in violation.message


@pytest.mark.parametrize(("kind", "hint"), [
    ("depthwise-conv2d", "write conv2d"), ("global-avgpool", "write avgpool"),
    ("relu", "activations: [relu]"), ("relu6", "activations: [relu6]"),
    ("sigmoid", "docs/micro.md, 'Adding an operator'")])
def test_a_rule_file_naming_an_old_or_unknown_kind_is_refused_before_the_search_runs(tmp_path, capsys,
                                                                                  kind, hint):
    (tmp_path / "old.yml").write_text(f"name: old\noperators: [conv2d, {kind}]\n", encoding="utf-8")
    model = {"type": "tiny-cnn", "parameters": {"channels": [4]}, "train": {"epochs": 1}}
    search = {"parameters": {"model.parameters.hidden": {"choices": [0, 16]}}, "platform": "old.yml",
              "budget": {"trials": 1, "epochs": 1}}
    path = write_scenario(tmp_path, scenario_dict("old", model=model, optimizers=[], search=search))
    assert run_cli("automl", path) == 2
    err = capsys.readouterr().err
    assert f"names operator '{kind}'" in err and hint in err and "unexpected" not in err
    assert not (tmp_path / "build" / "automl").exists()  # no study, no trial


def test_a_residual_blocks_addition_is_a_layer_named_by_the_block():
    from heiti import registry
    from heiti.automl.rules import layers_of

    network = registry.get("model", "tiny-cnn")({"channels": [4], "residual": True}).build((1, 8, 8), 3)
    assert [(layer.name, layer.kind) for layer in layers_of(network, (1, 8, 8))][:4] == [
        ("0", "conv2d"), ("3.body.0", "conv2d"), ("3", "add"), ("4", "maxpool")]


def test_the_builtin_rule_files_name_only_units():
    from heiti.automl.rules import builtin_names, load_rules
    from heiti.micro.ops import units

    for name in builtin_names():
        assert set(load_rules(name, Path(".")).operators) <= set(units()), name


def test_a_network_the_micro_importer_cannot_read_is_checked_where_the_rules_make_sense(tmp_path):
    """The center detector (two heads, sigmoid) runs on host runtimes only."""
    from heiti import registry
    from heiti.automl.rules import check_module

    network = registry.get("model", "center-detector")({}).build((3, 32, 32), 2)
    # rules naming operators: no unit runs it, so the platform does not
    violation, facts = check_module(network, (3, 32, 32), _rules(tmp_path, operators=["conv2d"]))
    assert violation.rule == "operators" and "(Detector) is not supported" in violation.message
    # rules without: its weight tensors meet the weight rules, the layer rules are not checked
    weights = sum(p.numel() for name, p in network.named_parameters()
                  if name.endswith("weight") and p.dim() > 1)  # convolution kernels
    rules = {"kernel_sizes": [3], "max_weight_bytes": weights - 1}
    violation, facts = check_module(network, (3, 32, 32), _rules(tmp_path, **rules))
    assert (violation.rule, violation.message) == ("max_weight_bytes", f"{weights} bytes of weights; toy-npu "
                                                   f"holds {weights - 1}")
    assert facts["rules_not_checked"].startswith("kernel_sizes (module 'model' (Detector) is not supported")
    violation, facts = check_module(network, (3, 32, 32), _rules(tmp_path, max_weight_bytes=weights))
    assert violation is None and facts == {}
