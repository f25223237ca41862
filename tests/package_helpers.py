"""Running the example of a `heiti package` folder on the emulated board, as its README says."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run_board_example(folder: Path) -> subprocess.CompletedProcess:
    """Build and run the README's "On the emulated board" commands in ``folder``; QEMU exits
    when main returns (semihosting), the timeouts only guard against a hang."""
    readme = (folder / "README.md").read_text()
    block = readme.split("On the emulated board")[1].split("```sh\n")[1].split("\n```")[0]
    build, run = block.replace("\\\n", " ").splitlines()
    subprocess.run(build, shell=True, cwd=folder, check=True, capture_output=True, timeout=600)
    return subprocess.run(run, shell=True, cwd=folder, capture_output=True, text=True, timeout=600)
