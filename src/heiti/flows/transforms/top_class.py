"""The most likely class of each item, reported when its score reaches a floor."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from heiti.core.component import Params
from heiti.flows.scores import ScoreKind, class_scores, label
from heiti.flows.stage import Item, Transform


class TopClassParams(Params):
    output: str | None = Field(None, description="model output holding the class scores "
                               "(default: the only output)")
    scores: ScoreKind = Field("softmax", description="softmax: the output holds logits")
    min_score: float = Field(0.0, ge=0, le=1, description="report only classes at least this likely")


class TopClass(Transform):
    """After a classifier: one result per item, {label, class_index, score}."""

    name = "top-class"
    Params = TopClassParams

    def process(self, item: Item) -> Iterator[Item]:
        scores = class_scores(item, self.params.output, self.params.scores, self.name)
        best = int(scores.argmax())
        item.results = [] if scores[best] < self.params.min_score else [
            {"label": label(item, best), "class_index": best, "score": round(float(scores[best]), 6)}]
        yield item
