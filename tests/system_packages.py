"""Which Debian packages of .ci/apt-packages are missing here, and which skipped tests they
would run: the end of `make test` lists both with the command that installs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APT_PACKAGES = Path(__file__).resolve().parents[1] / ".ci" / "apt-packages"
# package -> the program it puts on PATH (tests look for these); others are asked of dpkg
PROGRAMS = {"gcc-arm-none-eabi": "arm-none-eabi-gcc", "gcc-riscv64-unknown-elf": "riscv64-unknown-elf-gcc",
            "qemu-system-misc": "qemu-system-riscv32"}
LIBRARIES = ("libnewlib-arm-none-eabi", "picolibc-riscv64-unknown-elf")


def packages() -> list[str]:
    lines = APT_PACKAGES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def installed(package: str) -> bool:
    if package not in LIBRARIES:
        return shutil.which(PROGRAMS.get(package, package)) is not None
    try:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                                text=True, timeout=30).stdout
    except OSError:  # not a Debian system: cannot tell, assume it is there
        return True
    return "ok installed" in status


def names(package: str) -> set[str]:
    """The words a skip reason may use for a package: its name and its program's."""
    return {package, PROGRAMS.get(package, package)}


def summary(skipped: list[tuple[str, str]], missing: list[str]) -> list[str]:
    """Lines for the end of the run: each test (node id, skip reason) skipped for a missing
    package, then how to install the missing packages. Empty when none is missing."""
    if not missing:
        return []
    words = {word.lower() for package in missing for word in names(package)}
    marked = ("apt-packages", "debian")
    ours = [(test, reason) for test, reason in skipped
            if any(w in reason.lower() for w in words | set(marked))]
    lines = [f"{test}: {reason}" for test, reason in ours]
    lines += [f"{len(ours)} test(s) skipped: missing Debian package(s) {' '.join(missing)}",
              f"install them: sudo apt-get install -y {' '.join(missing)}  "
              "(all that the suite needs: .ci/apt-packages; `make test` installs them as root)"]
    return lines
