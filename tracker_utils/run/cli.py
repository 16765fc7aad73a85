"""``bedrock-tracker``: run the pipeline, build the demo account, quote prices, refresh the price book."""
from __future__ import annotations

import argparse
import sys

from tracker_utils.config import ParamError

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
    sp.add_argument("--jobs", type=int, default=1, help="date-region chains run in parallel")
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
    outcomes = runner.run(args.params, _overrides(args), force=args.force, jobs=args.jobs)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def cmd_demo(args) -> int:
    from tracker_utils import demo
    from tracker_utils.run import runner
    from tracker_utils.config import load_params, resolve_path
    p = load_params(args.params or None, _overrides(args))
    root = resolve_path(p.data_root)
    spec = demo.DemoSpec(start=p.start, days=len(p.dates), regions=tuple(p.regions))
    if args.per_day:
        spec.per_day = args.per_day
    print(f"building the demo account in {root} ({spec.per_day} invocations/day, {len(spec.dates)} days, "
          f"{', '.join(spec.regions)})")
    demo.build_demo(root, spec)
    outcomes = runner.run(args.params, {**_overrides(args), "source": "demo"}, force=True, jobs=args.jobs)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def cmd_build_demo(args) -> int:
    from tracker_utils import demo
    spec = demo.DemoSpec(per_day=args.per_day or 3000, days=args.days, start=args.start)
    demo.build_demo(args.root, spec)
    print(args.root)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bedrock-tracker", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run", help="run collect, price, reconcile and report for every date and region")
    _add_run_args(sp)
    sp.set_defaults(func=cmd_run)
    sp = sub.add_parser("demo", help="build the demo account and run its whole range")
    _add_run_args(sp)
    sp.add_argument("--per-day", type=int, default=0, help="demo invocations a day (us-east-1)")
    sp.set_defaults(func=cmd_demo)
    sp = sub.add_parser("build-demo", help="only write the demo account's files")
    sp.add_argument("root")
    sp.add_argument("--per-day", type=int, default=3000)
    sp.add_argument("--days", type=int, default=3)
    sp.add_argument("--start", default="2026-11-02")
    sp.set_defaults(func=cmd_build_demo)
    try:
        from tracker_utils.price.book import add_price_commands
        add_price_commands(sub)
    except ImportError:  # pragma: no cover
        pass
    args = ap.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ParamError as e:
        print(f"bedrock-tracker: parameter error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
