"""Atomic file writes: a reader never sees half a file, a killed run leaves nothing that looks complete."""
from __future__ import annotations

import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd


def _default(o):
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: str | Path, obj) -> Path:
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, default=_default, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
    return _atomic(Path(path), w)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    return _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def read_parquet(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)
