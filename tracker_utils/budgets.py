"""Budgets and the month-end forecast: one method, used by every page.

In: ``params/budgets.yaml`` (monthly budgets in the bill's currency for the ``total`` and per application, team or
cost centre) and the days reported so far in a month. Out: for each budget, the month to date, the month-end
forecast with its uncertainty, and a status: ``ok``, ``at_risk`` (the forecast is over the budget) or ``over``
(the month to date already is).

The forecast: month to date + the mean of the reported days x the days left; its range is that plus or minus
1.96 x the days' standard deviation x sqrt(days left) (a 95% band if the days are independent), never below the
month to date. With fewer than two reported days the range is not known.
"""
from __future__ import annotations

import calendar
import difflib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml


def dec(v) -> Decimal:
    """An amount as an exact Decimal (a float through its shortest repr); ValueError when it is none."""
    try:
        d = v if isinstance(v, Decimal) else Decimal(repr(v) if isinstance(v, float) else str(v).strip())
    except ArithmeticError:
        raise ValueError(f"not an amount: {v!r}") from None
    if not d.is_finite():
        raise ValueError(f"not an amount: {v!r}")
    return d


class BudgetError(ValueError):
    """A budgets file that cannot be used, in one line (the runner reports it as a parameter error)."""


SCOPES = {"total": "total", "apps": "app", "teams": "team", "cost_centres": "cost_centre"}
EXIT_OVER = 3                     # `bedrock-tracker run` exits with this when a budget is over


@dataclass(frozen=True)
class Forecast:
    mtd: Decimal
    days_reported: int
    days_in_month: int
    value: Decimal
    low: Decimal | None
    high: Decimal | None

    @property
    def text(self) -> str:
        return "n/a" if self.low is None else f"{self.low:.2f} to {self.high:.2f}"


def forecast(daily: dict[str, Decimal], month: str) -> Forecast:
    """The month-end forecast from the amounts of the days reported so far (``{"YYYY-MM-DD": amount}``)."""
    y, m = map(int, month.split("-"))
    n_days = calendar.monthrange(y, m)[1]
    vals = [dec(v) for d, v in sorted(daily.items()) if d[:7] == month]
    mtd = sum(vals, Decimal(0))
    if not vals:
        return Forecast(mtd, 0, n_days, mtd, None, None)
    left = max(0, n_days - max(int(d[8:10]) for d in daily if d[:7] == month))
    mean = mtd / len(vals)
    value = mtd + mean * left
    if len(vals) < 2:
        return Forecast(mtd, len(vals), n_days, value, None, None)
    var = sum(((v - mean) ** 2 for v in vals), Decimal(0)) / (len(vals) - 1)
    band = Decimal("1.96") * var.sqrt() * Decimal(left).sqrt()
    return Forecast(mtd, len(vals), n_days, value, max(mtd, value - band), value + band)


def status(budget: Decimal, f: Forecast) -> str:
    if f.mtd > budget:
        return "over"
    if f.value > budget:
        return "at_risk"
    return "ok"


def load(path: str | Path, known: dict[str, set[str]] | None = None) -> dict[str, dict[str, Decimal]]:
    """``{"total": {"": amount}, "app": {...}, "team": {...}, "cost_centre": {...}}``; {} when there is no file.
    A name that is not a known application, team or cost centre (``known``) is an error with a suggestion."""
    path = Path(path)
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text()) or {}
    monthly = raw.get("monthly") or {}
    if not isinstance(monthly, dict):
        raise BudgetError(f"{path.name}: 'monthly' must be a mapping of total, apps, teams, cost_centres")
    out: dict[str, dict[str, Decimal]] = {}
    for key, value in monthly.items():
        if key not in SCOPES:
            hint = difflib.get_close_matches(str(key), list(SCOPES), n=1)
            raise BudgetError(f"{path.name}: unknown budget kind {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        scope = SCOPES[key]
        items = {"": value} if scope == "total" else (value or {})
        if not isinstance(items, dict):
            raise BudgetError(f"{path.name}: {key} must map names to monthly amounts")
        for name, amount in items.items():
            _check_name(path, scope, str(name), known)
            try:
                d = dec(amount)
            except ValueError:
                raise BudgetError(f"{path.name}: {key} {name}: {amount!r} is not an amount") from None
            if d <= 0:
                raise BudgetError(f"{path.name}: {key} {name}: a budget must be above 0, got {amount!r}")
            out.setdefault(scope, {})[str(name)] = d
    return out


def _check_name(path: Path, scope: str, name: str, known: dict[str, set[str]] | None) -> None:
    if scope == "total" or known is None or name in known.get(scope, set()):
        return
    if scope == "app" and name.startswith(("role:", "user:")):     # usage no rule matches, named after its principal
        return
    hint = difflib.get_close_matches(name, sorted(known.get(scope, set())), n=1)
    noun = {"app": "application", "team": "team", "cost_centre": "cost centre"}[scope]
    raise BudgetError(f"{path.name}: {noun} {name!r} is not in apps.yaml"
                     + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def known_names(rules: list[dict]) -> dict[str, set[str]]:
    """The applications, teams and cost centres the apps.yaml rules name."""
    return {"app": {str(r["app"]) for r in rules}, "team": {str(r.get("team", "")) for r in rules} - {""},
            "cost_centre": {str(r.get("cost_centre", "")) for r in rules} - {""}}


def evaluate(budgets: dict, daily: dict[tuple[str, str], dict[str, Decimal]], month: str) -> list[dict]:
    """Each budget's month to date, forecast and status. ``daily`` maps (scope, name) to {date: amount}."""
    out = []
    for scope, items in budgets.items():
        for name, budget in sorted(items.items()):
            f = forecast(daily.get((scope, name), {}), month)
            out.append({"scope": scope, "name": name, "budget_usd": str(budget), "mtd_usd": str(f.mtd.quantize(Decimal("0.01"))),
                        "forecast_usd": str(f.value.quantize(Decimal("0.01"))),
                        "forecast_low_usd": None if f.low is None else str(f.low.quantize(Decimal("0.01"))),
                        "forecast_high_usd": None if f.high is None else str(f.high.quantize(Decimal("0.01"))),
                        "days_reported": f.days_reported, "days_in_month": f.days_in_month,
                        "status": status(budget, f)})
    return out
