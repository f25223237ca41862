"""heiti automl with real Optuna studies (SQLite), real firmware links, real QEMU and a real
local Ray instance: a bad search section is refused before anything runs; candidates that
do not fit the linked firmware are not trained and every trained one fits when linked
again; a multi-objective search has a Pareto front in its report; an interrupted search
resumes without repeating finished trials; trials on Ray equal local evaluations."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES_DIR, run_cli, scenario_dict, write_scenario
from process_helpers import Lines

optuna = pytest.importorskip("optuna", reason="heiti automl needs optuna: pip install 'heiti[automl]'")

BOARD = EXAMPLES_DIR / "automl" / "mps2-an386-tight.yml"
NEEDED = ("qemu-system-arm", "arm-none-eabi-gcc")
needs_board = pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                                 reason="QEMU and arm-none-eabi-gcc are not installed (.ci/apt-packages)")
MICRO = [{"type": "micro-ptq", "parameters": {"calibration_samples": 50}},
         {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}]


def _search(**fields) -> dict:
    search = {"parameters": {"model.parameters.hidden": {"choices": [0, 16]}},
              "budget": {"trials": 2, "epochs": 1}, "best": 1}
    search.update(fields)
    return search


def _local(name: str, search: dict) -> dict:
    """A host-only scenario (PyTorch runtime): the cheapest trial there is."""
    model = {"type": "tiny-cnn", "parameters": {"channels": [4], "hidden": 16},
             "train": {"epochs": 1, "batch_size": 64}}
    return scenario_dict(name, model=model, optimizers=[], runtime={"type": "torch"},
                         test={"warmup": 0, "samples": 40}, search=search)


def _summary(folder: Path) -> dict:
    return json.loads((folder / "build" / "automl" / "automl.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("parameters", "expected"), [
    ({"model.parameters.depth": {"low": 1, "high": 3}},
     "search.parameters[model.parameters.depth]: unknown parameter 'depth'"),
    ({"model.parameters.hidden": {"low": 64, "high": 16}},
     "search.parameters[model.parameters.hidden]: empty range: low 64 > high 16"),
    ({"model.parameters.dropout": {"low": 0.1, "high": 1.5}},
     "search.parameters[model.parameters.dropout]: value 1.5 is refused by 'model'"),
    ({"model.parameters.kernel_size": {"choices": [3, 4]}},
     "search.parameters[model.parameters.kernel_size]: value 4 is refused by 'model'"),
    ({"optimizers[3].parameters.scheme": {"choices": ["pow2"]}},
     "search.parameters[optimizers[3].parameters.scheme]: the scenario has 0 optimizer(s)"),
    ({"model.train.lr": {"low": 0.0, "high": 0.1}},
     "search.parameters[model.train.lr]: value 0.0 is refused by the training settings"),
])
def test_a_bad_search_section_is_refused_with_its_path_before_anything_runs(tmp_path, capsys, parameters,
                                                                            expected):
    path = write_scenario(tmp_path, _local("bad", _search(parameters=parameters)))
    assert run_cli("automl", path) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "build").exists()  # refused before anything is written


@pytest.mark.parametrize(("fields", "expected"), [
    ({"parameters": {"model.parameters.channels": {"length": [1, 10**9], "items": {"choices": [4]}}}},
     "search.parameters[model.parameters.channels].list: Value error, length [1, 1000000000]: a "
     "list of more than 1000 items"),
    ({"seed": 2**64}, "search.seed: Input should be less than or equal to 4294967295"),
    ({"parameters": {"model.train.lr": {"low": 0.001, "high": float("inf")}}},
     "search.parameters[model.train.lr].range.high: Value error, inf is not a finite number"),
    ({"parameters": {"model.parameters.hidden": {"low": 1, "high": 10**400}}},
     "range.high: Value error, a number of 401 digits is not a finite number within ±2^53"),
    ({"parameters": {"model.parameters.hidden": {"low": 1, "high": 64, "step": 2, "log": True}}},
     "search.parameters[model.parameters.hidden].range: Value error, a log range takes no step"),
    ({"parameters": {"model.parameters.hidden": {"low": 1, "high": 10, "step": 0.5}}},
     "range: Value error, an integer range needs an integer step, not 0.5"),
    ({"parameters": {"model.train.lr": {"low": 0.001, "high": 0.1, "step": 1e-300}}},
     "range: Value error, step 1e-300 divides [0.001, 0.1] into more than 1,000,000,000 values"),
    ({"parameters": {"model.parameters.hidden": {"choices": ["2020-01-01"]}}},  # a YAML date
     "search.parameters[model.parameters.hidden].choices: Value error, choice 0 "
     "(datetime.date(2020, 1, 1)) is not a JSON value"),
    ({"parameters": {"model.parameters.hidden": 16}},
     "search.parameters[model.parameters.hidden]: expected {low, high[, step, log]} or {choices}, "
     "or {length, items}"),
])
def test_hostile_search_sections_are_refused_with_a_message(tmp_path, capsys, fields, expected):
    """The red team's search sections that ended in MemoryError, ValueError (seed, Optuna's
    step rules), TypeError (a date) or an endless sampling; exit 2 before anything runs."""
    path = write_scenario(tmp_path, _local("hostile", _search(**fields)))
    if "datetime" in expected:  # unquoted in YAML: a date, which is no JSON value
        path.write_text(path.read_text().replace("'2020-01-01'", "2020-01-01"))
    assert run_cli("automl", path) == 2
    err = capsys.readouterr().err
    assert expected in err and "unexpected" not in err
    assert not (tmp_path / "build").exists()  # refused before anything is written


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "a folder"])
def test_resuming_from_a_damaged_study_is_bad_input(tmp_path, capsys, damage):
    from heiti.automl import prepare
    from heiti.automl.study import open_study
    from heiti.scenario import read_scenario_file

    path = write_scenario(tmp_path, _local("damaged", _search()))
    search = prepare(read_scenario_file(path), tmp_path, path)
    db = search.out_dir / "study.db"
    if damage == "truncated":  # a real study, cut in half
        open_study(search, resume=False)
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    elif damage == "random bytes":
        search.out_dir.mkdir(parents=True)
        db.write_bytes(bytes(range(256)) * 20)
    else:
        db.mkdir(parents=True)
    assert run_cli("automl", path, "--resume", "--no-best") == 2
    err = capsys.readouterr().err
    assert f"heiti: error: {db} is not a readable Optuna study: " in err and "unexpected" not in err
    assert "hint: it is damaged or was not written by heiti automl: move it away" in err


def test_board_objectives_need_a_board_and_the_example_validates(tmp_path, capsys):
    path = write_scenario(tmp_path, _local("local", _search(objectives=["metric", "flash"])))
    assert run_cli("automl", path) == 2
    assert "search.objectives[1]: 'flash' is measured on a board" in capsys.readouterr().err

    from heiti.automl import prepare
    from heiti.scenario import read_scenario_file

    example = EXAMPLES_DIR / "automl" / "digits-mps2-an386.yml"
    search = prepare(read_scenario_file(example), example.parent, example, tmp_path / "out")
    assert search.scenario.target.board().flash.size == 42 * 1024
    assert search.directions() == ["maximize"] and search.pruning()


@needs_board
def test_a_board_search_rejects_what_does_not_fit_and_every_trained_candidate_fits_when_relinked(
        tmp_path, monkeypatch, capsys):
    from heiti import boards
    from heiti.boards.build import build_firmware
    from heiti.core.artifact import Artifact
    from heiti.pipeline.measurements import load_measurements

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    # three fixed candidates: [96, 96] needs about 90 KiB of weights, far over 32 KiB of flash
    search = {"parameters": {"model.parameters.channels": {"choices": [[4], [6, 8], [96, 96]]}},
              "objectives": ["metric", "flash"], "budget": {"trials": 4, "epochs": 1}, "best": 1,
              "seed": 3}
    data = scenario_dict("board", model={"type": "tiny-cnn", "parameters": {"channels": [4], "hidden": 0},
                                         "train": {"epochs": 1, "batch_size": 64}},
                         optimizers=MICRO, runtime={"type": "micro-host"},
                         target={"kind": "qemu", "board": str(BOARD), "profile": False},
                         test={"warmup": 0, "samples": 20}, search=search)
    assert run_cli("automl", write_scenario(tmp_path, data)) == 0
    summary = _summary(tmp_path)
    trials = summary["trials"]
    assert summary["counts"]["trained"] + summary["counts"]["infeasible"] == 4
    for trial in trials:
        big = trial["params"]["model.parameters.channels"] == [96, 96]
        assert (trial["outcome"] == "infeasible") == big
        if big:  # rejected by the linker's verdict, and never trained
            assert trial["rule"] == "board flash" and "FLASH needs" in trial["message"]
            folder = tmp_path / "build" / "automl" / "trials" / f"{trial['number']:04d}"
            assert not (folder / "model.pt").exists()
    assert summary["counts"]["infeasible"] >= 1, "seed 3 draws the oversized candidate"
    board = boards.read(BOARD)
    trained = [t for t in trials if t["outcome"] == "trained"]
    assert trained
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "relink"))  # link again, from scratch
    for trial in trained:
        final = Artifact.load(Path(load_measurements(Path(trial["facts"]["measurements"])).model.path))
        details = final.provenance.details
        firmware = build_firmware(board, final.path, final.io, final.sha256, details["input_size"],
                                  details["output_size"], profile=False)
        assert firmware.flash_bytes == trial["facts"]["flash"] <= board.flash.size
        assert firmware.ram_bytes == trial["facts"]["ram"] <= board.ram.size
    report = (tmp_path / "build" / "automl" / "report" / "report.md").read_text(encoding="utf-8")
    assert "(Pareto front joined)" in report and "infeasible: board flash" in report
    assert (tmp_path / "build" / "automl" / "report" / "automl-pareto.png").stat().st_size > 1000
    best = summary["comparison"]
    assert len(best) == 1 and load_measurements(Path(best[0])).target_kind == "qemu"
    assert (tmp_path / "build" / "automl" / "comparison" / "report.html").is_file()


def test_an_interrupted_search_resumes_without_repeating_finished_trials(tmp_path, capsys):
    from optuna.trial import TrialState

    from heiti.automl import prepare
    from heiti.automl.study import open_study
    from heiti.scenario import read_scenario_file

    path = write_scenario(tmp_path, _local("resume", _search(budget={"trials": 3, "epochs": 5})))
    search = prepare(read_scenario_file(path), tmp_path, path)
    # a real search, interrupted (Ctrl-C) while its second trial trains
    process = subprocess.Popen([sys.executable, "-m", "heiti", "automl", str(path), "--no-best"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = Lines(process.stderr)
    try:
        # the second trial has sampled its parameters (logged after) and now trains for seconds
        err.wait_for("automl: trial 1 started")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=300) == 130, err.finish()
    finally:
        if process.poll() is None:
            process.kill()
    study = optuna.load_study(study_name="resume", storage=search.storage_url)
    (done,) = [t for t in study.trials if t.state == TrialState.COMPLETE]
    (cut,) = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert run_cli("automl", path, "--no-best") == 2  # a study exists: --resume is needed
    assert "--resume" in capsys.readouterr().err

    assert run_cli("automl", path, "--resume", "--no-best") == 0
    study = open_study(search, resume=True)
    by_number = {t.number: t for t in study.trials}
    assert by_number[done.number].datetime_complete == done.datetime_complete  # not run again
    assert by_number[cut.number].user_attrs["outcome"] == "interrupted"
    retry = by_number[cut.number + 1]
    assert retry.user_attrs["retry_of"] == cut.number and retry.params == cut.params
    assert retry.user_attrs["outcome"] == "trained"
    rows = _summary(tmp_path)["trials"]
    assert [r["number"] for r in rows] == [done.number, cut.number + 1, cut.number + 2]
    assert all(r["outcome"] == "trained" for r in rows)


@pytest.fixture(scope="module")
def ray_address():
    """One real local Ray instance (two CPUs) for the module: its workers stay warm between tests."""
    ray = pytest.importorskip("ray", reason="--ray needs ray: pip install 'heiti[automl]'")
    from heiti.pipeline.distributed import connect

    assert connect(workers=2)  # started as 'heiti automl --ray' starts it
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_trials_on_a_local_ray_instance_run_concurrently_and_equal_local_evaluations(tmp_path, ray_address):
    from heiti.automl import prepare
    from heiti.automl.trial import Job, evaluate
    from heiti.scenario import read_scenario_file

    search = _search(parameters={"model.parameters.hidden": {"choices": [0, 16]},
                                 "model.parameters.channels": {"choices": [[4], [6]]}},
                     budget={"trials": 2, "epochs": 1})
    path = write_scenario(tmp_path, _local("ray", search))
    assert run_cli("automl", path, "--ray-address", ray_address, "--workers", "2", "--no-best") == 0
    trials = _summary(tmp_path)["trials"]
    assert [t["outcome"] for t in trials] == ["trained", "trained"]
    workers = {t["worker"] for t in trials}
    assert len(workers) == 2 and all(w != f"{os.uname().nodename}:{os.getpid()}" for w in workers)
    loaded = prepare(read_scenario_file(path), tmp_path, path)
    for trial in trials:
        scenario = loaded.candidate(trial["params"], f"local-{trial['number']}",
                                    tmp_path / "local" / str(trial["number"]), "val")
        local = evaluate(Job(trial["number"], scenario, str(tmp_path), ["metric"]))
        assert local.outcome == "trained"
        for key in ("metric", "size"):
            assert local.facts[key] == trial["facts"][key]


def test_matrix_cells_run_on_ray_as_they_run_here(workdir, ray_address):
    path = write_scenario(workdir, scenario_dict("m", test={"warmup": 0, "samples": 30}))
    results = {}
    for flags in ((), ("--ray", "--workers", "2")):
        out = workdir / ("ray" if flags else "local")
        assert run_cli("matrix", path, "--runtimes", "torch,onnxruntime", "--variants", "fp32",
                       "-o", out, *flags) == 0
        cells = json.loads((out / "matrix.json").read_text(encoding="utf-8"))["cells"]
        results[bool(flags)] = {c["runtime"]: (c["status"], c["result"].get("predictions")) for c in cells}
    assert results[True] == results[False]
    assert all(status == "ok" for status, _ in results[True].values())


@pytest.mark.parametrize(("rule", "layers"), [
    ("operators", lambda nn: [nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid()]),
    ("activations", lambda nn: [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU6()]),
    ("kernel_sizes", lambda nn: [nn.Conv2d(1, 4, 5, padding=2)]),
    ("kernel_sizes", lambda nn: [nn.Conv2d(1, 4, (3, 1), padding=1)]),
    ("paddings", lambda nn: [nn.Conv2d(1, 4, 3, padding=3)]),
    ("strides", lambda nn: [nn.Conv2d(1, 4, 3, stride=2, padding=1)]),
    ("max_channels", lambda nn: [nn.Conv2d(1, 1100, 1)]),
    ("max_layer_weight_bytes", lambda nn: [nn.Flatten(), nn.Linear(400, 400)]),
    ("max_layers", lambda nn: [nn.Conv2d(1, 1, 1) for _ in range(129)]),
    ("max_weight_bytes", lambda nn: [nn.Flatten(), nn.Linear(400, 300), nn.Linear(300, 380)]
     + [nn.Linear(380, 380) for _ in range(16)]),
])
def test_each_max78002_rule_rejects_what_it_should(rule, layers):
    from torch import nn

    from heiti.automl.rules import check_module, load_rules

    rules = load_rules("max78002", Path("."))
    violation, _ = check_module(nn.Sequential(*layers(nn)), (1, 20, 20), rules)
    assert violation is not None and violation.rule == rule, violation


def test_a_compliant_network_passes_the_max78002_rules_and_a_search_skips_what_breaks_them(tmp_path):
    from heiti import registry
    from heiti.automl.rules import check, layers_of, load_rules

    rules = load_rules("max78002", Path("."))
    ds_cnn = registry.get("model", "ds-cnn")
    for model in (ds_cnn({"first_kernel": (3, 3), "first_stride": 1}), registry.get("model", "tiny-cnn")(
            {"residual": True})):
        assert check(layers_of(model.build((1, 8, 8), 10), (1, 8, 8)), rules) is None, model.name
    # DS-CNN's MLPerf Tiny first convolution (10x4, cut to 8x4 here, stride 2) is not
    violation = check(layers_of(ds_cnn({}).build((1, 8, 8), 10), (1, 8, 8)), rules)
    assert violation.rule == "kernel_sizes" and "kernel size 8x4" in violation.message
    # a 5x5 kernel is refused by rule, before anything is trained
    search = _search(parameters={"model.parameters.kernel_size": {"choices": [5]}}, platform="max78002",
                     budget={"trials": 1, "epochs": 1})
    assert run_cli("automl", write_scenario(tmp_path, _local("rules", search)), "--no-best") == 0
    (trial,) = _summary(tmp_path)["trials"]
    assert (trial["outcome"], trial["rule"]) == ("infeasible", "kernel_sizes")
    assert trial["facts"]["macs"] > 0  # the units' count, recorded with the rule
    assert not (tmp_path / "build" / "automl" / "trials" / "0000" / "model.pt").exists()


def test_a_trial_over_its_time_limit_is_stopped_and_counted_as_timed_out(tmp_path):
    import heiti.api as heiti

    search = _search(budget={"trials": 1, "epochs": 3, "trial_timeout_s": 1e-6})
    result = heiti.automl(_local("slow", search), base_dir=tmp_path, evaluate_best=False)
    assert result["counts"]["timed out"] == 1 and not result["best"]
    (trial,) = _summary(tmp_path)["trials"]
    assert "stopped after epoch 1" in trial["message"] and len(trial["curve"]) == 1


def test_a_trial_below_the_median_curve_is_pruned_from_its_validation_score(tmp_path):
    from heiti.automl import prepare, space
    from heiti.automl.study import _job, open_study
    from heiti.automl.trial import evaluate

    search = _search(budget={"trials": 2, "epochs": 3}, pruning={"startup_trials": 1, "warmup_epochs": 0})
    loaded = prepare(_local("prune", search), tmp_path)
    study = open_study(loaded, resume=False)
    earlier = study.ask()  # a finished trial that scored 1.0 at every epoch
    for epoch in (1, 2, 3):
        earlier.report(1.0, epoch)
    study.tell(earlier, 1.0)
    trial = study.ask()
    result = evaluate(_job(loaded, trial, space.suggest(trial, loaded.spec)))
    assert result.outcome == "pruned" and "pruned after epoch 1" in result.message
    assert len(result.curve) == 1 and result.curve[0]["val_score"] < 1.0
