"""The step engine: one rule for "already built" for every step that makes an artifact.

Training a model and each optimizer step are described by a ``StepKey`` (``core.cache``):
the content of the inputs (the dataset's fingerprint, the input model's hash, the
calibration samples), the component's parameters, the seed and the tool versions. The
step's output is current when the artifact at its path records the same key and its file
still has the recorded hash; otherwise the artifact store's entry for the key (checked
against its recorded hashes) is copied in; otherwise the step runs and its result is
stored. Workflow steps use the same keys and the same store (``workflows.runner``).

A model path that holds a model another scenario trained under another key is refused
with both keys, never overwritten: two scenarios that share ``model.path`` but differ in
data would otherwise retrain and replace each other's model in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from heiti.core.artifact import Artifact, sidecar_path
from heiti.core.cache import StepKey, copy
from heiti.core.steps import StepContext
from heiti.errors import InputError

STORED_FILE, STORED_SIDECAR = "artifact", "artifact.json"


def build_step(key: StepKey, output: Path, make: Callable[[], Artifact], ctx: StepContext, *,
               label: str, action: str, force: bool = False, owned: bool = False) -> Artifact:
    """The artifact at ``output`` for ``key``: kept when current, copied from the store when
    it holds the key, else made by ``make()`` (which writes ``output``) and stored. An
    ``owned`` output (a model at a scenario's ``model.path``, which scenarios may share)
    records the scenario that built it and is not replaced for another scenario."""
    previous = Artifact.cached(output)  # None: nothing there, or a damaged sidecar
    if not force:
        if previous is not None and previous.provenance.key == key and previous.is_current():
            ctx.log(f"{label}: up to date ({output.name})")
            return previous
        if owned:
            refuse_foreign(previous, key, ctx, label)
        entry = ctx.store.find(key, log=ctx.log) if ctx.store is not None else None
        if entry is not None:
            copy(entry / STORED_FILE, output)
            copy(entry / STORED_SIDECAR, sidecar_path(output))
            ctx.log(f"{label}: reused from the artifact store ({output.name})")
            return _recorded_as(Artifact.load(output), key, ctx.scenario if owned else None)
    why = "; ".join(_reasons(previous, key)) if previous is not None and not force else ""
    ctx.log(f"{label}: {action}" + (f" ({why})" if why else ""))
    result = _recorded_as(make(), key, ctx.scenario if owned else None)
    if ctx.store is not None:
        ctx.store.put(key, {STORED_FILE: result.path, STORED_SIDECAR: result.sidecar})
    return result


def _recorded_as(artifact: Artifact, key: StepKey, scenario: str | None) -> Artifact:
    """The artifact with its sidecar recording ``key`` and the scenario that owns it."""
    if artifact.provenance.key != key or artifact.provenance.scenario != scenario:
        artifact.provenance.key, artifact.provenance.scenario = key, scenario
        artifact.save()
    return artifact


def refuse_foreign(previous: Artifact | None, key: StepKey, ctx: StepContext, label: str) -> None:
    """Refuse to replace an artifact another scenario made under another key. The same
    recipe made by older tools (heiti upgraded or edited) is rebuilt: the other scenario
    needs the rebuilt artifact too."""
    if previous is None or previous.provenance.scenario in (None, ctx.scenario):
        return
    theirs = previous.provenance.key
    if theirs is not None and theirs.recipe() == key.recipe():
        return
    differences = "; ".join(key.changes(theirs))
    raise InputError(
        f"{label}: '{previous.path}' holds the model scenario '{previous.provenance.scenario}' built "
        f"(key {theirs.digest[:12] if theirs else 'none'}); scenario '{ctx.scenario}' needs another "
        f"(key {key.digest[:12]}: {differences}) and does not overwrite it",
        hint="give each scenario its own model.path (or build_dir), or replace the other "
             "scenario's model with 'heiti train --force' (or 'heiti optimize --force')")


def _reasons(previous: Artifact, key: StepKey) -> list[str]:
    if previous.provenance.key is None:
        return ["made without a content key by an earlier heiti"]
    return key.changes(previous.provenance.key) or ["its file was changed after it was built"]
