"""The one line ``make bench`` ends with: the last line of each benchmark, keys kept, the 200,000-record collect's
ratios renamed with a ``200k`` suffix (``collect200k/zcat_floor=…``, ``duckdb_auto/collect200k=…``).

    python benchmarks/summary.py collect200k.txt collect1m.txt chain.txt
"""
from __future__ import annotations

import sys
from pathlib import Path


def last_pairs(path: Path) -> list[tuple[str, str]]:
    """The key=value pairs of a benchmark's last line."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    pairs = [tuple(kv.split("=", 1)) for kv in (lines[-1].split() if lines else []) if "=" in kv]
    if not pairs:
        sys.exit(f"{path}: its last line has no key=value (did the benchmark fail?)")
    return pairs


def renamed(key: str, suffix: str) -> str:
    """``collect/zcat_floor`` -> ``collect200k/zcat_floor``; ``duckdb_auto/collect`` -> ``duckdb_auto/collect200k``;
    any other key gains the suffix at its end."""
    if key.startswith("collect/") or key.startswith("collect_"):
        return "collect" + suffix + key[len("collect"):]
    if key.endswith("/collect"):
        return key + suffix
    return key + "_" + suffix


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit(__doc__)
    c200, c1m, chain = (Path(a) for a in argv)
    out = [f"{k}={v}" for k, v in last_pairs(chain)]
    out += [f"{renamed(k, '200k')}={v}" for k, v in last_pairs(c200)]
    out += [f"{k}={v}" for k, v in last_pairs(c1m)]
    print(" ".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
