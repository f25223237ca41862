"""Spoken words from espeak-ng, cached by content.

Each utterance is one ``espeak-ng -w`` call. The cache key is everything that decides the
audio (the word, voice, speed, pitch and the espeak-ng version), so a cached file is reused
by any dataset that asks for the same utterance and a new espeak-ng never serves stale audio.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from heiti.core.files import atomic_path
from heiti.errors import InputError

DEBIAN_PACKAGE = "espeak-ng"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Utterance:
    word: str
    voice: str
    speed: int  # words per minute
    pitch: int  # 0..99

    def key(self, version: str) -> str:
        facts = {"word": self.word, "voice": self.voice, "speed": self.speed, "pitch": self.pitch,
                 "espeak-ng": version}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def espeak() -> str:
    """The espeak-ng executable, or an InputError naming the package that brings it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise InputError("the synthetic-keywords dataset needs the 'espeak-ng' program, which is "
                         "not installed", hint=f"apt-get install {DEBIAN_PACKAGE} (Debian/Ubuntu)")
    return found


@cache
def espeak_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
    return done.stdout.strip() or "unknown"


def synthesize(utterances: list[Utterance], folder: Path, workers: int = 2) -> list[Path]:
    """A WAV file per utterance in ``folder`` (created when missing), in order."""
    binary = espeak()
    version = espeak_version(binary)
    paths = [folder / f"{u.key(version)}.wav" for u in utterances]
    missing = [(u, p) for u, p in zip(utterances, paths, strict=True) if not p.exists()]
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda job: _speak(binary, *job), missing))
    return paths


def _speak(binary: str, utterance: Utterance, path: Path) -> None:
    with atomic_path(path) as tmp:
        command = [binary, "-v", utterance.voice, "-s", str(utterance.speed), "-p", str(utterance.pitch),
                   "-w", str(tmp), utterance.word]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        error = (done.stderr or done.stdout).strip()
        if done.returncode != 0 or "does not exist" in error or tmp.stat().st_size <= 44:
            raise InputError(f"espeak-ng could not speak {utterance.word!r} with voice "
                            f"{utterance.voice!r}: {error or f'exit code {done.returncode}'}",
                             hint="list the voices with 'espeak-ng --voices=en'; variants are "
                                  "added as VOICE+VARIANT (e.g. en-us+f2)")
