"""heiti from Python: build a scenario in memory or load a file, run it, get typed results.

    import heiti.api as heiti

    scenario = heiti.scenario({
        "name": "digits-fp32",
        "dataset": {"type": "digits"},
        "model": {"type": "tiny-cnn", "train": {"epochs": 5}},
        "optimizers": [{"type": "onnx-export"}],
        "runtime": {"type": "onnxruntime"},
    }, base_dir="work")
    result = heiti.run(scenario)
    print(result.quality.primary_metric, result.quality.primary)

A scenario built here is validated exactly like a file (the same messages, with the
path of a bad value), and its relative paths resolve against ``base_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.core.artifact import Artifact
from heiti.errors import InputError
from heiti.pipeline import run as _flow
from heiti.pipeline.measurements import Measurements, load_measurements
from heiti.scenario import LoadedScenario, load_scenario, scenario_from_dict

__all__ = ["Measurements", "automl", "load", "load_measurements", "optimize", "run", "scenario", "train"]


def scenario(data: dict[str, Any] | None = None, *, base_dir: str | Path = ".",
             **fields: Any) -> LoadedScenario:
    """A scenario from a mapping and/or keyword arguments (keywords win)."""
    if data is not None and not isinstance(data, dict):
        raise InputError(f"heiti.api.scenario takes a mapping of scenario sections, got "
                         f"{type(data).__name__} {data!r:.60}", hint="pass a dict (name, dataset, model, "
                         "...), or load a file with heiti.api.load(path)")
    return scenario_from_dict({**(data or {}), **fields}, base_dir)


def load(path: str | Path) -> LoadedScenario:
    """A scenario from a YAML or JSON file."""
    return load_scenario(path)


def _loaded(source: LoadedScenario | str | Path | dict[str, Any]) -> LoadedScenario:
    if isinstance(source, LoadedScenario):
        return source
    if isinstance(source, dict):
        return scenario(source)
    if not isinstance(source, str | Path):
        raise InputError(f"expected a scenario (heiti.api.scenario), a mapping or a file path, "
                         f"got {type(source).__name__} {source!r:.60}")
    return load(source)


def train(source: LoadedScenario | str | Path | dict[str, Any], force: bool = False) -> Artifact:
    return _flow.train(_loaded(source), force=force)


def optimize(source: LoadedScenario | str | Path | dict[str, Any], force: bool = False
             ) -> list[Artifact]:
    """Train when needed and run the optimizer chain; the artifacts in chain order."""
    return _flow.optimize(_loaded(source), force=force)


def run(source: LoadedScenario | str | Path | dict[str, Any], *, report: bool = True,
        quality_gate: bool = False) -> Measurements:
    """Optimize, evaluate on the target and (by default) write the report; return the
    measurements (published to ``report.publish`` when set). ``quality_gate`` raises
    ``RunFailed`` when ``test.min_metric`` fails."""
    loaded = _loaded(source)
    _flow.plan_chain(loaded)
    _, measurements = _flow.test(loaded)
    if report and loaded.spec.report.enabled:
        from heiti.report import render_report

        render_report([loaded.build_dir / _flow.MEASUREMENTS_FILE], loaded.report_dir,
                      title=loaded.spec.report.title or loaded.name)
    if loaded.spec.report.publish:
        from heiti.publish.summary import publish_summary

        publish_summary(loaded.spec.report.publish, measurements,
                        loaded.build_dir / _flow.MEASUREMENTS_FILE)
    if quality_gate:
        _flow.check_quality_gate(loaded, measurements)
    return measurements


def automl(source: str | Path | dict[str, Any], *, base_dir: str | Path = ".", resume: bool = False,
           ray: bool = False, address: str | None = None, workers: int | None = None,
           evaluate_best: bool = True, output: str | Path | None = None) -> dict[str, Any]:
    """``heiti automl``: search the scenario's ``search:`` section (docs/automl.md). A file's
    relative paths resolve against its folder, a mapping's against ``base_dir``. Returns the
    outcome counts, the best trials and the paths of the reports and of automl.json."""
    from heiti.automl import prepare, search_and_report
    from heiti.scenario import read_scenario_file

    out_dir = None if output is None else Path(output)
    if isinstance(source, dict):
        search = prepare(source, Path(base_dir), out_dir=out_dir)
    else:
        path = Path(source).resolve()
        search = prepare(read_scenario_file(path), path.parent, path, out_dir)
    return search_and_report(search, resume, ray, address, workers, evaluate_best)
