"""Stage 2, price: turn collected usage into exact money with the price book.

In: ``data/collect_*.parquet`` and the price book (``params/prices.csv``, ``models.csv``, ``profiles.csv``).
Out: ``data/price_*.parquet`` and ``data/price.json``: usage per hour, model, principal and application, priced
exactly; models the book does not know are listed, never priced silently.
"""
from tracker_utils.price.pricer import run

__all__ = ["run"]
