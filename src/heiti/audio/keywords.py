"""What the keyword datasets share: target words plus "unknown" and "silence", clips of
one length turned into features as they are read, and the per-split class balance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, field_validator

from heiti.audio.features import FeatureParams, extract
from heiti.core.dataset import Dataset, Samples
from heiti.datasets.splitting import SplitParams, assigned_splits

UNKNOWN, SILENCE = "unknown", "silence"
SPLIT_NAMES = ("train", "val", "test")
DEFAULT_WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


class KeywordParams(SplitParams):
    words: list[str] = Field(DEFAULT_WORDS, min_length=1, description="target words (classes)")
    unknown_ratio: float = Field(1.0, ge=0, le=10, description="'unknown' samples per split, relative "
                                 "to the mean count of a target word there (0: no unknown class)")
    silence_ratio: float = Field(1.0, ge=0, le=10, description="'silence' samples per split, relative "
                                 "to the mean count of a target word there (0: no silence class)")
    clip_seconds: float = Field(1.0, gt=0.1, le=10, description="length every clip is cut or padded to")
    features: FeatureParams = Field(FeatureParams(), description="the feature extraction the model "
                                    "declares (see docs/keyword-spotting.md)")

    @field_validator("words", mode="before")
    @classmethod
    def _not_yaml_booleans(cls, words: object) -> object:
        if isinstance(words, list) and any(isinstance(w, bool) for w in words):
            raise ValueError("YAML reads unquoted yes/no/on/off as true/false: quote the words "
                             "(\"yes\", \"no\", ...)")
        return words

    @field_validator("words")
    @classmethod
    def _distinct(cls, words: list[str]) -> list[str]:
        if len(set(words)) != len(words):
            raise ValueError("words must be distinct")
        if {UNKNOWN, SILENCE} & set(words):
            raise ValueError(f"'{UNKNOWN}' and '{SILENCE}' are the names of the extra classes")
        return words

    @property
    def clip_samples(self) -> int:
        return round(self.clip_seconds * self.features.sample_rate)

    def class_names(self) -> list[str]:
        return (list(self.words) + ([UNKNOWN] if self.unknown_ratio > 0 else [])
                + ([SILENCE] if self.silence_ratio > 0 else []))


class KeywordDataset(Dataset):
    """Base of the keyword datasets: classes from the parameters, the audio extra."""

    Params = KeywordParams
    requires = ("soundfile", "librosa")
    extra = "audio"

    @property
    def class_names(self) -> list[str]:
        return self.params.class_names()


@dataclass
class Collected:
    """Feature rows with their class, split and id, gathered group by group."""

    params: KeywordParams
    features: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def add(self, clips: np.ndarray, label: int, splits: list[str], ids: list[str]) -> None:
        if len(clips):
            self.features.append(extract(clips, self.params.features))
            self.labels += [label] * len(clips)
            self.splits += splits
            self.ids += ids

    def word_counts(self) -> dict[str, float]:
        """Mean count of a target word per split (what unknown and silence are sized by)."""
        splits = np.asarray(self.splits)
        return {name: float(np.sum(splits == name)) / len(self.params.words) for name in SPLIT_NAMES}

    def add_unknown(self, pool: dict[str, list[str]], read: Callable[[str], np.ndarray],
                    counts: dict[str, float], rng: np.random.Generator) -> None:
        """Up to ``unknown_ratio`` x the mean word count of clips of other words per split,
        drawn from ``pool`` (ids by split) and read only once chosen."""
        if self.params.unknown_ratio <= 0:
            return
        label = self.params.class_names().index(UNKNOWN)
        for split in SPLIT_NAMES:
            candidates = pool.get(split, [])
            wanted = min(len(candidates), round(self.params.unknown_ratio * counts[split]))
            chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), wanted, replace=False))]
            if chosen:
                self.add(np.stack([read(c) for c in chosen]), label, [split] * len(chosen), chosen)

    def add_silence(self, windows: Callable[[str, int, np.random.Generator], np.ndarray],
                    counts: dict[str, float], rng: np.random.Generator) -> None:
        """``silence_ratio`` x the mean word count of background windows, per split."""
        if self.params.silence_ratio <= 0:
            return
        label = self.params.class_names().index(SILENCE)
        for split in SPLIT_NAMES:
            count = max(1, round(self.params.silence_ratio * counts[split]))
            self.add(windows(split, count, rng), label, [split] * count,
                     [f"{SILENCE}/{split}/{i}" for i in range(count)])

    def samples(self) -> dict[str, Samples]:
        x = np.concatenate(self.features)
        return assigned_splits({"input": x}, np.asarray(self.labels, dtype=np.int64),
                               np.asarray(self.splits), self.params, self.ids)
