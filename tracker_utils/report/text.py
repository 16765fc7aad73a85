"""Text as a page shows it: the one helper behind the kit's escape, its templates and the charts' labels."""
from __future__ import annotations

import unicodedata

# characters that show nothing (zero-width, format and bidirectional controls, control characters): shown as escapes
_KEEP = {"\n", "\t"}


def _invisible(ch: str) -> bool:
    return ch not in _KEEP and unicodedata.category(ch) in {"Cf", "Cc", "Zl", "Zp", "Co", "Cs", "Cn"}


def visible(v) -> str:
    """``v`` as text with every invisible or bidirectional character shown as an escape (``\\u200b``), so two names
    that look the same are never different strings on a page."""
    s = "" if v is None else str(v)
    if s.isascii() and s.isprintable():
        return s
    return "".join((f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") if _invisible(c) else c for c in s)
