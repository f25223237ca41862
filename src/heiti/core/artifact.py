"""Artifacts: every model on the way through the chain is a file plus a sidecar JSON.

The sidecar ``<file>.json`` holds the format, the IO specification and the
provenance (the input it was made from, the parameters, the tool versions), so an
artifact can be understood, reused and checked without the run that made it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from heiti.core.cache import StepKey
from heiti.core.files import atomic_path, sha256_file, write_json
from heiti.core.iospec import IOSpec
from heiti.errors import InputError


class Provenance(BaseModel):
    producer: str = Field(description="component that wrote the artifact")
    parameters: dict[str, Any] = {}
    input_sha256: str | None = None
    tool_versions: dict[str, str] = {}
    duration_s: float | None = None
    key: StepKey | None = Field(None, description="everything that decided this artifact (core.cache)")
    scenario: str | None = Field(None, description="the scenario that built it: another scenario "
                                 "with another key does not overwrite it (core.build)")
    details: dict[str, Any] = Field(default={}, description="producer-specific facts")


class Artifact(BaseModel):
    path: Path
    format: str
    io: IOSpec
    provenance: Provenance
    sha256: str = ""
    size_bytes: int = 0

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def save(self) -> Artifact:
        """Hash the file and write the sidecar (atomically) beside it."""
        self.sha256 = sha256_file(self.path)
        self.size_bytes = artifact_size(self.path)
        data = self.model_dump(mode="json")
        data["path"] = self.path.name  # sidecars stay valid when a build dir moves
        write_json(self.sidecar, data)
        return self

    @classmethod
    def load(cls, path: Path) -> Artifact:
        path = Path(path)
        sidecar = sidecar_path(path)
        if not path.exists() or not sidecar.is_file():
            raise InputError(f"artifact '{path}' or its sidecar '{sidecar.name}' is missing")
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            return cls.model_validate({**data, "path": path})
        except (ValueError, ValidationError, RecursionError) as exc:
            # e.g. a disk that filled while an older heiti wrote the pair
            raise InputError(f"sidecar '{sidecar}' is not valid: {str(exc)[:500]}",
                             hint=f"remove '{path.name}' and '{sidecar.name}' so that heiti makes "
                                  "them again (a trained model: 'heiti train --force')") from None

    @classmethod
    def cached(cls, path: Path) -> Artifact | None:
        """The artifact at ``path`` when it and a valid sidecar exist (heiti's own earlier
        output, made again when damaged), else None."""
        try:
            return cls.load(path) if cls.sidecar_exists(path) else None
        except InputError:
            return None

    @staticmethod
    def sidecar_exists(path: Path) -> bool:
        return sidecar_path(path).is_file()

    def is_current(self) -> bool:
        """True when the file on disk is the one the sidecar describes."""
        return self.path.exists() and sha256_file(self.path) == self.sha256


def save_with_sidecar(artifact: Artifact, write: Callable[[Path], None]) -> Artifact:
    """Write an artifact's file with ``write(temporary_path)`` and its sidecar as a unit:
    both are complete before either replaces an earlier pair, so a failure (a full disk)
    leaves the old pair or none, never a file without its description."""
    final = artifact.path
    with atomic_path(final) as tmp:
        write(tmp)
        artifact.path = tmp
        artifact.save()  # hashes the finished file; writes the sidecar beside the final name
        artifact.path = final
        data = json.loads(sidecar_path(tmp).read_text(encoding="utf-8"))
        sidecar_path(tmp).unlink()
        data["path"] = final.name
        write_json(artifact.sidecar, data)
    return artifact


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".json")


def artifact_size(path: Path) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
