"""Application attribution from ``params/apps.yaml``.

Rules are tried in order; the first whose every condition holds names the application, team and cost centre.
Conditions (all optional, all must hold):

- ``role``: glob on the IAM role name of an assumed-role principal (all sessions of a role are one application)
- ``user``: glob (or list of globs) on the IAM user name
- ``principal_arn``: glob on the principal ARN with the session removed
- ``request_metadata``: mapping that must be a subset of the record's ``requestMetadata``
- ``application_profile``: glob on the application-inference-profile ARN used as ``modelId``
- ``application_profile_tags``: mapping that must be a subset of that profile's tags (``params/inference_profiles.yaml``)
- ``model``: glob on the model id as called
- ``batch_job``: glob on a batch inference job's name (only batch jobs have one; a job's principal is its service
  role, ``roleArn``, so the role conditions apply to that role)

Usage no rule matches is *unattributed*, never dropped: it falls back to its principal. Each IAM role (all its
sessions merged) and each IAM user is a row of its own, named ``role:<name>`` or ``user:<name>``, with ``matched``
false and no team or cost centre. The "unattributed" total is the sum of those rows.
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

UNATTRIBUTED = "unattributed"
CONDITIONS = {"role", "user", "principal_arn", "request_metadata", "application_profile", "application_profile_tags", "model",
              "batch_job"}


@dataclass(frozen=True)
class App:
    app: str
    team: str = ""
    cost_centre: str = ""
    matched: bool = True          # False: no rule matched; ``app`` names the principal


def fallback(arn: str) -> App:
    """The application of usage no rule matches: its principal (a role with all its sessions, or a user)."""
    if not arn:
        return App("(no principal)", matched=False)
    _, kind, name = principal_parts(arn)
    return App(f"{kind}:{name}", matched=False)


def unmatched(df):
    """A boolean Series: the rows of a frame (priced logs, apps) whose usage no rule matched."""
    if "matched" in df:
        return ~df["matched"].astype(bool)
    return df["app"] == UNATTRIBUTED


def is_unattributed(row) -> bool:
    """A row (dict or record) of usage no rule matched."""
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    return get("matched", True) is False or str(get("app", "")) == UNATTRIBUTED


def principal_parts(arn: str) -> tuple[str, str, str]:
    """(principal without session, kind, name) for IAM users, assumed roles and anything else."""
    if ":assumed-role/" in arn:
        head, rest = arn.split(":assumed-role/", 1)
        role = rest.split("/", 1)[0]
        return f"{head}:assumed-role/{role}", "role", role
    if ":user/" in arn:
        return arn, "user", arn.rsplit("/", 1)[-1]
    if ":role/" in arn:
        return arn, "role", arn.rsplit("/", 1)[-1]
    if arn.endswith(":root"):
        return arn, "root", "root"
    return arn, "other", arn.rsplit("/", 1)[-1] if arn else "(none)"


def _globs(v) -> list[str]:
    return [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]


class Attribution:
    def __init__(self, rules: list[dict], profiles: dict[str, dict] | None = None):
        self.rules = rules
        self.profiles = profiles or {}
        for i, r in enumerate(rules):
            if "app" not in r:
                raise ValueError(f"apps.yaml rule {i + 1}: 'app' is required")
            unknown = set(r.get("match", {})) - CONDITIONS
            if unknown:
                raise ValueError(f"apps.yaml rule {i + 1} ({r['app']}): unknown condition(s) {sorted(unknown)}; "
                                 f"use {sorted(CONDITIONS)}")
        self._cache: dict[tuple, App] = {}

    @classmethod
    def load(cls, apps_file: str | Path, profiles_file: str | Path | None = None) -> "Attribution":
        apps_file = Path(apps_file)
        rules = (yaml.safe_load(apps_file.read_text()) or {}).get("apps", []) if apps_file.exists() else []
        profiles = {}
        pf = Path(profiles_file) if profiles_file else apps_file.parent / "inference_profiles.yaml"
        if pf.exists():
            profiles = (yaml.safe_load(pf.read_text()) or {}).get("profiles", {}) or {}
        return cls(rules, profiles)

    def _holds(self, cond: str, want, arn: str, meta: dict, model_id: str, batch_job: str = "") -> bool:
        _, kind, name = principal_parts(arn)
        if cond == "batch_job":
            return bool(batch_job) and any(fnmatch.fnmatchcase(batch_job, g) for g in _globs(want))
        if cond == "role":
            return kind == "role" and any(fnmatch.fnmatchcase(name, g) for g in _globs(want))
        if cond == "user":
            return kind == "user" and any(fnmatch.fnmatchcase(name, g) for g in _globs(want))
        if cond == "principal_arn":
            return any(fnmatch.fnmatchcase(principal_parts(arn)[0], g) for g in _globs(want))
        if cond == "request_metadata":
            return all(str(meta.get(k)) == str(v) for k, v in (want or {}).items())
        if cond == "application_profile":
            return ":application-inference-profile/" in model_id and any(fnmatch.fnmatchcase(model_id, g) for g in _globs(want))
        if cond == "application_profile_tags":
            tags = (self.profiles.get(model_id) or {}).get("tags") or {}
            return bool(tags) and all(str(tags.get(k)) == str(v) for k, v in (want or {}).items())
        if cond == "model":
            return any(fnmatch.fnmatchcase(model_id, g) for g in _globs(want))
        return False

    def attribute(self, principal_arn: str, request_metadata: str | dict, model_id: str, batch_job: str = "") -> App:
        key = (principal_arn, request_metadata if isinstance(request_metadata, str) else json.dumps(request_metadata, sort_keys=True), model_id,
               batch_job)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        meta = request_metadata if isinstance(request_metadata, dict) else (json.loads(request_metadata) if request_metadata else {})
        app = fallback(principal_arn)
        for r in self.rules:
            if all(self._holds(c, w, principal_arn, meta, model_id, batch_job) for c, w in (r.get("match") or {}).items()):
                app = App(str(r["app"]), str(r.get("team", "")), str(r.get("cost_centre", "")))
                break
        self._cache[key] = app
        return app
