"""AutoML ranking: among trials tied on the primary objective the smaller model comes first
(a real in-memory Optuna study; the trials' facts are given, not measured)."""

from __future__ import annotations

import csv

import pytest

optuna = pytest.importorskip("optuna", reason='Optuna is not installed: pip install "heiti[automl]"')

from heiti.automl.report import best, trials, write_summary  # noqa: E402


def _study(direction: str, trials_facts: list[tuple[float, dict]]) -> object:
    study = optuna.create_study(direction=direction)
    for value, facts in trials_facts:
        study.add_trial(optuna.trial.create_trial(
            values=[value], user_attrs={"outcome": "trained", "facts": facts, "values": {}}))
    return study


def test_ties_on_the_metric_rank_fewer_instructions_then_less_flash_first():
    study = _study("maximize", [
        (1.0, {"instructions": 400_000, "flash": 66_000, "size": 9}),  # the largest, first found
        (0.9, {"instructions": 10_000, "flash": 10_000, "size": 1}),   # smaller but worse
        (1.0, {"instructions": 100_000, "flash": 40_000, "size": 5}),
        (1.0, {"instructions": 100_000, "flash": 31_000, "size": 7}),
        (1.0, {"flash": 20_000}),                                       # no instruction count
    ])
    ranked = [r["number"] for r in best(study, trials(study), 5)]
    assert ranked == [3, 2, 0, 4, 1]


def test_minimized_objectives_keep_their_direction_and_break_ties_the_same_way():
    study = _study("minimize", [(0.2, {"flash": 5}), (0.1, {"flash": 9}), (0.1, {"flash": 3})])
    assert [r["number"] for r in best(study, trials(study), 3)] == [2, 1, 0]


def test_trials_are_written_as_csv_beside_automl_json(tmp_path):
    study = _study("maximize", [(1.0, {"flash": 9, "model": "a.pt"}), (1.0, {"flash": 3})])
    rows = trials(study)
    write_summary(tmp_path, study, rows, best(study, rows, 1), [])
    table = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [(r["trial"], r["best_rank"], r["flash"]) for r in table] == [("0", "", "9"), ("1", "1", "3")]
    assert (tmp_path / "trials.json").is_file() and (tmp_path / "automl.json").is_file()
