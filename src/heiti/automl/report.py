"""The AutoML report: outcomes, the metric over trials, the Pareto front, parameter
importances, training curves and the best trials with their exact sizes; the best are
then evaluated through the full flow and compared in the usual comparison report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from heiti.automl.trial import OUTCOMES
from heiti.core.files import write_json
from heiti.report import export
from heiti.report.content import Figure, Section, Table, num

UNITS = {"flash": "bytes", "ram": "bytes", "instructions": "per inference", "latency": "ms", "size": "bytes"}


def trials(study: Any) -> list[dict[str, Any]]:
    """Every finished trial as a plain row (also written to automl.json)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        if attrs.get("outcome") not in OUTCOMES:
            continue
        rows.append({"number": t.number, "outcome": attrs["outcome"], "rule": attrs.get("rule"),
                     "message": attrs.get("message", ""), "values": t.values,
                     "params": attrs.get("values", {}),
                     "facts": attrs.get("facts", {}), "curve": attrs.get("curve", []),
                     "duration_s": attrs.get("duration_s"), "worker": attrs.get("worker")})
    return rows


# among trials tied on the first objective, the cheaper model ranks first: fewer instructions
# per inference, then less flash, then a smaller file (a fact a trial lacks counts as the largest)
TIE_BREAKERS = ("instructions", "flash", "size")


def best(study: Any, rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """One objective: the best values; several: the Pareto front, by the first objective;
    ties broken by the smaller model (TIE_BREAKERS), then the earlier trial."""
    trained = {r["number"]: r for r in rows if r["outcome"] == "trained"}
    if len(study.directions) > 1:
        chosen = [trained[t.number] for t in study.best_trials if t.number in trained]
    else:
        chosen = list(trained.values())
    sign = -1 if study.directions[0].name.lower() == "maximize" else 1

    def rank(r: dict[str, Any]) -> tuple[float, ...]:
        costs = (r["facts"].get(k) for k in TIE_BREAKERS)
        return (sign * r["values"][0], *(float("inf") if c is None else c for c in costs), r["number"])

    return sorted(chosen, key=rank)[:count]


def write_summary(out_dir: Path, study: Any, rows: list[dict[str, Any]], top: list[dict[str, Any]],
                  comparison: list[Path]) -> Path:
    path = out_dir / "automl.json"
    write_json(path, {
        "study": study.study_name, "objectives": study.user_attrs.get("objectives"),
        "directions": [d.name.lower() for d in study.directions], "counts": counts(rows),
        "best": [r["number"] for r in top], "comparison": [str(p) for p in comparison], "trials": rows})
    objectives = study.user_attrs.get("objectives") or ["value"]
    export.write_rows(out_dir / "trials.csv", [{
        "trial": r["number"], "outcome": r["outcome"], "best_rank": next(
            (i + 1 for i, t in enumerate(top) if t["number"] == r["number"]), None),
        **dict(zip(objectives, r["values"] or [], strict=False)),
        **{k: v for k, v in r["facts"].items() if not isinstance(v, dict | list)},
        "rule": r["rule"], "duration_s": r["duration_s"], "parameters": r["params"],
        "message": r["message"]} for r in rows])
    return path


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    found = Counter(r["outcome"] for r in rows)
    return {o: found.get(o, 0) for o in OUTCOMES}


def sections(study: Any, rows: list[dict[str, Any]], top: list[dict[str, Any]],
             notes: list[str]) -> list[Section]:
    objectives = study.user_attrs.get("objectives", ["metric"])
    metric = study.user_attrs.get("metric", "metric")
    by_rule = Counter(r["rule"] for r in rows if r["outcome"] == "infeasible")
    outcome_rows = [[o, num(n)] for o, n in counts(rows).items()]
    outcome_rows += [[f"infeasible: {rule}", num(n)] for rule, n in sorted(by_rule.items())]
    result = [Section("Outcomes", [Table(["outcome", "trials"], outcome_rows)], notes=[
        "infeasible: rejected before training (platform rule, chain or the linked firmware's "
        "flash/RAM); pruned: stopped early from the validation curve; timed out: over "
        "budget.trial_timeout_s.", *notes])]
    header = ["trial", metric, "flash B", "RAM B", "instructions", "latency ms", "parameters"]
    table = Table(header, [[str(r["number"]), num(r["facts"].get("metric")), num(r["facts"].get("flash")),
                            num(r["facts"].get("ram")), num(_int(r["facts"].get("instructions"))),
                            num(r["facts"].get("latency")), _params(r["params"])] for r in top])
    result.append(Section(f"Best {len(top)} trials", [table], notes=[
        "flash and RAM: of the linked firmware (exact, from the ELF); instructions: per inference on "
        "the emulated board; the metric on the search split."]))
    trained = [r for r in rows if r["outcome"] == "trained"]
    figures = [Figure("automl-metric-over-trials", f"{metric} of each trial and the best so far "
                      "(trials without a score: crosses below)",
                      lambda: _over_trials(rows, metric, study.directions[0].name.lower()))]
    others = [o for o in objectives if o != "metric"] or [o for o in ("flash", "size") if
                                                          any(r["facts"].get(o) for r in trained)][:1]
    if trained and others:
        front = {t.number for t in study.best_trials} if len(objectives) > 1 else set()
        figures.append(Figure("automl-pareto", f"{metric} against {others[0]} of every trained trial"
                              + (" (Pareto front joined)" if front else ""),
                              lambda: _pareto(trained, metric, others[0], front)))
    if any(r["curve"] for r in rows):
        figures.append(Figure("automl-curves", "validation score per epoch of every trained or pruned "
                              "trial", lambda: _curves(rows)))
    result.append(Section("Search", figures=figures))
    importance = _importances(study)
    if importance:
        result.append(Section("Parameter importances", [Table(["parameter", "importance"], [
            [name, f"{value:.3f}"] for name, value in importance.items()])], notes=[
            "fANOVA importances of the parameters for the first objective (Optuna), over trained trials."]))
    failed = [r for r in rows if r["outcome"] != "trained"]
    if failed:
        table = Table(["trial", "outcome", "rule", "why", "parameters"], [])
        for i, r in enumerate(failed):
            why = r["message"].splitlines()[0][:90] if r["message"] else "–"
            table.rows.append([str(r["number"]), r["outcome"], r["rule"] or "–", why, _params(r["params"])])
            if r["message"]:
                table.tips[(i, 3)] = r["message"]
        result.append(Section("Trials not trained to the end", [table]))
    return result


def _int(value: Any) -> Any:
    return None if value is None else round(value)


def _params(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={f'{v:.4g}' if isinstance(v, float) else v}"
                     for k, v in values.items())


def _importances(study: Any) -> dict[str, float]:
    import optuna

    if len([t for t in study.get_trials(deepcopy=False) if t.values]) < 3:
        return {}
    import warnings

    try:
        with warnings.catch_warnings():  # few trials: Optuna warns, the report says how many
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target=lambda t: t.values[0])
    except (RuntimeError, ValueError):  # e.g. a parameter that never varied
        return {}


