"""WAV files, one or a folder of them in name order, cut into overlapping windows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.audio.wav import MAX_SECONDS
from heiti.core.component import Component
from heiti.errors import InputError
from heiti.flows.sources.windows import AudioWindowParams, Windower
from heiti.flows.stage import DatasetAware, Item, Source


class WavStreamParams(AudioWindowParams):
    path: Path = Field(description="a WAV file, or a folder whose WAV files play one after another")
    resample: bool = Field(True, description="resample other sample rates (else refuse them)")
    max_seconds: float = Field(MAX_SECONDS, gt=0, le=24 * 3600, description="longest file taken "
                               "(each is read whole): a longer one is refused")


class WavStream(DatasetAware, Source):
    """Mono WAV files as a stream of windows of ``window_s`` every ``hop_s``; each file is
    its own stream (its windows start at 0 s), its tail zero-padded to a last window. With a
    scenario's model, sample_rate and window_s left out come from its keyword dataset."""

    name = "wav-stream"
    Params = WavStreamParams
    requires = ("soundfile",)
    extra = "audio"

    @property
    def media_seconds_per_item(self) -> float:
        return self.params.hop_s

    def dataset_settings(self, dataset: Component) -> dict[str, Any]:
        features = getattr(dataset.params, "features", None)
        seconds = getattr(dataset.params, "clip_seconds", None)
        if features is None or seconds is None:
            return {}
        return {"sample_rate": features.sample_rate, "window_s": seconds}

    def files(self) -> list[Path]:
        path = self.params.path
        if path.is_dir():
            files = sorted(f for f in path.iterdir() if f.suffix.lower() == ".wav" and f.is_file())
            if not files:
                raise InputError(f"folder '{path}' holds no .wav files")
            return files
        if not path.is_file():
            raise InputError(f"WAV path '{self.given_paths.get('path', path)}' (resolved to '{path}') "
                             "does not exist")
        return [path]

    def items(self) -> Iterator[Item]:
        from heiti.audio.wav import read_wav  # (soundfile, librosa: the audio extra)

        seq = 0
        for file in self.files():
            audio = read_wav(file, self.params.sample_rate, resample=self.params.resample,
                             max_seconds=self.params.max_seconds)
            windows = Windower(self.params, file.name, first_seq=seq)
            yield from windows.feed(audio)
            yield from windows.finish()
            seq = windows.seq
