"""Text from outside (a target's messages, model and class names) as it may reach a
terminal: shown, never interpreted.

A terminal acts on control characters: ESC starts colour, cursor and screen-clearing
sequences, OSC sequences set the window title or write the clipboard (OSC 52), CR
overwrites a line, and bidirectional overrides reorder what is displayed. ``shown``
writes each of them as a visible escape; new lines and tabs stay.
"""

from __future__ import annotations

import re

# C0 controls but tab and new line, DEL, C1 controls, bidirectional embeddings/overrides/isolates
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
