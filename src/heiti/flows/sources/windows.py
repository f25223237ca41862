"""Cutting audio into overlapping windows, shared by the audio sources."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from pydantic import Field, model_validator

from heiti.core.component import Params
from heiti.flows.stage import Item


class AudioWindowParams(Params):
    sample_rate: int = Field(16000, ge=1000, le=192000, description="samples per second the model's "
                             "features expect")
    window_s: float = Field(1.0, gt=0, le=60, description="length of one window (the model's clip)")
    hop_s: float = Field(0.25, gt=0, description="time between the starts of two windows")
    input: str = Field("audio", description="name of the tensor the windows become")
    realtime: bool = Field(False, description="deliver windows no faster than live audio would "
                           "(a window is ready once its last sample has been 'recorded')")

    @model_validator(mode="after")
    def _hop_fits(self) -> AudioWindowParams:
        if self.hop_s > self.window_s:
            raise ValueError("hop_s must not exceed window_s (windows would skip audio)")
        return self


class Windower:
    """Feeds of samples in, windows out: a window every ``hop`` samples once ``window``
    samples are there; ``finish`` zero-pads the tail so the last samples are heard too."""

    def __init__(self, params: AudioWindowParams, source: str, first_seq: int = 0):
        self.params, self.source, self.seq = params, source, first_seq
        self.window = max(1, round(params.window_s * params.sample_rate))
        self.hop = max(1, round(params.hop_s * params.sample_rate))
        self._buffer = np.zeros(0, np.float32)
        self._start = 0  # sample index of the buffer's first sample
        self._heard = 0  # samples fed in total
        self._covered = 0  # samples up to the end of the last window emitted
        self._clock = time.monotonic()

    def feed(self, samples: np.ndarray) -> Iterator[Item]:
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32)])
        self._heard += len(samples)
        while len(self._buffer) >= self.window:
            yield self._emit(self._buffer[: self.window])
            self._buffer = self._buffer[self.hop:]
            self._start += self.hop

    def finish(self) -> Iterator[Item]:
        """One last window, zero-padded, when samples after the last full window are unheard."""
        if self._covered < self._heard:
            padded = np.zeros(self.window, np.float32)
            padded[: len(self._buffer)] = self._buffer
            yield self._emit(padded)

    def _emit(self, window: np.ndarray) -> Item:
        if self.params.realtime:  # wait until a live recording would hold the window's end
            ready = self._clock + (self._start + self.window) / self.params.sample_rate
            time.sleep(max(0.0, ready - time.monotonic()))
        self._covered = self._start + self.window
        item = Item(self.seq, self.source, self._start / self.params.sample_rate,
                    {self.params.input: window.copy()[None]})
        self.seq += 1
        return item
