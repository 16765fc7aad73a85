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
    """Stable aliases for principal names, principal ARNs and account ids in anything shared; a no-op when off.

    An alias is ``<kind>-<6 hex>`` from a SHA-256 of the account id and the principal (without session), so one role
    has the same alias in every report, the roll-up and the index, and aliases cannot be checked against a list of
    guessed names without the account id. Any principal ARN (with its session name) and any 12-digit number left in
    a text is replaced too, so an ARN in an error message or an application-inference-profile model id is covered.
    """

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
        base, kind, name = principal_parts(str(arn))
        a = self.alias(kind, base)
        if self.enabled:
            self.names[base] = a
            if name and name not in ("root", "(none)"):
                self.names[name] = a
            self._re = None
        return a

    def _pattern(self) -> re.Pattern | None:
        if self._re is None and self.names:
            alts = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            # whole names only: "alice" must not eat "malice", "bob.data" must not stop at "bob"
            self._re = re.compile(rf"(?<![\w.@+=-])({alts})(?![\w@+=-]|\.\w)")
        return self._re

    def __call__(self, text):
        if not self.enabled or text is None or not isinstance(text, str):
            return text
        text = ARN_RE.sub(lambda m: self.add_principal(m.group(0)), text)
        pat = self._pattern()
        if pat is not None:
            text = pat.sub(lambda m: self.names[m.group(1)], text)
        return ACCOUNT_RE.sub(lambda m: self.alias("account", m.group(0)), text)

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.enabled or df.empty:
            return df
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].map(self)
        return df


NO_REDACTION = Redactor(False)


def _alias(kind: str, value: str, account: str = "") -> str:
    return Redactor(True, account).alias(kind, value)


def _aliases(d: "ReportData") -> dict:
    """{original: alias} for everything the report's redactor knows (principal names and ARNs, the account)."""
    r = d.r
    out = dict(r.names)
    if r.enabled and r.account:
        out[r.account] = r.alias("account", r.account)
    return out


def redact_text(text: str, aliases: dict | Redactor) -> str:
    if isinstance(aliases, Redactor):
        return aliases(text)
    for k in sorted(aliases, key=len, reverse=True):
        if k:
            text = text.replace(k, aliases[k])
    return ACCOUNT_RE.sub(lambda m: _alias("account", m.group(0)), text) if aliases else text

