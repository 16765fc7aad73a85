"""Words around numbers, the same on every page: singular and plural, and the direction of a difference."""
from __future__ import annotations


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
