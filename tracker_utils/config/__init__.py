"""Parameters: one params file, validated up front, resolved once per date and region.

Every notebook calls :func:`resolve` in the cell after its ``parameters`` cell. The runner calls
:func:`load_params` before any work starts, so a misspelled key, a malformed date or an unknown region
is one clear error message, not a half-finished run.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

import yaml

from tracker_utils.config.accounts import parse_accounts
from tracker_utils.config.errors import ParamError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = REPO / "params" / "default.yaml"

# Regions where Amazon Bedrock runtime is offered (a typo such as "us-east1" is an error, not an empty run).
KNOWN_REGIONS = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-west-1", "us-gov-east-1",
    "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "ap-south-1", "ap-south-2", "ap-east-1", "ap-east-2",
    "me-south-1", "me-central-1", "il-central-1", "af-south-1",
}


MAX_PARAMS_BYTES = 256 * 1024      # a params file is a few dozen lines; anything this big is not one


class NoDatesLoader(yaml.SafeLoader):
    """YAML without timestamp resolution: dates stay strings and are validated here (as papermill does). Aliases
    (``*name``) are refused: a params file needs none, and nested aliases expand exponentially (an alias bomb)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            ev = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{ev.anchor} refused: a params file takes no aliases",
                                              ev.start_mark)
        return super().compose_node(parent, index)


NoDatesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass
class Params:
    """Everything a run can be told. Defaults describe the built-in demo account."""

    source: str = "demo"                 # demo | local | aws
    data_root: str = "demo_account"      # local/demo: folder laid out like the AWS sources (relative to the repo)
    account: str = "123456789012"        # AWS account id whose logs are read
    logs_bucket: str = "demo-bedrock-logs"
    logs_prefix: str = "bedrock/invocation-logs"
    regions: list = field(default_factory=lambda: ["us-east-1", "ap-northeast-2"])
    start: str = "2026-11-02"            # ISO day, UTC (inclusive)
    end: str = "2026-11-04"              # ISO day, UTC (inclusive)
    output_dir: str = "outputs"
    logs_as_of: str = ""                 # "" = now; ISO time; or "+Nh" = N hours after the end of the day
    window_after_hours: int = 3          # hour folders read after the day (records are filed by delivery time)
    max_tokens_per_record: int = 10_000_000   # a token count above this is implausible: quarantined, never summed
    cost_source: str = "ce"              # ce | cur | none
    cur: str = ""                        # CUR 2.0 export: local path or s3:// URI (cost_source: cur)
    bill_services: str = "all"           # all | first_party (a SERVICE = 'Amazon Bedrock' filter, as the seed used)
    chargeback_basis: str = "net"        # net | gross: the bill the chargeback allocates
    engine: str = "local"                # local | athena
    endpoint_url: str = ""               # AWS endpoint override (emulator); AWS_ENDPOINT_URL is honoured too
    profile: str = ""                    # AWS named profile
    max_attempts: int = 8                # botocore retry attempts (standard mode)
    athena_database: str = "bedrock_logs"
    athena_table: str = "invocations"
    athena_workgroup: str = "primary"
    athena_output: str = ""              # s3://bucket/prefix/ for Athena results
    athena_role_arn: str = ""            # a role whose account holds the table: every query runs there ("" = each account's)
    app_filter: str = ""                 # only usage of this application (data, never SQL text)
    apps_file: str = "params/apps.yaml"
    budgets_file: str = "params/budgets.yaml"   # monthly budgets (absent: none); see params/budgets.example.yaml
    prices_dir: str = "params"
    tolerance_tokens_pct: float = 0.5    # logs vs CloudWatch: hourly differences within this are noise
    tolerance_cost_pct: float = 1.0      # bill vs priced CloudWatch: differences within this are rounding
    tolerance_cost_abs: float = 0.0001   # ...or within this many dollars
    anomaly_factor: float = 2.0          # flag cost above factor x trailing median (or below 1/factor)
    anomaly_window_days: int = 7
    redact: bool = False                 # replace principal names and account ids in shared reports
    strict: bool = False                 # fail on the first bad record instead of quarantining it
    jobs: int = 1
    max_chains: int = 400                # date-region chains a run may start without --yes (a typo in a year is not 7,000 runs)
    role_arn: str = ""                   # aws: a role to assume (sts:AssumeRole) for this account's logs and metrics
    consolidated_bill: bool = False      # the bill is a payer's (many accounts): keep only the lines of `account`
    payer_profile: str = ""              # aws, consolidated_bill: the profile that reads the payer's bill ("" = chain)
    payer_role_arn: str = ""             # ...or a role in the management (payer) account to assume for it
    accounts: list = field(default_factory=list)   # an organization: member accounts (see Account); [] = one account
    cloudwatch_account: str = ""         # aws: read CloudWatch through this monitoring account (cross-account observability)
    cloudwatch_role_arn: str = ""        # ...assuming this role in it ("" = its role_arn / profile in accounts:, or the chain)
    cloudwatch_profile: str = ""         # ...or this profile

    @property
    def dates(self) -> list[str]:
        d0, d1 = parse_day(self.start, "start"), parse_day(self.end, "end")
        return [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = {f for f in Params.__dataclass_fields__}
CHOICES = {
    "source": {"demo", "local", "aws"},
    "cost_source": {"ce", "cur", "none"},
    "engine": {"local", "athena"},
    "bill_services": {"all", "first_party"},
    "chargeback_basis": {"net", "gross"},
}


def parse_day(value: Any, key: str = "date") -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    s = str(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        raise ParamError(f"{key}: {value!r} is not an ISO day (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(s)
    except ValueError as e:
        raise ParamError(f"{key}: {value!r} is not a valid day ({e})") from None


def _coerce(key: str, value: Any, default: Any) -> Any:
    if isinstance(value, (dict, set)) or (isinstance(value, (list, tuple)) and not isinstance(default, list)):
        raise ParamError(f"{key}: expected {_kind(default)}, got {value!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "1", "yes"}:
            return True
        if str(value).lower() in {"false", "0", "no", ""}:
            return False
        raise ParamError(f"{key}: expected true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ParamError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise ParamError(f"{key}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ParamError(f"{key}: expected a number, got {value!r}")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(f):
            raise ParamError(f"{key}: expected a finite number, got {value!r}")
        return f
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{key}: expected a list, got {value!r}")
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ParamError(f"{key}: expected a list of names, got {bad[0]!r} in {list(value)!r}")
        return [v.strip() for v in value]
    if value is not None and not isinstance(value, (str, int, float)):
        raise ParamError(f"{key}: expected text, got {value!r}")
    return "" if value is None else str(value)


def member_params(p: Params) -> list[Params]:
    """The Params of each member account: its id, bucket, prefix, regions and credentials over the top-level
    defaults, results under ``<output_dir>/<id>``, the bill read as the payer's (``consolidated_bill``). With no
    ``accounts:`` the run is one account: ``[p]`` as it is."""
    import dataclasses
    if not p.accounts:
        return [p]
    out, cw = [], next((a for a in p.accounts if a["id"] == p.cloudwatch_account), {})   # the monitoring account's
    cw = {} if p.cloudwatch_role_arn or p.cloudwatch_profile else {     # credentials, unless set at the top level
        "cloudwatch_role_arn": cw.get("role_arn", ""), "cloudwatch_profile": cw.get("profile", "")}
    for a in p.accounts:
        out.append(dataclasses.replace(
            p, accounts=[], account=a["id"], consolidated_bill=True,
            logs_bucket=p.logs_bucket if a["logs_bucket"] is None else a["logs_bucket"],
            logs_prefix=p.logs_prefix if a["logs_prefix"] is None else a["logs_prefix"],
            regions=list(a["regions"] or p.regions), role_arn=a["role_arn"] or p.role_arn,
            profile=a["profile"] or (p.profile if not a["role_arn"] else ""),
            athena_table=a.get("athena_table") or p.athena_table,
            **cw,
            output_dir=str(resolve_path(p.output_dir) / a["id"])))
    return out


def central_buckets(p: Params) -> dict[str, list[str]]:
    """Buckets that several member accounts name (a central logging bucket): bucket -> account ids."""
    by: dict[str, list[str]] = {}
    for m in member_params(p) if p.accounts else []:
        by.setdefault(m.logs_bucket, []).append(m.account)
    return {b: ids for b, ids in by.items() if len(ids) > 1}


def _kind(default: Any) -> str:
    return ("true/false" if isinstance(default, bool) else "an integer" if isinstance(default, int)
            else "a number" if isinstance(default, float) else "a list" if isinstance(default, list) else "text")


SNAPSHOT_SUFFIX = ".snapshot.json"
SNAPSHOT_MARK = "validated by tracker_utils.config"
VALIDATIONS = 0                  # how many times this process validated a params file (the runner's note reports it)


def write_snapshot(p: Params, path: str | Path) -> Path:
    """The validated parameters of a run, frozen in a file the kernels load without validating again."""
    from tracker_utils.io import write_json
    path = Path(path)
    if not path.name.endswith(SNAPSHOT_SUFFIX):
        raise ValueError(f"a params snapshot is named *{SNAPSHOT_SUFFIX}, not {path.name}")
    return write_json(path, {"snapshot": SNAPSHOT_MARK, "params": p.to_dict()})


def _snapshot(path: Path, overrides: dict) -> tuple[Params | None, dict | None]:
    """(the frozen Params, None), or (None, its values to validate with the overrides), or (None, None) when the
    file is not one of ours (or from another version): then it is read and validated as any params file."""
    import json
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None, None
    if not isinstance(data, dict) or data.get("snapshot") != SNAPSHOT_MARK \
            or not isinstance(data.get("params"), dict) or set(data["params"]) != FIELDS:
        return None, None
    p = Params(**data["params"])
    extra = {k: v for k, v in overrides.items() if v is not None and getattr(p, k, object()) != v}
    if set(extra) - {"output_dir"}:
        return None, data["params"]
    if "output_dir" in extra:
        p = Params(**{**p.to_dict(), "output_dir": str(extra["output_dir"])})
    return p, None


def load_params(params_file: str | Path | None = None, overrides: dict | None = None) -> Params:
    """Read a params YAML file (default ``params/default.yaml``), apply overrides, validate everything.
    A snapshot written by :func:`write_snapshot` is loaded as it is: it was validated when it was written."""
    raw: dict = {}
    path = Path(params_file) if params_file else DEFAULT_PARAMS
    if path.name.endswith(SNAPSHOT_SUFFIX) and path.exists():
        p, frozen = _snapshot(path, dict(overrides or {}))
        if p is not None:
            return p
        if frozen is not None:
            return _validated(dict(frozen), overrides, path)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    if params_file or path.exists():
        raw = read_params_file(path, params_file)
    return _validated(raw, overrides, path)


def read_params_file(path: Path, given: Any = None) -> dict:
    """A params YAML as a dict, through the safe loader: no aliases, no files over ``MAX_PARAMS_BYTES``."""
    if not path.is_file():
        raise ParamError(f"params file {given or path} not found")
    size = path.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise ParamError(f"params file {path}: {size:,} bytes, over the {MAX_PARAMS_BYTES:,}-byte limit of a params file")
    try:
        raw = yaml.load(path.read_text(), Loader=NoDatesLoader) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ParamError(f"params file {path}: not valid YAML: {what}{where}") from None
    except UnicodeDecodeError:
        raise ParamError(f"params file {path}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise ParamError(f"params file {path}: expected a mapping of key: value")
    return raw


def _validated(raw: dict, overrides: dict | None, path: Path) -> Params:
    global VALIDATIONS
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    odd = [k for k in raw if not isinstance(k, str)]
    if odd:
        raise ParamError(f"parameter names are text: {odd[0]!r} (a {type(odd[0]).__name__}) in {path.name}")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        hints = []
        import difflib
        for k in unknown:
            close = difflib.get_close_matches(k, FIELDS, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ParamError("unknown parameter " + ", ".join(hints) + f" in {path.name}")
    base = Params()
    values = {k: (parse_accounts(v) if k == "accounts" else _coerce(k, v, getattr(base, k))) for k, v in raw.items()}
    p = Params(**{**base.to_dict(), **values})
    validate(p)
    VALIDATIONS += 1
    return p


def validate(p: Params) -> None:
    for key, allowed in CHOICES.items():
        if getattr(p, key) not in allowed:
            raise ParamError(f"{key}: {getattr(p, key)!r} is not one of {sorted(allowed)}")
    d0, d1 = parse_day(p.start, "start"), parse_day(p.end, "end")
    if d1 < d0:
        raise ParamError(f"end {p.end} is before start {p.start}")
    if not p.regions:
        raise ParamError("regions: at least one region is needed")
    bad = [r for m in member_params(p) for r in m.regions if r not in KNOWN_REGIONS]
    if bad:
        raise ParamError(f"regions: unknown region(s) {', '.join(bad)}")
    for key in ("account", "cloudwatch_account"):
        if (key == "account" or p.cloudwatch_account) and not re.fullmatch(r"\d{12}", getattr(p, key)):
            raise ParamError(f"{key}: {getattr(p, key)!r} is not a 12-digit AWS account id")
    if p.cost_source == "cur" and not p.cur and p.source != "aws":   # with source aws: found with ListExports
        raise ParamError("cur: a CUR 2.0 export path or s3:// URI is needed when cost_source is cur")
    if p.source in {"demo", "local"}:
        root = resolve_path(p.data_root)
        if p.source == "local" and not root.exists():
            raise ParamError(f"data_root: {root} does not exist")
    if p.logs_as_of:
        if p.logs_as_of.startswith("+"):
            if not AS_OF_AFTER.fullmatch(p.logs_as_of):
                raise ParamError(f"logs_as_of: {p.logs_as_of!r} is not an ISO time or +Nh (e.g. +1h, +0.5h)")
        else:
            try:
                parse_time(p.logs_as_of)
            except ValueError:
                raise ParamError(f"logs_as_of: {p.logs_as_of!r} is not an ISO time or +Nh") from None
    for key, least in MINIMUM.items():
        if getattr(p, key) < least:
            raise ParamError(f"{key}: {getattr(p, key)} must be at least {least}")
    if p.anomaly_factor <= 1:
        raise ParamError(f"anomaly_factor: {p.anomaly_factor} must be above 1 (a factor of the trailing median)")
    if p.engine == "athena" and p.source != "aws":
        raise ParamError("engine athena needs source aws")
    if p.app_filter and p.engine != "athena":
        raise ParamError(f"app_filter: {p.app_filter!r} is only applied by the athena engine; the {p.engine} engine "
                         "reads every record (remove app_filter, or use engine: athena)")


AS_OF_AFTER = re.compile(r"\+(\d+(\.\d+)?)h?")
# the smallest value of each numeric parameter
MINIMUM = {"window_after_hours": 0, "max_tokens_per_record": 1, "max_attempts": 1, "anomaly_window_days": 1,
           "jobs": 1, "max_chains": 1, "tolerance_tokens_pct": 0, "tolerance_cost_pct": 0, "tolerance_cost_abs": 0}


def check_chains(p: Params, yes: bool = False) -> int:
    """The number of date-region chains of a run; a run of more than ``max_chains`` is refused unless ``yes``."""
    n = len(p.dates) * sum(len(m.regions) for m in member_params(p))
    if n > p.max_chains and not yes:
        raise ParamError(f"{n:,} date-region chains ({p.start}..{p.end} x {len(p.regions)} region(s)"
                         f"{f' over {len(p.accounts)} accounts' if p.accounts else ''}) is over "
                         f"max_chains {p.max_chains}: check the dates, or pass --yes (or raise max_chains)")
    return n


def parse_time(s: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def resolve_path(p: str | Path) -> Path:
    p = Path(p)
    return p if p.is_absolute() else (REPO / p)


@dataclass
class RunConfig:
    """One date and one region, with every path the stages use."""

    params: Params
    date: str
    region: str
    run_dir: Path
    interactive: bool = False

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.date)

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def data(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def day_start(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(0), tzinfo=dt.timezone.utc)

    @property
    def day_end(self) -> dt.datetime:
        return self.day_start + dt.timedelta(days=1)

    @property
    def as_of(self) -> dt.datetime | None:
        s = self.params.logs_as_of
        if not s:
            return None
        if s.startswith("+"):
            hours = float(s[1:].removesuffix("h"))
            return self.day_end + dt.timedelta(hours=hours)
        return parse_time(s)

    @property
    def data_root(self) -> Path:
        return resolve_path(self.params.data_root)


def run_dir(output_dir: str | Path, date: str, region: str) -> Path:
    return resolve_path(output_dir) / date / region


def resolve(date: str, region: str, params_file: str = "", output_dir: str = "", interactive: bool = False,
            **overrides) -> RunConfig:
    """The one helper every notebook calls after its parameters cell."""
    parse_day(date, "date")
    if output_dir:
        overrides["output_dir"] = output_dir
    p = load_params(params_file or None, overrides)
    if region not in KNOWN_REGIONS:
        raise ParamError(f"region: unknown region {region!r}")
    rd = run_dir(p.output_dir, date, region)
    (rd / "data").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLBACKEND", "agg")
    return RunConfig(params=p, date=date, region=region, run_dir=rd, interactive=bool(interactive))


def resolve_run(params_file: str = "", output_dir: str = "") -> Params:
    """The helper the whole-run notebooks (``05_rollup``, ``explore``) call after their parameters cell: the run's
    validated parameters (a runner's snapshot is loaded as it is), with ``output_dir`` applied."""
    p = load_params(params_file or None, {"output_dir": output_dir} if output_dir else {})
    os.environ.setdefault("MPLBACKEND", "agg")
    return p
