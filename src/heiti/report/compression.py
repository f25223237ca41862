"""The compression section: what pruning and clustering did to a model, step by step (one
run: MACs, parameters, file, validation score after each step of the chain, then the test),
and compressed runs against the first run of a comparison or a matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from heiti.errors import InputError
from heiti.report.content import Section, Table, kib, num
from heiti.report.verdict import board_figures

if TYPE_CHECKING:
    from heiti.pipeline.measurements import ChainStep, Measurements


class PruneStep(BaseModel):
    macs: int
    parameters: int
    val_score: float | None = None


class PruneFacts(BaseModel):
    """What the prune optimizer records in its step's details (the part reports read)."""
    macs_before: int
    macs_after: int
    parameters_before: int
    parameters_after: int
    kept: float
    steps: list[PruneStep]


class ClusterFacts(BaseModel):
    """What the cluster optimizer records in its step's details (the part reports read)."""
    clusters: int
    layers: list[dict[str, Any]]
    index_bits: int
    palette_bytes: int
    float_bytes: int
    val_score: float | None = None


FACTS: dict[str, type[BaseModel]] = {"optimizer:prune": PruneFacts, "optimizer:cluster": ClusterFacts}


def compresses(doc: Measurements) -> bool:
    return any(step.producer in FACTS for step in doc.model.chain)


def compression_sections(doc: Measurements) -> list[Section]:
    """One row per chain step (MACs and parameters as the steps that count them recorded
    them), then the run's test figures."""
    if not compresses(doc):
        return []
    facts = [_facts(doc, step) for step in doc.model.chain]
    prunes = [f for f in facts if isinstance(f, PruneFacts)]
    macs = prunes[0].macs_before if prunes else doc.model.macs
    parameters = prunes[0].parameters_before if prunes else doc.model.parameters
    rows = []
    for step, fact in zip(doc.model.chain, facts, strict=True):
        if isinstance(fact, PruneFacts):
            macs, parameters = fact.macs_after, fact.parameters_after
        rows.append([step.producer.split(":", 1)[1], step.format, num(macs), num(parameters),
                     kib(step.size_bytes), num(_validation_score(step, fact)), _what_changed(step, fact)])
    quality = doc.quality
    board = board_figures(doc)
    where = (f"flash {num(board['flash_bytes'])} B, RAM {num(board['ram_bytes'])} B (linked "
             f"firmware), {num(round(board['instructions']))} instructions per inference"
             if board else f"{doc.runtime['type']} on {doc.target_kind}")
    rows.append([f"test: {doc.dataset.samples} {doc.dataset.split} samples", doc.model.format,
                 num(doc.model.macs), num(doc.model.parameters), kib(doc.model.size_bytes),
                 f"{quality.primary_metric} {num(quality.primary)}", where])
    table = Table(["step", "format", "MACs", "parameters", "file", "validation score", "what changed"],
                  rows)
    return [Section("Compression", [table], notes=[
        "MACs and parameters as pruning counted them on the PyTorch model (the test row: counted "
        "on the tested artifact); validation score: the step's own measure on the validation "
        "split (the best fine-tuning epoch), the test row this run's metric. docs/compression.md "
        "explains what each optimizer removes."])]


def compression_comparison(docs: list[Measurements]) -> list[Section]:
    """Runs side by side against the first one, when any of them pruned or clustered."""
    if len(docs) < 2 or not any(compresses(doc) for doc in docs):
        return []
    first, first_board = docs[0], board_figures(docs[0])
    boards = [board_figures(doc) for doc in docs]
    rows = []
    for doc, board in zip(docs, boards, strict=True):
        chain = " → ".join(s.producer.split(":", 1)[1] for s in doc.model.chain)
        row = [doc.name, chain, _share(doc.model.macs, first.model.macs),
               _share(doc.model.parameters, first.model.parameters),
               kib(board["flash_bytes"] if board else doc.model.size_bytes) + (" flash" if board else ""),
               num(doc.quality.primary), _difference(doc.quality.primary, first.quality.primary)]
        if any(boards):
            row.append("–" if board is None else _share(
                round(board["instructions"]), first_board and round(first_board["instructions"])))
        rows.append(row)
    metric = first.quality.primary_metric
    header = ["run", "chain", "MACs", "parameters", "size", metric, f"{metric} vs '{first.name}'"]
    if any(boards):
        header.append("instructions / inference")
    return [Section("Compression", [Table(header, rows)], notes=[
        f"Shares are of '{first.name}', the first run; a board run's size is its linked "
        "firmware's flash."])]


def _facts(doc: Measurements, step: ChainStep) -> BaseModel | None:
    """A compression step's details, checked: a measurements file is input like any other."""
    model = FACTS.get(step.producer)
    if model is None:
        return None
    try:
        return model.model_validate(step.details)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InputError(f"run '{doc.name}': the details of its {step.producer.split(':', 1)[1]} step "
                         f"are not what heiti writes ({where}: {problem['msg']})",
                         hint="regenerate the measurements with 'heiti run'") from None


def _share(value: int | None, reference: int | None) -> str:
    if value is None:
        return "–"
    return num(value) if not reference else f"{num(value)} ({100 * value / reference:.1f} %)"


def _difference(value: float | None, reference: float | None) -> str:
    return "–" if value is None or reference is None else f"{value - reference:+.4f}"


def _validation_score(step: ChainStep, fact: BaseModel | None) -> Any:
    if isinstance(fact, PruneFacts):  # after the last step's fine-tuning
        return fact.steps[-1].val_score if fact.steps else None
    if isinstance(fact, ClusterFacts):
        return fact.val_score
    details = step.details
    if "val_score" in details:  # training, micro-qat: the best epoch
        return details["val_score"]
    sensitivity = details.get("sensitivity")  # micro-ptq: every layer int8
    return sensitivity.get("int8") if isinstance(sensitivity, dict) else None


def _what_changed(step: ChainStep, fact: BaseModel | None) -> str:
    if isinstance(fact, PruneFacts):
        counts = " → ".join(num(s.macs) for s in fact.steps)
        return f"kept {100 * fact.kept:.1f} % of the MACs in {len(fact.steps)} step(s): {counts}"
    if isinstance(fact, ClusterFacts):
        return (f"{fact.clusters} shared values in each of {len(fact.layers)} layers; "
                f"{fact.index_bits}-bit indices and palettes would take "
                f"{num(fact.palette_bytes)} B, float32 {num(fact.float_bytes)} B")
    details = step.details
    storage = details.get("weight_storage")
    if isinstance(storage, dict):
        return (f"weights {num(storage.get('weight_bytes_int8'))} B int8 → "
                f"{num(storage.get('weight_bytes_stored'))} B as palettes")
    if step.producer == "optimizer:micro-c" and "weight_bytes" in details:
        return f"C; weights {num(details['weight_bytes'])} B int8"
    if "scheme" in details:
        return f"int8, {details['scheme']} scheme ({step.producer.split(':', 1)[1]})"
    return ""
