"""A process parses a price book once: the same files give the same book; a changed file gives a new one."""
from __future__ import annotations

import shutil

from tracker_utils.price.book import DEFAULT_PARAMS, PriceBook


def test_the_book_is_parsed_once_and_again_after_an_edit(tmp_path):
    d = tmp_path / "params"
    d.mkdir()
    for name in ("prices.csv", "models.csv", "inference_profiles.yaml"):
        shutil.copy(DEFAULT_PARAMS / name, d / name)
    a, b = PriceBook.load(d), PriceBook.load(d)
    assert a is b
    lines = (d / "prices.csv").read_text().splitlines(keepends=True)
    (d / "prices.csv").write_text("".join(lines[:-1]))            # one row fewer, same mtime second or not
    c = PriceBook.load(d)
    assert c is not a and len(c.rows) == len(a.rows) - 1
    assert PriceBook.load(tmp_path / "params") is c              # the same folder by another spelling
