"""An organization's member accounts (``accounts:`` in a params file): one pydantic model, validated into plain dicts
that :func:`tracker_utils.config.member_params` turns into each member's Params."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from tracker_utils.config.errors import ParamError


class Account(BaseModel):
    """One member account of an organization (``accounts:``). Unset keys take the top-level value."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = ""
    logs_bucket: str | None = None
    logs_prefix: str | None = None
    regions: list[str] | None = None
    role_arn: str = ""
    profile: str = ""
    athena_table: str | None = None     # engine athena: the table over this account's bucket (one per bucket)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v):
        if not isinstance(v, str) or not re.fullmatch(r"\d{12}", v):
            raise ValueError(f"{v!r} is not a 12-digit AWS account id (quote it in YAML)")
        return v

    @model_validator(mode="after")
    def _one_credential(self):
        if self.role_arn and self.profile:
            raise ValueError(f"account {self.id}: role_arn or profile, not both")
        return self


def parse_accounts(value: Any) -> list[dict]:
    """``accounts:`` validated: a list of :class:`Account` mappings with distinct ids, as plain dicts."""
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"accounts: expected a list of accounts ({{id, name, logs_bucket, ...}}), got {value!r}")
    out = []
    for i, a in enumerate(value):
        if not isinstance(a, dict):
            raise ParamError(f"accounts[{i}]: expected a mapping {{id, name, logs_bucket, ...}}, got {a!r}")
        try:
            out.append(Account(**a).model_dump())
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ())) or "account"
            raise ParamError(f"accounts[{i}].{where}: {err['msg']}") from None
    ids = [a["id"] for a in out]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ParamError(f"accounts: account {dup[0]} is listed twice")
    return out
