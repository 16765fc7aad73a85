"""Text as every page shows it: singular and plural, the direction of a difference, and invisible characters made
visible (the one helper behind the kit's escape, its templates and the charts' labels)."""
from __future__ import annotations

import unicodedata


def count(n: int, word: str, signed: bool = False) -> str:
    """A number with its noun, singular or plural: ``1 invocation``, ``12 invocations``, ``+1 call``."""
    num = f"{n:+,}" if signed else f"{n:,}"
    return f"{num} {word}" if abs(n) == 1 else f"{num} {word}s"


def difference(n: int, more: str, less: str) -> str:
    """A signed difference in plain words: ``17 more in CloudWatch than in the logs`` (``n`` > 0 means ``more``
    has more), ``161 more in the logs than in CloudWatch`` (``n`` < 0), ``none`` at 0."""
    if not n:
        return "none"
    a, b = (more, less) if n > 0 else (less, more)
    return f"{abs(n):,} more in {a} than in {b}"


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
