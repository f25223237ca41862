"""The search: an Optuna study over candidate scenarios, its trials run here or on Ray.

TPE samples for one objective, NSGA-II for several (their Pareto front). The study
lives in SQLite in the output folder: an interrupted search resumes (``--resume``)
without repeating finished trials, trials cut off mid-way are run again, and
``optuna-dashboard sqlite:///.../study.db`` opens it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from heiti.automl import space
from heiti.automl.trial import OUTCOMES, Job, Result, evaluate
from heiti.core.files import refuse_inside
from heiti.errors import InputError
from heiti.pipeline.progress import duration, eta
from heiti.pipeline.run import log
from heiti.scenario import LoadedScenario, scenario_from_dict

STUDY_FILE = "study.db"


@dataclass
class Search:
    """A validated search: the base scenario (as a mapping and loaded) and its search section."""

    data: dict[str, Any]
    base_dir: Path
    scenario: LoadedScenario
    spec: space.Search
    out_dir: Path

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.out_dir / STUDY_FILE}"

    def directions(self) -> list[str]:
        better = "maximize" if self.scenario.task.higher_is_better else "minimize"
        return [better if o == "metric" else "minimize" for o in self.spec.objectives]

    def pruning(self) -> bool:
        return self.spec.pruning.enabled and len(self.spec.objectives) == 1

    def candidate(self, values: dict[str, Any], name: str, build_dir: Path,
                  split: str | None) -> dict[str, Any]:
        """The scenario mapping of one candidate, building in its own folder."""
        data = space.apply(self.data, values)
        data.update(name=name, build_dir=str(build_dir), report={"enabled": False})
        data["model"].pop("path", None)
        if self.spec.budget.epochs is not None:
            data["model"]["train"]["epochs"] = self.spec.budget.epochs
        test = dict(data.get("test") or {})
        if split is not None:  # trials score on the search split, with no quality gate
            test.update(split=split, min_metric={}, max_metric={}, min_accuracy=None)
        data["test"] = test
        return data


def prepare(data: dict[str, Any], base_dir: Path, source: Path | None = None,
            out_dir: Path | None = None) -> Search:
    """Validate the scenario and its search section; nothing runs yet."""
    data = dict(data)
    section = data.pop("search", None)
    if section is None:
        raise InputError("the scenario has no 'search' section", hint="see docs/automl.md")
    scenario = scenario_from_dict(data, base_dir, source)
    spec = space.validate_search(section, scenario)
    space.resolve_platform(spec, Path(base_dir))  # a bad rule file is refused before anything runs
    out = Path(out_dir).resolve() if out_dir else scenario.build_dir / "automl"
    refuse_inside(out, scenario.dataset.path_parameters(), "output folder")  # trials build there
    return Search(data, Path(base_dir).resolve(), scenario, spec, out)


def open_study(search: Search, resume: bool) -> Any:
    """The study in the output folder, created or (``resume``) continued; a file there that
    is not a readable study is refused with a message, not a database error."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    search.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _open_study(search, resume)
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise InputError(f"{search.out_dir / STUDY_FILE} is not a readable Optuna study: {reason}",
                         hint="it is damaged or was not written by heiti automl: move it away (or "
                              "remove it) to start the search again") from None


def _open_study(search: Search, resume: bool) -> Any:
    import optuna

    from heiti.automl.trial import storage as sql_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = sql_storage(search.storage_url)
    name = search.scenario.name
    existing = [s for s in optuna.get_all_study_summaries(storage) if s.study_name == name]
    if existing and existing[0].n_trials and not resume:
        raise InputError(f"a study of {existing[0].n_trials} trial(s) exists in "
                         f"{search.out_dir / STUDY_FILE}",
                         hint="continue it with --resume, or remove that file to start again")
    seed, trials = search.spec.seed, search.spec.budget.trials
    if len(search.spec.objectives) == 1:  # a quarter of the budget at random, then TPE
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, trials // 4)))
    else:  # at least four generations within the budget
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, trials // 4)))
    study = optuna.create_study(study_name=name, storage=storage, directions=search.directions(),
                                sampler=sampler, pruner=pruner(search), load_if_exists=True)
    if [d.name.lower() for d in study.directions] != search.directions():
        raise InputError(f"the study in {search.out_dir / STUDY_FILE} has other objectives",
                         hint="remove that file to start a search with these objectives")
    study.set_user_attr("objectives", search.spec.objectives)
    study.set_user_attr("metric", search.scenario.task.primary_metric)
    _retry_interrupted(study)
    return study


