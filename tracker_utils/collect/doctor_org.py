"""``bedrock-tracker doctor`` for an organization (``accounts:``): every member account checked as a run would read
it (its role assumed, or its profile), and the payer's bill access once.

Each member gets the single-account checks of :func:`tracker_utils.collect.doctor.check` without the bill (the bill
is the payer's); a member whose credentials cannot be had (``sts:AssumeRole`` denied, no such profile) is one failed
row. The payer: its identity (``payer_role_arn`` assumed, or ``payer_profile``, or the chain) and the bill check
(Cost Explorer only with ``check_bill``, or the CUR export). :func:`check_org` returns ``{"organization": True,
"accounts": [{"account", "name", "regions", "arn", "checks"}], "payer": {...}, "checks": [rows with "account"],
"ok"}``; ``ok`` is true only when no row of any account failed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import asdict

from tracker_utils.collect import doctor
from tracker_utils.collect.aws import AwsAccessError, AwsContext, aws_errors, explain
from tracker_utils.text import count

PAYER = "payer"          # the account column of the payer's rows


def _member(m, name: str, check_bill: bool, until: dt.date, days: int) -> dict:
    try:
        rep = doctor.check(m, m.regions, check_bill=check_bill, until=until, days=days, bill=False)
    except AwsAccessError as e:          # the member's credentials: AssumeRole denied, a profile not found
        rep = {"account": "", "arn": "", "checks": [asdict(doctor.Row("", "identity", "fail", str(e)))]}
    for r in rep["checks"]:
        if r["check"] == "identity" and r["status"] == "fail" and r["fix"].startswith("set account"):
            r["fix"] = f"set role_arn or profile on account {m.account} under accounts: (its credentials)"
        elif r["check"] == "params" and r["fix"]:      # the place is the account's, under accounts:
            r["fix"] = f"on account {m.account} under accounts: " + r["fix"].split(" (or leave")[0]
    return {"account": m.account, "name": name, "regions": list(m.regions), "arn": rep["arn"],
            "checks": [{"account": m.account, **r} for r in rep["checks"]]}


def _payer(p, check_bill: bool, until: dt.date) -> dict:
    """The payer's identity and bill, with the credentials a run reads the bill with."""
    pp = dataclasses.replace(p, accounts=[], profile=p.payer_profile, role_arn=p.payer_role_arn)
    rows: list[doctor.Row] = []
    ident = {}
    try:
        resp = AwsContext.from_params(pp, p.regions[0]).client("sts").get_caller_identity()
        ident = {"account": str(resp.get("Account", "")), "arn": str(resp.get("Arn", ""))}
        rows.append(doctor.Row("", "identity", "ok", f"payer account {ident['account']} as {ident['arn']}"))
    except AwsAccessError as e:
        rows.append(doctor.Row("", "identity", "fail", str(e)))
    except aws_errors() as e:
        rows.append(doctor.Row("", "identity", "fail", str(explain(e, "sts", "GetCallerIdentity"))))
    if ident:
        doctor._guard(rows, "", "bill", doctor._bill, pp, p.regions[0], check_bill, until, rows)
    else:
        rows.append(doctor.Row("", "bill", "skip", "the payer's credentials failed: the bill is not checked"))
    return {**ident, "checks": [{"account": PAYER, **asdict(r)} for r in rows]}


def check_org(p, check_bill: bool = False, until: dt.date | None = None, days: int = doctor.DAYS) -> dict:
    """Every member account (each with its regions) and the payer, as described in the module docstring."""
    from tracker_utils.config import member_params
    until = until or dt.datetime.now(dt.timezone.utc).date()
    names = {a["id"]: a.get("name") or "" for a in p.accounts}
    accounts = [_member(m, names[m.account], check_bill, until, days) for m in member_params(p)]
    payer = _payer(p, check_bill, until)
    rows = [r for a in accounts for r in a["checks"]] + payer["checks"]
    return {"organization": True, "accounts": accounts, "payer": payer, "checks": rows,
            "regions": sorted({r for a in accounts for r in a["regions"]}), "until": until.isoformat(), "days": days,
            "ok": not any(r["status"] == "fail" for r in rows)}


STATUS_ORDER = ("fail", "warn", "ok", "skip")


def _worst(rows: list[dict]) -> str:
    return min((r["status"] for r in rows), key=STATUS_ORDER.index) if rows else "skip"


def summary_rows(report: dict) -> list[dict]:
    """One row per account and region (and per account, and the payer, for the checks not of a region): the worst
    status of its checks, and each check with its status."""
    out = []
    names = {a["account"]: a["name"] for a in report["accounts"]}
    for acct in [a["account"] for a in report["accounts"]] + [PAYER]:
        mine = [r for r in report["checks"] if r["account"] == acct]
        for region in dict.fromkeys(r["region"] for r in mine):
            here = [r for r in mine if r["region"] == region]
            out.append({"account": acct, "name": names.get(acct, ""), "region": region, "status": _worst(here),
                        "checks": ", ".join(f"{r['check']} {r['status']}" for r in here)})
    return out


def format_org_table(report: dict) -> str:
    """The organization's report: the summary table, the rows that are not ok with their fixes, then the verdict."""
    rows = summary_rows(report)
    head = ("account", "name", "region", "status")
    w = [max([len(h)] + [len(r[h] or "-") for r in rows]) for h in head]
    out = [f"organization of {count(len(report['accounts']), 'account')} and the payer; log objects looked for "
           f"{report['days']} days to {report['until']}", ""]
    out.append("  ".join(f"{h:<{n}}" for h, n in zip(head, w)) + "  checks")
    for r in rows:
        out.append("  ".join(f"{(r[h] or '-') if h != 'status' else r[h].upper():<{n}}" for h, n in zip(head, w))
                   + f"  {r['checks']}")
    bad = [r for r in report["checks"] if r["status"] in ("fail", "warn")]
    if bad:
        out.append("")
        out += [f"{r['account']} {r['region'] or '-'} {r['check']} {r['status'].upper()}: {r['detail']}" for r in bad]
        out += [f"fix ({r['account']} {r['region'] or 'account'}, {r['check']}): {r['fix']}" for r in bad if r["fix"]]
    failed = sorted({r["account"] for r in report["checks"] if r["status"] == "fail"})
    n = sum(r["status"] == "fail" for r in report["checks"])
    out += ["", "a run would work in every account" if report["ok"] else
            f"a run would not work: {count(n, 'check')} failed ({', '.join(failed)})"]
    return "\n".join(out)


__all__ = ["PAYER", "check_org", "format_org_table", "summary_rows"]
