"""Speak a few keywords into a WAV file with espeak-ng, for the live flow (flow.yml).

    python speak.py [WORD ...]        # default: yes no stop go, one per second and a half
"""

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "build" / "kws-live" / "spoken.wav"


def main() -> None:
    words = sys.argv[1:] or ["yes", "no", "stop", "go"]
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is missing: apt install espeak-ng")
    pause = '<break time="1200ms"/>'
    text = "<speak>" + pause + pause.join(words) + pause + "</speak>"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([espeak, "-m", "-v", "en-us", "-s", "150", "-w", str(OUT), text], check=True)
    print(f"spoke {' '.join(words)} into {OUT}")


if __name__ == "__main__":
    main()
