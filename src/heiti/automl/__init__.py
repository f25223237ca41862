"""AutoML under a device's limits: search a space of candidate scenarios with Optuna,
reject candidates that break the platform's rules or do not fit the linked firmware
before training them, train and score the rest (here or on Ray), report, and evaluate
the best through the full flow. See docs/automl.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.automl.study import Search, prepare, run


def search_and_report(search: Search, resume: bool = False, ray: bool = False, address: str | None = None,
                      workers: int | None = None, evaluate_best: bool = True) -> dict[str, Any]:
    """Run the search, evaluate the best trials through the full flow, write both reports."""
    from heiti.automl import report
    from heiti.report import render_report
    from heiti.report.render import write_report

    study = run(search, resume, ray, address, workers)
    rows = report.trials(study)
    top = report.best(study, rows, search.spec.best)
    paths = evaluate(search, top) if evaluate_best and top else []
    comparison = render_report(paths, search.out_dir / "comparison", title=f"heiti automl: best of "
                               f"{search.scenario.name}") if paths else []
    notes = [f"study: {search.out_dir / 'study.db'} (optuna-dashboard {search.storage_url})"]
    if comparison:
        notes.append(f"the best {len(paths)} evaluated through the full flow on "
                     f"{search.scenario.spec.test.split}: {comparison[-1]}")
    written = write_report(search.out_dir / "report", f"heiti automl: {search.scenario.name}",
                           report.sections(study, rows, top, notes))
    summary = report.write_summary(search.out_dir, study, rows, top, paths)
    return {"summary": summary, "report": written, "comparison": comparison,
            "counts": report.counts(rows), "best": top}


def evaluate(search: Search, top: list[dict[str, Any]]) -> list[Path]:
    """The best trials through the full flow (their trained models reused) on the scenario's
    own test split and target: an emulated board runs each."""
    from heiti.pipeline import run as flow
    from heiti.scenario import scenario_from_dict

    paths = []
    for rank, row in enumerate(top, start=1):
        name = f"{search.scenario.name}-best{rank}-trial{row['number']}"
        data = search.candidate(row["params"], name, search.out_dir / "best" / name, None)
        data["model"]["path"] = row["facts"]["model"]
        path, _ = flow.test(scenario_from_dict(data, search.base_dir))
        paths.append(path)
    return paths


__all__ = ["Search", "prepare", "run", "search_and_report"]
