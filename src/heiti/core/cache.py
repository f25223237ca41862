"""Artifacts by content: one key for everything that decides a step's output, and a store.

A ``StepKey`` names the tool, its parameters, the content hashes of its inputs, the
dataset's identity (what it is and the content of the files it reads), the calibration
samples, the seed and the tool versions. Two steps with equal keys make the same
artifact, so the optimizer chain, ``heiti matrix`` cells and ``heiti workflow`` steps
reuse each other's work from an ``ArtifactStore`` instead of rebuilding it, and a step
whose data, calibration set or tools changed is never served a stale result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from heiti.core.files import sha256_file, write_json

if TYPE_CHECKING:
    from heiti.core.dataset import Samples

KEY_FILE = "key.json"
MANIFEST_FILE = "sha256.json"
STORE_NAME = ".heiti-store"


class StepKey(BaseModel):
    tool: str
    parameters: dict[str, Any] = {}
    inputs: dict[str, str] = {}  # input name -> sha256 of its content
    dataset: dict[str, Any] | None = None
    calibration: str | None = None  # sha256 of the calibration samples
    seed: int | None = None
    versions: dict[str, str] = {}

    @property
    def digest(self) -> str:
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def recipe(self) -> dict[str, Any]:
        """The key without the tool versions (the dataset's too): what is made, not by which
        code. Two keys of one recipe describe the same artifact made by other tools."""
        recipe = self.model_dump(mode="json", exclude={"versions"})
        recipe["dataset"] = _without_versions(self.dataset)
        return recipe

    def changes(self, old: StepKey | None) -> list[str]:
        """Why an artifact made under ``old`` is not this key's (empty: it is)."""
        if old is None:
            return ["never built"]
        reasons = []
        if old.tool != self.tool:
            reasons.append(f"tool {old.tool} -> {self.tool}")
        changed = _changed(old.parameters, self.parameters)
        if changed:
            reasons.append("parameters changed: " + ", ".join(changed))
        inputs = sorted(k for k in {*old.inputs, *self.inputs} if old.inputs.get(k) != self.inputs.get(k))
        if inputs:
            reasons.append("input changed: " + ", ".join(inputs))
        if _without_versions(old.dataset) != _without_versions(self.dataset):
            reasons.append("dataset changed")
        if old.calibration != self.calibration:
            reasons.append("calibration samples changed")
        if old.seed != self.seed:
            reasons.append(f"seed {old.seed} -> {self.seed}")
        # the dataset's readers (or generator: heiti) are tools like the step's own
        versions = _changed({**(old.dataset or {}).get("versions", {}), **old.versions},
                            {**(self.dataset or {}).get("versions", {}), **self.versions})
        if versions:
            reasons.append("tool versions changed: " + ", ".join(versions))
        return reasons


def _without_versions(dataset: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if dataset is None else {k: v for k, v in dataset.items() if k != "versions"}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old, new = _flat(old), _flat(new)
    return [f"{k} {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}"
            for k in sorted({*old, *new}) if old.get(k) != new.get(k)]


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted paths, so a change names the value that changed."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@cache
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


@cache
def heiti_code() -> str:
    """heiti's version and a digest of its own files (Python, C kernels, templates): a source
    checkout edited or pulled between two runs is another tool, although its version string
    is the same, so artifacts it made (generated C above all) are not reused as current."""
    from heiti import __version__

    return f"{__version__}+{tree_digest(Path(__file__).resolve().parent.parent)[:12]}"


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and bytes of the files under ``root`` (bytecode caches
    left out: they follow the sources)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tool_versions(modules: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """heiti's code (``heiti_code``) and the versions of the distributions that provide
    ``modules``."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"heiti": heiti_code()}
    for module in modules:
        for dist in _distributions().get(module.split(".")[0], []):
            try:
                found[dist] = version(dist)
            except PackageNotFoundError:
                continue
    return found


def samples_digest(samples: Samples) -> str:
    """Content hash of samples: every input (name, dtype, shape, values) and the truth."""
    digest = hashlib.sha256()
    for name in sorted(samples.inputs):
        array = np.ascontiguousarray(samples.inputs[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    truth = samples.truth
    if isinstance(truth, np.ndarray):
        digest.update(f"truth:{truth.dtype.str}:{truth.shape}".encode())
        digest.update(np.ascontiguousarray(truth).tobytes())
    else:
        digest.update(json.dumps(truth, sort_keys=True, default=_plain).encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's file names and contents (``files.sha256_file``).
    Within one process the hash is reused while every file keeps its name, size, inode and
    modification time, so the dataset hashed for training is not read again for the chain."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    signature = tuple((str(f), s.st_size, s.st_mtime_ns, s.st_ino) for f in files for s in [f.stat()])
    known = _digests.get(path)
    if known is None or known[0] != signature:
        known = _digests[path] = (signature, sha256_file(path))
    return known[1]


_digests: dict[Path, tuple[tuple[Any, ...], str]] = {}


class ArtifactStore:
    """A folder of artifacts by key digest: ``ROOT/ab/abcdef.../`` holds the stored files,
    ``sha256.json`` (each stored file's hash) and ``key.json``. An entry appears complete
    or not at all (renamed into place); its files are read-only, and an entry whose files
    no longer have their recorded hashes is removed and rebuilt, never reused."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, key: StepKey) -> Path:
        digest = key.digest
        return self.root / digest[:2] / digest

    def find(self, key: StepKey, log: Callable[[str], None] = print) -> Path | None:
        """The key's entry when it exists and its files are as stored; a changed entry is
        removed (and ``log`` says so), so that the step builds it again."""
        entry = self.entry(key)
        if not (entry / KEY_FILE).is_file():
            return None
        problem = _tampered(entry)
        if problem is None:
            return entry
        log(f"artifact store: entry {key.digest[:12]} was changed after it was stored ({problem}); "
            "rebuilding it")
        shutil.rmtree(entry, ignore_errors=True)
        return None

    def put(self, key: StepKey, files: dict[str, Path]) -> Path:
        """Copy ``files`` (stored name -> file or folder) into the key's entry."""
        entry = self.entry(key)
        if (entry / KEY_FILE).is_file() and _tampered(entry) is None:
            return entry
        shutil.rmtree(entry, ignore_errors=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
        try:
            for name, source in files.items():
                copy(source, staging / name)
            write_json(staging / MANIFEST_FILE, _hashes(staging))
            write_json(staging / KEY_FILE, key.model_dump(mode="json"))
            for file in _files(staging):
                file.chmod(0o444)  # a stored file is never edited in place
            staging.rename(entry)
        except OSError:
            if not (entry / KEY_FILE).is_file():  # another process storing the same key won
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return entry


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _hashes(entry: Path) -> dict[str, str]:
    return {p.relative_to(entry).as_posix(): sha256_file(p) for p in _files(entry)
            if p.name not in (KEY_FILE, MANIFEST_FILE) or p.parent != entry}


def _tampered(entry: Path) -> str | None:
    """What differs between an entry's files and their recorded hashes (None: nothing)."""
    try:
        recorded = json.loads((entry / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no record of its files' hashes"
    if any(p.is_symlink() for p in entry.rglob("*")):
        return "it holds a symbolic link"
    found = _hashes(entry)
    changed = sorted(name for name in {*recorded, *found} if recorded.get(name) != found.get(name))
    return f"{', '.join(changed[:3])} changed" if changed else None


def store_for(build_dir: Path) -> ArtifactStore:
    """The store shared by everything building beside ``build_dir`` (scenarios, matrix cells,
    AutoML trials, workflows): ``$HEITI_STORE``, else ``.heiti-store`` in its parent."""
    root = os.environ.get("HEITI_STORE")
    return ArtifactStore(Path(root) if root else Path(build_dir).parent / STORE_NAME)


def copy(source: Path, destination: Path) -> None:
    """Copy a file or a folder, replacing what is at ``destination``: a plain writable copy
    (never a link, never the source's read-only mode), renamed into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        copied = staging / "copy"
        if source.is_dir():
            shutil.copytree(source, copied, symlinks=False, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(source, copied)
        if destination.is_symlink() or (destination.is_dir() or source.is_dir()) and destination.exists():
            remove(destination)  # a rename replaces a file, not a folder or a link
        os.replace(copied, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove(path: Path) -> None:
    """Remove a file, a link (not what it points at) or a folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
