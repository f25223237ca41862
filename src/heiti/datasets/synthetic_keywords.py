"""Spoken keywords synthesised offline with espeak-ng: voices, speeds, pitches, time
shifts and noise, seeded, so keyword spotting trains without downloading a corpus."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from heiti.audio.clips import coloured_noise, fit_length, mix_at_snr
from heiti.audio.keywords import SPLIT_NAMES, Collected, KeywordDataset, KeywordParams
from heiti.audio.speech import Utterance, synthesize
from heiti.audio.wav import read_wav
from heiti.core.dataset import Samples
from heiti.core.files import cache_root
from heiti.pipeline.progress import Progress

NOISES = ("white", "pink", "brown")
WORD_PATTERN = r"^[A-Za-z][A-Za-z' -]{0,39}$"


class SyntheticKeywordsParams(KeywordParams):
    unknown_words: list[str] = Field(
        ["bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero",
         "one", "two", "three", "four", "five"],
        description="other words, spoken for the 'unknown' class")
    voices: list[str] = Field(
        ["en-us", "en-us+f2", "en-gb+m3", "en-gb-scotland+f4", "en-029+m7", "en-gb-x-rp+klatt",
         "en-us+m1", "en-gb+f3"],
        min_length=1, description="espeak-ng voices (VOICE or VOICE+VARIANT, see 'espeak-ng --voices')")
    speeds: list[int] = Field([125, 155, 185], min_length=1, description="words per minute, 80-450")
    pitches: list[int] = Field([30, 50, 70], min_length=1, description="espeak-ng pitch, 0-99")
    copies: int = Field(2, ge=1, le=20, description="augmented copies of each utterance")
    max_shift: float = Field(0.1, ge=0, le=0.5, description="largest time shift in seconds")
    snr_db: tuple[float, float] = Field((5.0, 30.0), description="range of signal-to-noise ratios "
                                        "of the mixed-in noise (dB)")
    cache_dir: Path | None = Field(None, description="where spoken words are kept (default: "
                                   "$HEITI_CACHE/espeak, else ~/.cache/heiti/espeak)")

    @field_validator("words", "unknown_words")
    @classmethod
    def _speakable(cls, words: list[str]) -> list[str]:
        import re

        bad = [w for w in words if not re.fullmatch(WORD_PATTERN, w)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a word espeak-ng is given here (letters, spaces, "
                             "hyphens and apostrophes; at most 40)")
        return words

    @field_validator("speeds", "pitches")
    @classmethod
    def _in_range(cls, values: list[int], info: ValidationInfo) -> list[int]:
        low, high = {"speeds": (80, 450), "pitches": (0, 99)}[info.field_name]
        if any(not low <= v <= high for v in values):
            raise ValueError(f"{info.field_name} are {low}..{high}")
        return values

    @model_validator(mode="after")
    def _speakers(self) -> SyntheticKeywordsParams:
        if len(self.voices) * len(self.pitches) < 3:
            raise ValueError("need at least 3 speakers (voices x pitches) for train, val and test")
        if set(self.unknown_words) & set(self.words):
            raise ValueError("unknown_words must not repeat target words")
        return self


class SyntheticKeywords(KeywordDataset):
    """Keyword spotting on words spoken by espeak-ng: target words, "unknown" (other words)
    and "silence" (noise alone), as features.

    A speaker is a voice at a pitch; speakers are split between train, validation and test
    (seeded), so the test split holds voices at pitches never heard in training. Each
    utterance (word x speaker x speed) is shifted in time, scaled and mixed with white, pink
    or brown noise ``copies`` times. Spoken words are cached by content (see ``cache_dir``).
    """

    name = "synthetic-keywords"
    Params = SyntheticKeywordsParams

    def content_paths(self) -> dict[str, Path | None]:
        return {}  # generated: keyed by its parameters; cache_dir only keeps spoken words

    def _load_splits(self) -> dict[str, Samples]:
        p = self.params
        rng = np.random.default_rng(p.seed)
        speaker_split = self._speaker_splits(rng)
        collected = Collected(p)
        unknown: dict[str, list[str]] = {split: [] for split in SPLIT_NAMES}
        clips_by_id: dict[str, np.ndarray] = {}
        words = [*p.words, *p.unknown_words]
        # speaking and augmenting every clip takes minutes the first time: show the count
        with Progress(len(words), "keyword clips (espeak-ng, cached)") as progress:
            for word in words:
                clips, splits, ids = self._spoken(word, speaker_split, rng)
                if word in p.words:
                    collected.add(clips, p.words.index(word), splits, ids)
                else:
                    clips_by_id.update(zip(ids, clips, strict=True))
                    for i, split in zip(ids, splits, strict=True):
                        unknown[split].append(i)
                progress.update(note=repr(word))
        counts = collected.word_counts()
        collected.add_unknown(unknown, clips_by_id.__getitem__, counts, rng)
        collected.add_silence(self._silence, counts, rng)
        return collected.samples()

    def _speaker_splits(self, rng: np.random.Generator) -> dict[tuple[str, int], str]:
        speakers = list(itertools.product(self.params.voices, self.params.pitches))
        order = rng.permutation(len(speakers))
        n_test = max(1, round(len(speakers) * self.params.test_fraction))
        n_val = max(1, round(len(speakers) * self.params.val_fraction))
        names = ["test"] * n_test + ["val"] * n_val + ["train"] * (len(speakers) - n_test - n_val)
        return {speakers[i]: names[rank] for rank, i in enumerate(order)}

    def _spoken(self, word: str, speaker_split: dict[tuple[str, int], str], rng: np.random.Generator
                ) -> tuple[np.ndarray, list[str], list[str]]:
        """Every utterance of ``word`` in ``copies`` augmented versions, with split and id."""
        p = self.params
        utterances = [Utterance(word, voice, speed, pitch)
                      for (voice, pitch), speed in itertools.product(speaker_split, p.speeds)]
        files = synthesize(utterances, p.cache_dir or cache_root() / "espeak")
        clips, splits, ids = [], [], []
        for u, file in zip(utterances, files, strict=True):
            audio = read_wav(file, p.features.sample_rate)
            audio = audio / (np.abs(audio).max() + 1e-9)
            for copy in range(p.copies):
                clips.append(self._augment(audio, rng))
                splits.append(speaker_split[(u.voice, u.pitch)])
                ids.append(f"{word}/{u.voice}/p{u.pitch}/s{u.speed}/{copy}")
        return np.stack(clips), splits, ids

    def _augment(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        reach = round(p.max_shift * p.features.sample_rate)
        clip = fit_length(audio * rng.uniform(0.2, 0.9), p.clip_samples, int(rng.integers(-reach, reach + 1)))
        noise = coloured_noise(rng, p.clip_samples, NOISES[rng.integers(len(NOISES))])
        return mix_at_snr(clip, noise, rng.uniform(*p.snr_db))

    def _silence(self, split: str, count: int, rng: np.random.Generator) -> np.ndarray:
        """Noise alone, from very quiet to as loud as the noise mixed into words."""
        p = self.params
        levels = 10 ** rng.uniform(-4.0, -1.3, size=count)
        return np.stack([coloured_noise(rng, p.clip_samples, NOISES[rng.integers(len(NOISES))]) * level
                         for level in levels]).astype(np.float32)
