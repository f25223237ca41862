"""Start-up time of `heiti --help` against a bare `python -c pass`, medians over repeats.

    python benchmarks/cli_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import median


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "heiti --help": [sys.executable, "-m", "heiti", "--help"],
                "heiti list": [sys.executable, "-m", "heiti", "list"]}
    results = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            results[name].append(timed(command))
    print("| command | median (ms) | min (ms) |")
    print("|---|---|---|")
    for name, times in results.items():
        print(f"| {name} | {median(times) * 1e3:.0f} | {min(times) * 1e3:.0f} |")


if __name__ == "__main__":
    main()
