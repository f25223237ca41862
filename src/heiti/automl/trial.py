"""One AutoML trial: a candidate scenario checked for feasibility, trained, evaluated.

``evaluate`` takes a plain, picklable job and returns a plain result, so the same call
runs in this process or as a Ray task on another machine, with the same outcome.

Feasibility comes before training: the candidate is built with its initial weights,
checked against the platform's rules, converted through the scenario's optimizer chain,
and, for a board, linked into the firmware, whose exact flash and RAM the linker
decides. Only a candidate that passes is trained.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from heiti.errors import HeitiError

OUTCOMES = ("trained", "infeasible", "pruned", "crashed", "timed out")


class Pruned(HeitiError):
    """The pruner stopped a trial from its validation curve (heiti's own error: component
    boundaries let it pass unchanged)."""


class TimedOut(HeitiError):
    """A trial trained longer than budget.trial_timeout_s."""


@dataclass
class Job:
    number: int
    scenario: dict[str, Any]  # the candidate, as a scenario mapping
    base_dir: str
    objectives: list[str]
    platform: dict[str, Any] | None = None  # PlatformRules as a mapping
    timeout_s: float | None = None
    # where the pruner's state lives: the study's storage URL, name and this trial's id
    storage: str | None = None
    study: str | None = None
    trial_id: int | None = None
    report_sign: float = 1.0  # -1 when the study minimizes the metric
    pruning: tuple[int, int] = (3, 2)  # the study's MedianPruner: startup trials, warm-up epochs


@dataclass
class Result:
    outcome: str
    rule: str | None = None
    message: str = ""
    values: list[float] | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # metric, flash, ram, instructions, ...
    curve: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    worker: str = ""  # host:pid that ran the trial


def evaluate(job: Job) -> Result:
    """Check, train and evaluate one candidate; never raises for the candidate's own failures."""
    from heiti.scenario import scenario_from_dict

    started = time.perf_counter()
    curve: list[dict[str, Any]] = []
    try:
        loaded = scenario_from_dict(job.scenario, job.base_dir)
        violation, facts = feasibility(loaded, job.platform)
        if violation is not None:
            result = Result("infeasible", violation.rule, violation.message, facts=facts)
        else:
            result = _train_and_test(loaded, job, curve)
            result.facts = facts | result.facts  # the untrained sizes give way to the measured ones
    except Pruned as exc:
        result = Result("pruned", message=exc.message)
    except TimedOut as exc:
        result = Result("timed out", message=exc.message)
    except HeitiError as exc:
        result = Result("crashed", message=exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
    except Exception as exc:  # a framework's own error: this trial failed, the search goes on
        result = Result("crashed", message=f"{type(exc).__name__}: {exc}")
    result.curve = curve
    result.duration_s = time.perf_counter() - started
    result.worker = f"{socket.gethostname()}:{os.getpid()}"
    return result


def feasibility(loaded: Any, platform: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """The violated rule (or None) and the sizes found, from the untrained candidate."""
    from heiti.automl.rules import PlatformRules, Violation, check_module
    from heiti.core.steps import StepContext
    from heiti.errors import InputError
    from heiti.frameworks.torch_tools import load_module
    from heiti.pipeline.chain import plan_chain, run_chain
    from heiti.pipeline.run import log

    untrained = dataclasses.replace(loaded, build_dir=loaded.build_dir / "untrained")
    ctx = StepContext(dataset=loaded.dataset, build_dir=untrained.build_dir, seed=loaded.spec.seed, log=log)
    untrained.build_dir.mkdir(parents=True, exist_ok=True)
    model = loaded.model.untrained(untrained.build_dir / "model.pt", ctx)
    facts: dict[str, Any] = {}
    if platform is not None:
        violation, facts = check_module(load_module(model), tuple(loaded.dataset.input_shape),
                                        PlatformRules.model_validate(platform))
        if "rules_not_checked" in facts:
            log(f"platform rules not checked: {facts['rules_not_checked']}")
        if violation is not None:
            return violation, facts
    try:
        final = run_chain(plan_chain(untrained), model, ctx)[-1]
    except InputError as exc:  # e.g. an operator the chain cannot convert
        return Violation("chain", exc.message), facts
    facts["size"] = final.size_bytes
    if loaded.target.name == "qemu":
        violation, sizes = link(loaded, final)
        facts.update(sizes)
        return violation, facts
    return None, facts


def link(loaded: Any, final: Any) -> tuple[Any, dict[str, int]]:
    """Link the firmware for the target's board: the exact flash and RAM, or the region over."""
    from heiti.automl.rules import Violation
    from heiti.boards.build import build_firmware
    from heiti.errors import InputError

    details = final.provenance.details
    if final.format != "c-int8":
        return Violation("chain", f"target qemu runs c-int8 artifacts, the chain ends in "
                                  f"'{final.format}'"), {}
    try:
        firmware = build_firmware(loaded.target.board(), final.path, final.io, final.sha256,
                                  details["input_size"], details["output_size"],
                                  loaded.target.params.profile)
    except InputError as exc:
        rule = "board flash" if "FLASH needs" in exc.message else "board ram"
        return Violation(rule, exc.message), {}
    return None, {"flash": firmware.flash_bytes, "ram": firmware.ram_bytes}


def _train_and_test(loaded: Any, job: Job, curve: list[dict[str, Any]]) -> Result:
    from heiti.frameworks.torch_training import epoch_observer
    from heiti.pipeline import run as flow

    observer = _Observer(job, curve)
    token = epoch_observer.set(observer)
    try:
        flow.train(loaded)
    finally:
        epoch_observer.reset(token)
    path, document = flow.test(loaded)
    facts = {**facts_of(document), "model": str(loaded.model_path), "measurements": str(path)}
    values = [facts[o] for o in job.objectives]
    if any(v is None for v in values):
        missing = [o for o, v in zip(job.objectives, values, strict=True) if v is None]
        return Result("crashed", message=f"the run measured no {', '.join(missing)}", facts=facts)
    return Result("trained", values=[float(v) for v in values], facts=facts)


def facts_of(document: Any) -> dict[str, Any]:
    """What a trial reports from its measurements: each objective's value and the metric's name."""
    board = (document.resources.get("target") or {}).get("board") or {}
    perf = document.performance
    latency = perf.target_latency_ms.p50 if perf.target_latency_ms is not None else perf.latency_ms.p50
    return {"metric": document.quality.primary, "metric_name": document.quality.primary_metric,
            "flash": board.get("flash", {}).get("used_bytes"), "ram": board.get("ram", {}).get("used_bytes"),
            "instructions": (board.get("instructions_per_inference") or {}).get("mean"),
            "latency": latency, "size": document.model.size_bytes}


class _Observer:
    """After each epoch: the validation score to the pruner, the time limit checked."""

    def __init__(self, job: Job, curve: list[dict[str, Any]]):
        self.job, self.curve, self.started = job, curve, time.perf_counter()
        self.trial = None
        if job.storage and job.trial_id is not None:
            import optuna

            study = optuna.load_study(study_name=job.study, storage=storage(job.storage),
                                      pruner=median_pruner(*job.pruning))
            self.trial = optuna.trial.Trial(study, job.trial_id)

    def __call__(self, epoch: int, val_loss: float, val_score: float | None) -> None:
        self.curve.append({"epoch": epoch, "val_loss": val_loss, "val_score": val_score})
        if self.trial is not None and val_score is not None:
            self.trial.report(self.job.report_sign * val_score, epoch)
            if self.trial.should_prune():
                raise Pruned(f"pruned after epoch {epoch} (validation score {val_score:.4f})")
        elapsed = time.perf_counter() - self.started
        if self.job.timeout_s is not None and elapsed > self.job.timeout_s:
            raise TimedOut(f"stopped after epoch {epoch}: {elapsed:.0f} s of training exceeds "
                           f"budget.trial_timeout_s {self.job.timeout_s:g}")


def median_pruner(startup_trials: int, warmup_epochs: int) -> Any:
    """The pruner of a single-objective study, built alike by the driver and every worker."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)


def storage(url: str) -> Any:
    """Optuna's SQL storage, patient with a database other processes write too."""
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
