"""The folder layout of Google's Speech Commands dataset, read from disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from pydantic import Field

from heiti.audio.clips import fit_length, windows_of
from heiti.audio.keywords import SPLIT_NAMES, Collected, KeywordDataset, KeywordParams
from heiti.audio.wav import read_wav
from heiti.core.dataset import Samples
from heiti.core.files import require_dir
from heiti.errors import InputError

NOISE_FOLDER = "_background_noise_"
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


class SpeechCommandsParams(KeywordParams):
    path: Path = Field(description="the dataset folder: one folder of WAV files per word, "
                       "_background_noise_/, validation_list.txt, testing_list.txt")
    resample: bool = Field(True, description="resample WAV files at another rate (false: refuse them)")
    max_per_word: int | None = Field(None, ge=1, description="read at most this many files per word "
                                     "folder (the first in name order), for quick experiments")


class SpeechCommands(KeywordDataset):
    """Keyword spotting on the Speech Commands layout: target words, "unknown" (other word
    folders) and "silence" (windows cut from ``_background_noise_``), as features.

    The splits follow ``validation_list.txt`` and ``testing_list.txt``; without them a file
    goes to a split by a hash of its speaker (the name before ``_nohash_``), so one speaker
    never straddles splits. Background noise files are cut in time: the first part of each
    feeds training silence, the last parts validation and test. Without
    ``_background_noise_`` silence is digital silence.
    """

    name = "speech-commands"
    Params = SpeechCommandsParams

    def _load_splits(self) -> dict[str, Samples]:
        p = self.params
        root = require_dir(p.path, self.given_paths.get("path"), what="Speech Commands folder")
        folders = sorted(d.name for d in root.iterdir()
                         if d.is_dir() and not d.name.startswith(("_", ".")))
        missing = [w for w in p.words if w not in folders]
        if missing:
            raise InputError(f"Speech Commands folder '{root}' has no folder for "
                             f"{', '.join(repr(w) for w in missing)} (word folders: {', '.join(folders)})",
                             hint="choose 'words' among the word folders")
        listed = {split: self._listed(root / name) for split, name in LISTS.items()}
        rng = np.random.default_rng(p.seed)
        collected = Collected(p)
        unknown: dict[str, list[str]] = {split: [] for split in SPLIT_NAMES}
        for folder in folders:
            ids = self._files(root, folder)
            splits = [self._split_of(i, listed) for i in ids]
            if folder in p.words:
                clips = np.stack([self._clip(root / i) for i in ids])
                collected.add(clips, p.words.index(folder), splits, ids)
            else:
                for i, split in zip(ids, splits, strict=True):
                    unknown[split].append(i)
        counts = collected.word_counts()
        collected.add_unknown(unknown, lambda i: self._clip(root / i), counts, rng)
        noise = self._noise(root)
        collected.add_silence(lambda split, count, r: windows_of(noise[split], p.clip_samples, count, r),
                              counts, rng)
        return collected.samples()

    def _files(self, root: Path, folder: str) -> list[str]:
        files = sorted(f for f in (root / folder).iterdir() if f.suffix.lower() == ".wav")
        if not files:
            raise InputError(f"word folder '{root / folder}' holds no WAV files",
                             hint="remove the empty folder or put its recordings back")
        files = files[: self.params.max_per_word]
        return [f.relative_to(root).as_posix() for f in files]

    @staticmethod
    def _listed(file: Path) -> set[str] | None:
        if not file.is_file():
            return None
        return {line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()}

    def _split_of(self, sample_id: str, listed: dict[str, set[str] | None]) -> str:
        if listed["val"] is not None or listed["test"] is not None:
            for split in ("val", "test"):
                if sample_id in (listed[split] or ()):
                    return split
            return "train"
        speaker = Path(sample_id).name.split("_nohash_")[0]
        share = int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if share < self.params.test_fraction:
            return "test"
        return "val" if share < self.params.test_fraction + self.params.val_fraction else "train"

    def _clip(self, file: Path) -> np.ndarray:
        audio = read_wav(file, self.params.features.sample_rate, self.params.resample)
        return fit_length(audio, self.params.clip_samples)

    def _noise(self, root: Path) -> dict[str, np.ndarray]:
        """Each background file cut in time into train, val and test parts, concatenated."""
        p = self.params
        parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLIT_NAMES}
        folder = root / NOISE_FOLDER
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".wav") if folder.is_dir() else []
        edges = (1 - p.val_fraction - p.test_fraction, 1 - p.test_fraction)
        for file in files:
            audio = read_wav(file, p.features.sample_rate, p.resample)
            a, b = (round(len(audio) * e) for e in edges)
            for split, piece in zip(SPLIT_NAMES, (audio[:a], audio[a:b], audio[b:]), strict=True):
                parts[split].append(piece)
        silent = np.zeros(p.clip_samples, dtype=np.float32)
        return {split: np.concatenate(chunks) if sum(map(len, chunks)) else silent
                for split, chunks in parts.items()}
