"""``bedrock-tracker``: run the pipeline, build the demo account, quote prices, refresh the price book, set up Athena."""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import re
import sys

from tracker_utils import money
from tracker_utils.budgets import EXIT_OVER
from tracker_utils.config import KNOWN_REGIONS, ParamError
from tracker_utils.price import book as price_book

DESCRIPTION = ("bedrock-tracker: run the pipeline, build the demo account, quote prices, refresh the price book, "
               "set up Athena. Every error is one line; --debug shows the traceback.")


def did_you_mean(word: str, choices, n: int = 1) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(str(word), sorted(map(str, choices)), n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and a suggestion for a misspelled choice (a subcommand, a tier...)."""

    def error(self, message: str):
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            message += did_you_mean(m.group(1), choices)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _whole(text: str, least: int, why: str) -> int:
    """An argparse type: a whole number of at least ``least``."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"{n} {why}")
    return n


def count(text: str) -> int:
    """A token count: a whole number, zero or more."""
    return _whole(text, 0, "is negative: a token count is zero or more")


def at_least_one(text: str) -> int:
    """A count of things to run side by side: 1 or more."""
    return _whole(text, 1, "is too few: must be 1 or more")


RUN_FLAGS = {
    # flag: (params key, help)
    "--source": ("source", "demo | local | aws"),
    "--data-root": ("data_root", "local/demo: folder laid out like the AWS sources"),
    "--endpoint-url": ("endpoint_url", "AWS endpoint override (an emulator); AWS_ENDPOINT_URL is honoured too"),
    "--profile": ("profile", "AWS named profile"),
    "--logs-bucket": ("logs_bucket", "bucket holding the invocation logs"),
    "--logs-prefix": ("logs_prefix", "key prefix before AWSLogs/"),
    "--account": ("account", "AWS account id of the logs"),
    "--cost-source": ("cost_source", "ce | cur | none"),
    "--cur": ("cur", "CUR 2.0 export: local path or s3:// URI"),
    "--engine": ("engine", "local | athena"),
    "--output-dir": ("output_dir", "where outputs/<date>/<region>/ go"),
    "--logs-as-of": ("logs_as_of", "collection time: ISO time or +Nh after the day (default now)"),
    "--app-filter": ("app_filter", "only this application"),
}


def _add_run_args(sp: argparse.ArgumentParser, with_range: bool = True) -> None:
    if with_range:
        sp.add_argument("--start", help="first ISO day (UTC)")
        sp.add_argument("--end", help="last ISO day (UTC), inclusive")
        sp.add_argument("--regions", help="comma-separated regions, e.g. us-east-1,ap-northeast-2")
    sp.add_argument("--params", default="", help="params YAML (default params/default.yaml)")
    sp.add_argument("--jobs", type=at_least_one, default=None,
                    help="date-region chains run in parallel, 1 or more (default: the params file's jobs)")
    sp.add_argument("--yes", action="store_true", help="start a run of more than max_chains date-region chains")
    sp.add_argument("--force", action="store_true", help="redo dates and regions that are already complete")
    sp.add_argument("--strict", action="store_true", default=None, help="fail on the first bad record")
    sp.add_argument("--redact", action="store_true", default=None, help="alias principals and account ids in reports")
    for flag, (_, h) in RUN_FLAGS.items():
        sp.add_argument(flag, help=h)


def _overrides(args) -> dict:
    o = {}
    for k in ("start", "end", "regions", "strict", "redact"):
        v = getattr(args, k, None)
        if v is not None:
            o[k] = v
    for flag, (key, _) in RUN_FLAGS.items():
        v = getattr(args, flag[2:].replace("-", "_"), None)
        if v is not None:
            o[key] = v
    if getattr(args, "jobs", None):
        o["jobs"] = args.jobs
    return o


def cmd_run(args) -> int:
    from tracker_utils.run import runner
    outcomes = runner.run(args.params, _overrides(args), force=args.force, jobs=args.jobs, yes=args.yes)
    return _exit_code(outcomes)


def _exit_code(outcomes) -> int:
    """0: done; 1: a chain or roll-up failed; 3: done, and a budget is over (see params/budgets.example.yaml)."""
    if any(o.status == "failed" for o in outcomes):
        return 1
    return EXIT_OVER if getattr(outcomes, "over_budget", False) else 0


def cmd_rollup(args) -> int:
    from tracker_utils.run import runner
    o = _overrides(args)
    res = runner.rollup(args.params, o, period=args.period or "")
    return 1 if res.get("status") == "failed" else 0


def cmd_demo(args) -> int:
    if getattr(args, "org", False):
        return _demo_org(args)
    from tracker_utils import demo
    from tracker_utils.run import runner
    from tracker_utils.config import check_chains, load_params, resolve_path
    p = load_params(args.params or None, _overrides(args))
    check_chains(p, args.yes)
    root = resolve_path(p.data_root)
    spec = demo.DemoSpec(start=p.start, days=len(p.dates), regions=tuple(p.regions))
    if args.per_day:
        spec.per_day = args.per_day
    print(f"building the demo account in {root} ({spec.per_day} invocations/day, {len(spec.dates)} days, "
          f"{', '.join(spec.regions)})")
    demo.build_demo(root, spec)
    outcomes = runner.run(args.params, {**_overrides(args), "source": "demo"}, force=True, jobs=args.jobs, yes=args.yes)
    return _exit_code(outcomes)


def _demo_org(args) -> int:
    """``demo --org``: build the demo organization (demo_org/ unless --data-root) and run it (outputs/org/)."""
    from tracker_utils.config import check_chains, load_params, resolve_path
    from tracker_utils.demo.org import build_org_demo, org_overrides
    from tracker_utils.run import runner
    ov = {"data_root": "demo_org", "output_dir": "outputs/org", **_overrides(args), **org_overrides(), "source": "demo"}
    p = load_params(args.params or None, ov)
    check_chains(p, args.yes)
    root = resolve_path(p.data_root)
    print(f"building the demo organization in {root} ({len(p.accounts)} logged accounts, one more on the bill only)")
    build_org_demo(root, start=p.start, days=len(p.dates), per_day=args.per_day or 3000)
    outcomes = runner.run(args.params, ov, force=True, jobs=args.jobs, yes=args.yes)
    return _exit_code(outcomes)


def cmd_build_demo(args) -> int:
    from tracker_utils import demo
    spec = demo.DemoSpec(per_day=args.per_day or 3000, days=args.days, start=args.start)
    demo.build_demo(args.root, spec)
    print(args.root)
    return 0


# --- price, prices refresh ---------------------------------------------------------------------------------
def add_price_commands(subparsers) -> None:
    """Register `price` and `prices refresh` on an argparse subparsers object."""
    p = subparsers.add_parser("price", help="price a number of tokens of one model in one region",
                              description="Price tokens with the price book (USD, exact decimals). Without token "
                                          "counts, print the model's rates per unit.")
    p.add_argument("--region", required=True, help="source region, e.g. us-east-1")
    p.add_argument("--model", required=True,
                   help="model id as logged: bare id, us./eu./apac./global. profile, or an ARN")
    p.add_argument("--input-tokens", type=count, default=0)
    p.add_argument("--output-tokens", type=count, default=0)
    p.add_argument("--cache-read-tokens", type=count, default=0)
    p.add_argument("--cache-write-tokens", type=count, default=0, help="cache writes at the 5-minute TTL")
    p.add_argument("--cache-write-1h-tokens", type=count, default=0, help="cache writes at the 1-hour TTL")
    p.add_argument("--tier", default="standard", choices=price_book.TIERS)
    p.add_argument("--date", default=None, help="price in effect on this date (YYYY-MM-DD); default today (UTC)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--params-dir", default=None, help="directory with prices.csv/models.csv (default: <repo>/params)")
    p.set_defaults(func=price_command)

    ps = subparsers.add_parser("prices", help="maintain the price book")
    sub = ps.add_subparsers(dest="prices_command", required=True)
    r = sub.add_parser("refresh", help="refresh params/prices.csv from the AWS Price List API",
                       description="Fetch AmazonBedrock, AmazonBedrockFoundationModels and AmazonBedrockService "
                                   "products, map them to the book's keys and write prices.csv with a diff.")
    r.add_argument("--params-dir", default=None)
    r.add_argument("--dry-run", action="store_true", help="print the diff, do not write")
    r.add_argument("--endpoint-url", default=None, help="Price List API endpoint (tests, proxies)")
    r.add_argument("--region", action="append", dest="regions", default=None,
                   help="only products of this region code (repeatable)")
    r.add_argument("--effective-from", default=None, help="effective_from of new/changed rows (default today)")
    r.add_argument("--replace", action="store_true",
                   help="drop rows the Price List does not have (default: keep them and list them)")
    r.set_defaults(func=_refresh_command)


def _refresh_command(args) -> int:
    from tracker_utils.price.refresh import refresh_command

    return refresh_command(args)


def check_price_args(book: price_book.PriceBook, model: str, region: str) -> None:
    """A region Bedrock is offered in and a model the book knows, or one line with the closest match."""
    if region not in KNOWN_REGIONS:
        raise ParamError(f"--region: unknown region {region!r}{did_you_mean(region, KNOWN_REGIONS)}")
    if book.resolve(model, region).base_model:
        return
    prefix, rest = price_book._split_profile(model.strip())
    known = book.known_models()
    hint = did_you_mean(rest, known)
    if hint and prefix:
        close = difflib.get_close_matches(rest, sorted(known), n=1, cutoff=0.6)[0]
        hint = f" (did you mean {prefix + '.' + close!r}?)"
    if hint:
        raise ParamError(f"--model: {model!r} is not in the price book{hint}")


def price_command(args, out=None) -> int:
    out = out or sys.stdout
    book = price_book.PriceBook.load(args.params_dir)
    check_price_args(book, args.model, args.region)
    counts = (args.input_tokens, args.output_tokens, args.cache_read_tokens, args.cache_write_tokens,
              args.cache_write_1h_tokens)
    if not any(counts):
        rates = book.rates(args.model, args.region, tier=args.tier, on=args.date)
        if rates:
            return _print_rates(book, args, rates, out)
    q = book.quote(args.model, args.region, input_tokens=args.input_tokens, output_tokens=args.output_tokens,
                   cache_read_tokens=args.cache_read_tokens, cache_write_tokens=args.cache_write_tokens,
                   cache_write_1h_tokens=args.cache_write_1h_tokens, tier=args.tier, on=args.date)
    if args.json:
        print(json.dumps(q), file=out)
    else:
        base = q["base_model"]
        shown = f"{base} ({book.display_name(base)})" if base else "not in the price book"
        print(f"model   {q['model']} -> {shown}", file=out)
        print(f"region  {q['region']}  scope {q['scope']}  kind {q['kind']}  tier {q['tier']}  date {q['date']}",
              file=out)
        print(f"{'unit':<16}{'tokens':>12}{'usd_per_1k':>14}{'cost_usd':>16}", file=out)
        for ln in q["lines"]:
            print(f"{ln['unit']:<16}{ln['tokens']:>12}{ln['usd_per_1k']:>14}"
                  f"{money.money(ln['cost_usd']):>16}", file=out)
        print(f"{'total':<42}{q['total_usd']:>16}", file=out)
        for unit in q["unpriced"]:
            print(f"UNPRICED: {unit} of {q['model']} in {q['region']} (scope {q['scope']}, tier {q['tier']}) "
                  f"has no price in the book on {q['date']}", file=out)
    if not q["known"] and not args.json:
        why = ("the model is not in the price book" if not q["base_model"]
               else f"the book has no price for it in {q['region']}")
        print(f"UNPRICED: {q['model']} in {q['region']}: {why} (kind {q['kind']})", file=out)
    if q["unpriced"] or not q["known"]:
        if not args.json and q["unpriced"]:
            print("unpriced: the total above leaves these tokens out", file=out)
        return 2
    return 0


def _print_rates(book: price_book.PriceBook, args, rates: list[dict], out) -> int:
    res = book.resolve(args.model, args.region)
    on = price_book.to_date(args.date).isoformat()
    if args.json:
        print(json.dumps({"model": args.model, "base_model": res.base_model, "region": args.region, "scope": res.scope,
                          "tier": args.tier, "date": on, "rates": rates}), file=out)
        return 0
    print(f"model   {args.model} -> {res.base_model} ({book.display_name(res.base_model)})", file=out)
    print(f"region  {args.region}  scope {res.scope}  kind {res.kind}  tier {args.tier}  date {on}", file=out)
    print(f"{'unit':<16}{'usd_per_1k':>14}{'usd_per_1m':>14}", file=out)
    for r in rates:
        per_m = money.dec(r["usd_per_1k"]) * 1000
        print(f"{r['unit']:<16}{r['usd_per_1k']:>14}{money.plain(per_m):>14}", file=out)
    print("no token counts given: these are the rates (pass --input-tokens ... to price a call)", file=out)
    return 0


# --- athena ------------------------------------------------------------------------------------------------
def add_athena_command(subparsers) -> None:
    a = subparsers.add_parser("athena", help="set up the Athena engine: the invocation-log table over the bucket",
                              description="show-ddl prints the CREATE EXTERNAL TABLE statement, show-query the "
                                          "query a run sends, create-table runs the DDL (once per account).")
    a.add_argument("athena_command", choices=["create-table", "show-ddl", "show-query"])
    a.add_argument("--params", default="", help="params YAML (default params/default.yaml)")
    a.add_argument("--endpoint-url", default=None, help="AWS endpoint override (an emulator)")
    a.set_defaults(func=athena_command)


def athena_command(args, out=None) -> int:
    from tracker_utils.collect import athena
    from tracker_utils.collect.aws import AwsAccessError, AwsContext
    from tracker_utils.config import load_params
    out = out or sys.stdout
    p = load_params(args.params or None, {"endpoint_url": args.endpoint_url} if args.endpoint_url else None)
    if args.athena_command == "show-ddl":
        print(";\n\n".join(athena.org_table_sql(p)) if p.accounts else athena.create_table_sql(p), file=out)
        return 0
    if args.athena_command == "show-query":
        print(athena.query_text(None, p.athena_database, p.athena_table, with_comments=True), file=out)
        return 0
    try:
        ids = athena.create_table(athena.athena_context(p, p.regions[0], AwsContext.from_params(p, p.regions[0])), p)
    except AwsAccessError as e:
        print(f"bedrock-tracker: {e}", file=sys.stderr)
        return 2
    print(f"created {p.athena_database}.{p.athena_table} (queries {', '.join(ids)})", file=out)
    return 0


# --- doctor ------------------------------------------------------------------------------------------------
def add_doctor_command(subparsers) -> None:
    d = subparsers.add_parser("doctor", help="check, read-only, that a run against this AWS account would work",
                              description="Per region: the invocation-logging configuration, that the params name "
                                          "it, log objects of the last days, CloudWatch AWS/Bedrock metrics, bill "
                                          "access and every permission a run needs. Exit 0 when a run would work.")
    d.add_argument("--params", default="", help="params YAML (default params/default.yaml)")
    d.add_argument("--regions", help="comma-separated regions (default: the params' regions)")
    d.add_argument("--json", action="store_true", help="print the report as one JSON object")
    d.add_argument("--check-bill", action="store_true", help="call Cost Explorer too (each request costs $0.01)")
    d.add_argument("--write-params", metavar="FILE", help="write a params YAML from what was discovered")
    d.add_argument("--until", help="last ISO day whose log objects are looked for (default today, UTC)")
    d.add_argument("--days", type=int, default=3, help="days of log objects looked for (default 3)")
    d.add_argument("--endpoint-url", help="AWS endpoint override (an emulator)")
    d.add_argument("--profile", help="AWS named profile")
    d.set_defaults(func=doctor_command)


def doctor_command(args, out=None) -> int:
    import datetime as dt

    from tracker_utils.collect import doctor
    from tracker_utils.collect.aws import AwsAccessError
    from tracker_utils.config import load_params
    out = out or sys.stdout
    o = {k: v for k, v in (("endpoint_url", args.endpoint_url), ("profile", args.profile),
                           ("regions", args.regions)) if v}
    p = load_params(args.params or None, o)
    until = dt.date.fromisoformat(args.until) if args.until else None
    if p.accounts:          # an organization: each member account (its role assumed), then the payer's bill once
        return _doctor_org(p, args, until, out)
    try:
        report = doctor.check(p, p.regions, check_bill=args.check_bill, until=until, days=max(1, args.days))
    except AwsAccessError as e:
        print(f"bedrock-tracker doctor: {e}", file=sys.stderr)
        return 1
    if args.write_params:
        report["wrote_params"] = str(doctor.write_params(p, report, args.write_params))
    print(json.dumps(report, indent=1) if args.json else doctor.format_table(report), file=out)
    if args.write_params and not args.json:
        print(f"wrote {report['wrote_params']}: bedrock-tracker run --params {report['wrote_params']}", file=out)
    return 0 if report["ok"] else 1


def _doctor_org(p, args, until, out) -> int:
    from tracker_utils.collect import doctor_org
    if args.write_params:
        print("bedrock-tracker doctor: --write-params writes the params of one account; an organization's params "
              "list its accounts (see README, organizations)", file=sys.stderr)
        return 2
    report = doctor_org.check_org(p, check_bill=args.check_bill, until=until, days=max(1, args.days))
    print(json.dumps(report, indent=1) if args.json else doctor_org.format_org_table(report), file=out)
    return 0 if report["ok"] else 1


def configure_logging(level: int = logging.INFO) -> None:
    """The ``tracker_utils`` logger prints plain lines on stdout, as the runner's progress always looked. With
    ``-v`` (DEBUG) papermill's logger is shown too, and the runner passes ``log_output`` so each cell's output is
    logged as it runs; other libraries' loggers (botocore) are left as they are."""
    names = ["tracker_utils"] + (["papermill"] if level <= logging.DEBUG else [])   # -v: the cells' output too
    for name in names:
        log = logging.getLogger(name)
        log.setLevel(level)
        if not any(getattr(h, "_bedrock_tracker", False) for h in log.handlers):
            h = logging.StreamHandler(sys.stdout)
            h.setFormatter(logging.Formatter("%(message)s" if name == "tracker_utils" else "  [%(name)s] %(message)s"))
            h._bedrock_tracker = True
            log.addHandler(h)
        log.propagate = False


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="bedrock-tracker", description=DESCRIPTION)
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error")
    loud = ap.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", help="also say what each step does (debug log)")
    loud.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run", help="run collect, price, reconcile and report for every date and region")
    _add_run_args(sp)
    sp.set_defaults(func=cmd_run)
    sp = sub.add_parser("rollup", help="the roll-up and chargeback of a period, from every report in the outputs folder")
    sp.add_argument("--period", help="a month, YYYY-MM (month to date); or give --start and --end")
    sp.add_argument("--start", help="first ISO day of the period")
    sp.add_argument("--end", help="last ISO day of the period, inclusive")
    sp.add_argument("--regions", help="comma-separated regions (default: the params file's)")
    sp.add_argument("--params", default="", help="params YAML (default params/default.yaml)")
    sp.add_argument("--output-dir", help="the outputs folder")
    sp.set_defaults(func=cmd_rollup)
    sp = sub.add_parser("demo", help="build the demo account and run its whole range")
    _add_run_args(sp)
    sp.add_argument("--per-day", type=int, default=0, help="demo invocations a day (us-east-1)")
    sp.add_argument("--org", action="store_true",
                    help="the demo organization: 3 member accounts (a central bucket and an own one) and one "
                         "account on the bill with no logging, one consolidated bill")
    sp.set_defaults(func=cmd_demo)
    sp = sub.add_parser("build-demo", help="only write the demo account's files")
    sp.add_argument("root")
    sp.add_argument("--per-day", type=int, default=3000)
    sp.add_argument("--days", type=int, default=3)
    sp.add_argument("--start", default="2026-11-02")
    sp.set_defaults(func=cmd_build_demo)
    add_price_commands(sub)
    add_athena_command(sub)
    add_doctor_command(sub)
    args = ap.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        return int(args.func(args) or 0)
    except ParamError as e:
        if args.debug:
            raise
        print(f"bedrock-tracker: parameter error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bedrock-tracker: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error is one line unless --debug
        if args.debug:
            raise
        print(f"bedrock-tracker: {type(e).__name__}: {one_line(e)} (--debug shows the traceback)", file=sys.stderr)
        return 1


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 400 else text[:399] + "…"


if __name__ == "__main__":
    sys.exit(main())
