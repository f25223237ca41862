"""Keyword detection from a stream of overlapping audio windows, as deployed spotters decide.

A single window's posterior is noisy: a word half inside the window, a burst of noise.
Deployed spotters (for example TensorFlow Lite Micro's micro_speech ``RecognizeCommands``)
therefore average the posteriors of the windows of the last ``average_s`` seconds, report
a keyword when its average crosses ``threshold`` and then stay quiet about that keyword
for ``suppression_s`` so one utterance gives one detection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.errors import InputError
from heiti.flows.scores import ScoreKind, class_scores, label
from heiti.flows.stage import Item, Transform


class KeywordSpotterParams(Params):
    output: str | None = Field(None, description="model output holding the class scores "
                               "(default: the only output)")
    scores: ScoreKind = Field("softmax", description="softmax: the output holds logits")
    average_s: float = Field(1.0, gt=0, description="average the posteriors of the windows that "
                             "started within this many seconds")
    threshold: float = Field(0.7, gt=0, le=1, description="averaged score that reports a keyword")
    min_windows: int = Field(2, ge=1, description="windows averaged before anything is reported")
    suppression_s: float = Field(1.0, ge=0, description="after a detection, the same keyword is "
                                 "not reported again for this long")
    ignore: list[str] = Field(["silence", "unknown", "_silence_", "_unknown_"],
                              description="classes that are never reported")


class KeywordSpotter(Transform):
    """After a keyword model on audio windows: {keyword, score, time_s} when a keyword's
    averaged posterior crosses the threshold, once per utterance."""

    name = "keyword-spotter"
    Params = KeywordSpotterParams

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stream: str | None = None
        self._recent: deque[tuple[float, np.ndarray]] = deque()
        self._last: dict[int, float] = {}

    def process(self, item: Item) -> Iterator[Item]:
        if item.offset_s is None:
            raise InputError(f"{self.name} needs windows with a time (an audio source); "
                             f"item {item.seq} from '{item.source}' has none")
        if item.source != self._stream:  # a new file is a new stream
            self._stream, self._last = item.source, {}
            self._recent.clear()
        now = item.offset_s
        self._recent.append((now, class_scores(item, self.params.output, self.params.scores, self.name)))
        while self._recent[0][0] <= now - self.params.average_s:
            self._recent.popleft()
        item.results = []
        if len(self._recent) >= self.params.min_windows:
            average = np.mean([scores for _, scores in self._recent], axis=0)
            for index in np.argsort(average)[::-1]:
                word = label(item, int(index))
                if word in self.params.ignore:
                    continue
                recent = now - self._last.get(int(index), -np.inf) < self.params.suppression_s
                if average[index] >= self.params.threshold and not recent:
                    self._last[int(index)] = now
                    item.results.append({"keyword": word, "score": round(float(average[index]), 6),
                                         "time_s": round(now, 6)})
                break  # only the most likely reportable class may fire
        yield item