def pruner(search: Search) -> Any:
    import optuna

    from heiti.automl.trial import median_pruner

    if not search.pruning():
        return optuna.pruners.NopPruner()
    return median_pruner(search.spec.pruning.startup_trials, search.spec.pruning.warmup_epochs)


def _retry_interrupted(study: Any) -> None:
    """Trials left running by an interrupted search fail as 'interrupted' and are queued again
    with the same values; finished trials are kept as they are."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "outcome", "interrupted")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        log(f"automl: trial {trial.number} was interrupted; queued again")


def finished(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("outcome") in OUTCOMES]


def run(search: Search, resume: bool = False, ray: bool = False, address: str | None = None,
        workers: int | None = None) -> Any:
    """Run trials until the budget is spent; return the study."""
    from heiti.pipeline import distributed

    study = open_study(search, resume)
    budget = search.spec.budget
    remaining = budget.trials - len(finished(study))
    if remaining <= 0:
        log(f"automl: the study already has {budget.trials} finished trial(s)")
        return study
    deadline = time.monotonic() + budget.wall_time_s if budget.wall_time_s else None
    pool = distributed.pool(ray, address, workers)
    log(f"automl: {remaining} trial(s), {pool.workers} at a time"
        + (" on Ray" if ray or address else "") + f"; study {search.out_dir / STUDY_FILE}")
    running: dict[int, Any] = {}
    total, started = remaining, time.monotonic()
    try:
        while True:
            while (remaining and pool.pending() < pool.workers
                   and (deadline is None or time.monotonic() < deadline)):
                trial = study.ask()
                values = space.suggest(trial, search.spec)
                trial.set_user_attr("values", values)
                log(f"automl: trial {trial.number} started")
                pool.submit(trial.number, evaluate, _job(search, trial, values))
                running[trial.number] = trial
                remaining -= 1
            if not pool.pending():
                break
            number, result = pool.next_done()
            if isinstance(result, BaseException):
                result = Result("crashed", message=f"the worker failed: {type(result).__name__}: {result}")
            record(study, running.pop(number), result, search)
            done = total - remaining - pool.pending()
            left = eta(time.monotonic() - started, done, total)
            if deadline is not None and left:
                left += f" (wall-time budget left: {duration(deadline - time.monotonic())})"
            log(f"automl: {done} of {total} trials done{f', {left}' if left else ''}; "
                f"best so far: {best_so_far(study, search)}")
    finally:
        pool.close()
    return study


def best_so_far(study: Any, search: Search) -> str:
    """The best trained trial as the report ranks it (ties: the smaller model)."""
    from heiti.automl.report import best, trials

    top = best(study, trials(study), 1)
    if not top:
        return "none yet"
    values = ", ".join(f"{o} {v:.4g}" for o, v in zip(search.spec.objectives, top[0]["values"], strict=True))
    return f"trial {top[0]['number']} ({values})"


def _job(search: Search, trial: Any, values: dict[str, Any]) -> Job:
    folder = search.out_dir / "trials" / f"{trial.number:04d}"
    minimize = search.directions()[0] == "minimize"
    return Job(number=trial.number, base_dir=str(search.base_dir),
               scenario=search.candidate(values, f"{search.scenario.name}-trial-{trial.number:04d}",
                                         folder, search.spec.split),
               objectives=search.spec.objectives, timeout_s=search.spec.budget.trial_timeout_s,
               platform=_platform(search), storage=search.storage_url if search.pruning() else None,
               study=search.scenario.name, trial_id=trial._trial_id, report_sign=-1.0 if minimize else 1.0,
               pruning=(search.spec.pruning.startup_trials, search.spec.pruning.warmup_epochs))


def _platform(search: Search) -> dict[str, Any] | None:
    rules = space.resolve_platform(search.spec, search.base_dir)
    return rules.model_dump() if rules else None


def record(study: Any, trial: Any, result: Result, search: Search) -> None:
    from optuna.trial import TrialState

    for key, value in asdict(result).items():
        if key != "values":
            trial.set_user_attr(key, value)
    state = {"trained": TrialState.COMPLETE, "infeasible": TrialState.PRUNED,
             "pruned": TrialState.PRUNED}.get(result.outcome, TrialState.FAIL)
    study.tell(trial, values=result.values if state == TrialState.COMPLETE else None, state=state)
    log(f"automl: trial {trial.number} {result.outcome} in {result.duration_s:.1f} s: "
        + (", ".join(f"{o} {v:.4g}" for o, v in zip(search.spec.objectives, result.values, strict=True))
           if result.values else (f"[{result.rule}] " if result.rule else "") + result.message[:200]))