def _over_trials(rows: list[dict[str, Any]], metric: str, direction: str) -> bytes:
    from heiti.report.plots import _figure, _png

    fig, ax = _figure()
    scored = [r["facts"]["metric"] for r in rows if r["outcome"] == "trained"]
    floor = min(scored) - 0.05 * (max(scored) - min(scored) or 1) if scored else 0.0
    colors = {"trained": "#4c72b0", "infeasible": "#c44e52", "pruned": "#dd8452", "crashed": "#8172b3",
              "timed out": "#937860"}
    for outcome, color in colors.items():
        # trials without a score sit on one line below the others: where the budget went
        points = [(r["number"], r["facts"]["metric"] if outcome == "trained" else floor)
                  for r in rows if r["outcome"] == outcome]
        if points:
            ax.plot(*zip(*points, strict=True), "o" if outcome == "trained" else "x", color=color,
                    label=outcome)
    best, running = None, []
    for r in sorted(rows, key=lambda r: r["number"]):
        value = r["facts"].get("metric") if r["outcome"] == "trained" else None
        better = best is None or (value is not None and (value > best if direction == "maximize"
                                                          else value < best))
        if value is not None and better:
            best = value
        running.append((r["number"], best))
    ax.step([p[0] for p in running if p[1] is not None], [p[1] for p in running if p[1] is not None],
            where="post", color="#55a868", label="best so far")
    ax.set(xlabel="trial", ylabel=metric, title=f"{metric} over trials")
    ax.legend(fontsize=8)
    return _png(fig)


def _pareto(trained: list[dict[str, Any]], metric: str, other: str, front: set[int]) -> bytes:
    from heiti.report.plots import _figure, _png

    fig, ax = _figure()
    xs = [r["facts"].get(other) for r in trained]
    ys = [r["facts"].get("metric") for r in trained]
    ax.scatter(xs, ys, color="#4c72b0", alpha=0.6, label="trained trial")
    on_front = sorted((r["facts"][other], r["facts"]["metric"]) for r in trained if r["number"] in front)
    if on_front:
        ax.plot(*zip(*on_front, strict=True), "o-", color="#c44e52", label="Pareto front")
    for r in trained:
        ax.annotate(str(r["number"]), (r["facts"].get(other), r["facts"].get("metric")), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=f"{other} [{UNITS.get(other, '')}]", ylabel=metric, title=f"{metric} against {other}")
    ax.legend(fontsize=8)
    return _png(fig)


def _curves(rows: list[dict[str, Any]]) -> bytes:
    from heiti.report.plots import _figure, _png

    fig, ax = _figure()
    for r in rows:
        points = [(c["epoch"], c["val_score"]) for c in r["curve"] if c.get("val_score") is not None]
        if points:
            style = "-" if r["outcome"] == "trained" else ":"
            ax.plot(*zip(*points, strict=True), style, lw=1, alpha=0.7)
    ax.set(xlabel="epoch", ylabel="validation score", title="Training curves (dotted: stopped early)")
    return _png(fig)
