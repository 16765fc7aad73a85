"""Redaction: stable aliases for principal names, principal ARNs and account ids in anything shared."""
from __future__ import annotations

import hashlib
import re
from typing import Iterable

import pandas as pd

from tracker_utils.apps import principal_parts

ARN_RE = re.compile(r"arn:aws[\w-]*:(?:sts|iam)::\d{12}:(?:assumed-role|user|role|federated-user)/[\w+=,.@/-]+")
ACCOUNT_RE = re.compile(r"(?<!\d)\d{12}(?!\d)")


class Redactor:
    """Stable aliases for principal names, session names, principal ARNs and account ids in the values a shared page
    shows; a no-op when off.

    It works on text, never on markup: values are redacted before they are rendered (:meth:`frame` for the parquet
    frames, :meth:`obj` for a summary), and the page is then built from the aliases, so a user named ``td`` or ``b``
    cannot touch a ``<td>`` or a ``<b>``.

    An alias is ``<kind>-<6 hex>`` from a SHA-256 of the account id and the principal (without session), so one role
    has the same alias in every report, the roll-up and the index, and aliases cannot be checked against a list of
    guessed names without the account id. Any principal ARN (with its session name) and any 12-digit number left in
    a text is replaced too, so an ARN in an error message or an application-inference-profile model id is covered.
    A name of one or two letters is replaced where it is the whole value (a principal column, a metadata value), not
    inside sentences, where ``a`` or ``b`` would be any word.
    """

    SHORT = 2

    def __init__(self, enabled: bool = False, account: str = "", principals: Iterable[str] = ()):
        self.enabled = bool(enabled)
        self.account = account
        self.names: dict[str, str] = {}
        self._re: re.Pattern | None = None
        if self.enabled:
            for arn in principals:
                self.add_principal(arn)

    def alias(self, kind: str, value: str) -> str:
        return f"{kind}-{hashlib.sha256(f'{self.account}|{value}'.encode()).hexdigest()[:6]}"

    def add_principal(self, arn: str) -> str:
        arn = str(arn)
        base, kind, name = principal_parts(arn)
        a = self.alias(kind, base)
        if self.enabled:
            self.names[base] = a
            self.names[arn] = a
            if name and name not in ("root", "(none)"):
                self.names[name] = a
            if ":assumed-role/" in arn and arn.count("/") >= 2:
                self.names[arn.rsplit("/", 1)[-1]] = a           # the role session name
            self._re = None
        return a

    def _pattern(self) -> re.Pattern | None:
        if self._re is None:
            long = [n for n in self.names if len(n) > self.SHORT]
            if not long:
                return None
            alts = "|".join(re.escape(n) for n in sorted(long, key=len, reverse=True))
            # whole names only: "alice" must not eat "malice", "bob.data" must not stop at "bob"
            self._re = re.compile(rf"(?<![\w.@+=-])({alts})(?![\w@+=-]|\.\w)")
        return self._re

    def __call__(self, text):
        """A text value with its principals, sessions and account ids replaced (text in, text out)."""
        if not self.enabled or text is None or not isinstance(text, str):
            return text
        if text in self.names:
            return self.names[text]
        text = ARN_RE.sub(lambda m: self.add_principal(m.group(0)), text)
        pat = self._pattern()
        if pat is not None:
            text = pat.sub(lambda m: self.names[m.group(1)], text)
        return ACCOUNT_RE.sub(lambda m: self.alias("account", m.group(0)), text)

    def obj(self, x):
        """Every string of a JSON-like value (a summary) redacted, keys included; numbers and the rest unchanged."""
        if not self.enabled:
            return x
        if isinstance(x, str):
            return self(x)
        if isinstance(x, dict):
            return {self(k) if isinstance(k, str) else k: self.obj(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [self.obj(v) for v in x]
        return x

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.enabled or df.empty:
            return df
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object or str(df[c].dtype) in ("string", "category"):
                df[c] = df[c].astype(object).map(self.obj)
        return df

    def params(self, p):
        """The run's parameters as a shared page may show them: the account id replaced by its alias."""
        if not self.enabled:
            return p
        import dataclasses
        return dataclasses.replace(p, account=self(p.account))


NO_REDACTION = Redactor(False)


def run_principals(run_dir) -> set[str]:
    """Every principal ARN (with its session) a date-region's logs hold: what its redactor must know."""
    from pathlib import Path
    out: set[str] = set()
    for name in ("collect_logs.parquet", "price_logs.parquet", "collect_logs_late.parquet"):
        f = Path(run_dir) / "data" / name
        if f.exists():
            try:
                out |= {str(a) for a in pd.read_parquet(f, columns=["principal"])["principal"].dropna().unique()}
            except (KeyError, ValueError, OSError):       # a file without a principal column: nothing to learn
                continue
    f = Path(run_dir) / "data" / "collect_batch.parquet"      # batch jobs: their service roles are principals too
    if f.exists():
        try:
            out |= {str(a) for a in pd.read_parquet(f, columns=["role_arn"])["role_arn"].dropna().unique() if a}
        except (KeyError, ValueError, OSError):
            pass
    return out


def shared_summary(p, run_dir, summary: dict) -> dict:
    """The ``summary.json`` written beside ``report.html`` (shared): redacted when ``redact`` is on. The one under
    ``data/`` stays as it is (private)."""
    r = Redactor(p.redact, p.account, run_principals(run_dir))
    return r.obj(summary)
