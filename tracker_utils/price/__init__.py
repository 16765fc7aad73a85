"""Stage 2, price: turn collected usage into exact money with the price book.

In: ``data/collect_*.parquet`` and the price book (``params/prices.csv``, ``models.csv``, ``profiles.csv``).
Out: ``data/price_*.parquet`` and ``data/price.json``: usage per hour, model, principal and application, priced
exactly; models the book does not know are listed, never priced silently.

Modules: :mod:`book` (the price book, as data), :mod:`pricer` (aggregation and exact pricing), :mod:`refresh` (the
book from the AWS Price List API) and :mod:`stage` (files in, files out).
"""
from tracker_utils.price.stage import run

__all__ = ["run"]
