"""Issue 14, fast: parameters validated completely up front, a CLI that helps, and the share-safety helpers (escape,
visible characters, CSV cells, redaction on text, charts without mathtext). No kernel, no subprocess."""
from __future__ import annotations

import resource
import time

import pandas as pd
import pytest

from tracker_utils import config
from tracker_utils.config import ParamError, check_chains, load_params
from tracker_utils.price import book as price_book
from tracker_utils.run import cli


def write(tmp_path, text, name="p.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


# --- parameters -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("window_after_hours: -24\n", "window_after_hours: -24 must be at least 0"),
    ("tolerance_cost_pct: .nan\n", "tolerance_cost_pct: expected a finite number, got nan"),
    ("tolerance_tokens_pct: .inf\n", "tolerance_tokens_pct: expected a finite number, got inf"),
    ("tolerance_cost_abs: -1\n", "tolerance_cost_abs: -1.0 must be at least 0"),
    ("anomaly_factor: .nan\n", "anomaly_factor: expected a finite number"),
    ("logs_as_of: '+abc'\n", "logs_as_of: '+abc' is not an ISO time or +Nh"),
    ("logs_as_of: '+1hx'\n", "logs_as_of: '+1hx' is not an ISO time or +Nh"),
    ("logs_as_of: 'yesterday'\n", "logs_as_of: 'yesterday' is not an ISO time"),
    ("regions: [null]\n", "regions: expected a list of names, got None"),
    ("regions: [[us-east-1]]\n", "regions: expected a list of names, got ['us-east-1']"),
    ("regions: null\n", "regions: expected a list"),
    ("1: x\n", "parameter names are text: 1 (a int)"),
    ("account: [1, 2]\n", "account: expected text, got [1, 2]"),
    ("output_dir: {a: 1}\n", "output_dir: expected text"),
    ("jobs: 0\n", "jobs: 0 must be at least 1"),
    ("jobs: 1.5\n", "jobs: expected an integer, got 1.5"),
    ("jobs: true\n", "jobs: expected an integer, got True"),
    ("max_chains: 0\n", "max_chains: 0 must be at least 1"),
    ("app_filter: Chatbot\n", "app_filter: 'Chatbot' is only applied by the athena engine"),
    ("- a\n- b\n", "expected a mapping of key: value"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_params_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(ParamError) as e:
        load_params(write(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_good_values_still_pass(tmp_path):
    p = load_params(write(tmp_path, "logs_as_of: '+0.5h'\nwindow_after_hours: 0\ntolerance_cost_pct: 0\n"
                                    "logs_as_of: '+2'\n"))
    assert p.window_after_hours == 0 and p.logs_as_of == "+2"
    cfg = config.resolve(p.start, "us-east-1", str(write(tmp_path, "logs_as_of: '+2'\n", "q.yaml")),
                         output_dir=str(tmp_path / "out"))
    assert cfg.as_of == cfg.day_end + pd.Timedelta(hours=2)


def test_alias_bomb_refused_fast_and_small(tmp_path):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join('*' + p for _ in range(9))}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    assert len(bomb) < 1300
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ParamError, match=r"alias \*a refused: a params file takes no aliases \(line 2"):
        load_params(write(tmp_path, bomb))
    assert time.perf_counter() - t0 < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 50_000          # KB: no expansion happened


def test_params_file_over_the_size_limit_refused(tmp_path):
    big = write(tmp_path, "# " + "x" * config.MAX_PARAMS_BYTES + "\nstart: '2026-11-02'\n")
    with pytest.raises(ParamError, match="over the 262,144-byte limit"):
        load_params(big)


def test_a_range_over_max_chains_needs_yes(tmp_path):
    pf = write(tmp_path, "start: '2016-01-01'\nend: '2025-12-31'\n")
    p = load_params(pf)
    n = len(p.dates) * len(p.regions)
    assert n > p.max_chains == 400
    with pytest.raises(ParamError, match=f"{n:,} date-region chains .* over max_chains 400.*--yes"):
        check_chains(p)
    assert check_chains(p, yes=True) == n
    from tracker_utils.run import runner
    with pytest.raises(ParamError, match="over max_chains"):           # refused before any work (no kernel)
        runner.run(str(pf), {})
    assert check_chains(load_params(write(tmp_path, "max_chains: 10\n", "m.yaml"))) == 6


def test_params_file_jobs_respected_unless_the_flag_is_given(tmp_path, monkeypatch):
    from tracker_utils.run import runner
    pf = write(tmp_path, "jobs: 3\n")
    seen = []
    monkeypatch.setattr(runner, "run", lambda params, overrides, force=False, jobs=None, yes=False:
                        seen.append(load_params(params, {**overrides, "jobs": jobs}).jobs) or [])
    assert cli.main(["-q", "run", "--params", str(pf)]) == 0
    assert cli.main(["-q", "run", "--params", str(pf), "--jobs", "2"]) == 0
    assert seen == [3, 2]


# --- the CLI --------------------------------------------------------------------------------------------------
SONNET37 = "anthropic.claude-3-7-sonnet-20250219-v1:0"


def _main(capsys, *argv):
    try:
        rc = cli.main(list(argv))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_misspelled_model_exits_2_with_one_line_suggestion(capsys):
    rc, out, err = _main(capsys, "price", "--region", "us-east-1", "--model", "anthropic.claude-3-7-sonet-20250219-v1:0",
                         "--input-tokens", "1")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and f"did you mean '{SONNET37}'?" in err
    rc, _, err = _main(capsys, "price", "--region", "us-east-1", "--model", "us.anthropic.claude-3-7-sonet-20250219-v1:0")
    assert rc == 2 and f"did you mean 'us.{SONNET37}'?" in err


def test_negative_tokens_one_line_no_traceback(capsys):
    rc, out, err = _main(capsys, "price", "--region", "us-east-1", "--model", SONNET37, "--input-tokens", "-5")
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "--input-tokens: -5 is negative" in err


def test_unknown_region_refused_with_suggestion(capsys):
    rc, _, err = _main(capsys, "price", "--region", "eu-west-9", "--model", SONNET37, "--input-tokens", "1")
    assert rc == 2 and err.count("\n") == 1
    assert "unknown region 'eu-west-9' (did you mean 'eu-west-" in err


def test_price_without_counts_prints_the_rates(capsys):
    rc, out, _ = _main(capsys, "price", "--region", "us-east-1", "--model", "us." + SONNET37, "--date", "2025-10-01")
    assert rc == 0 and "total" not in out
    book = price_book.PriceBook.load()
    for unit in ("input", "output", "cache_read"):
        want = book.unit_price(SONNET37, "us-east-1", "geo", "standard", unit, "2025-10-01")
        line = next(ln for ln in out.splitlines() if ln.startswith(unit + " "))
        assert line.split()[1] == price_book.plain(want)
        assert price_book.plain(want * 1000) == line.split()[2]


def test_jobs_must_be_at_least_one(capsys):
    for argv in (["run", "--jobs", "0"], ["demo", "--jobs", "-1"]):
        rc, _, err = _main(capsys, *argv)
        assert rc == 2 and err.count("\n") == 1 and "must be 1 or more" in err


def test_subcommand_suggestion_and_clean_help(capsys):
    rc, _, err = _main(capsys, "rn")
    assert rc == 2 and err.count("\n") == 1 and "(did you mean 'run'?)" in err
    rc, out, _ = _main(capsys, "--help")
    assert rc == 0 and "``" not in out and "bedrock-tracker" in out
    for sub in ("run", "demo", "price", "prices", "athena", "build-demo"):
        rc, out, _ = _main(capsys, sub, "--help")
        assert rc == 0 and "``" not in out


def test_every_error_one_line_unless_debug(capsys, monkeypatch, tmp_path):
    rc, _, err = _main(capsys, "run", "--params", str(tmp_path / "missing.yaml"))
    assert rc == 2 and err.count("\n") == 1 and "not found" in err
    rc, _, err = _main(capsys, "run", "--params", str(write(tmp_path, "regions: [null]\n")))
    assert rc == 2 and err.count("\n") == 1 and "regions:" in err

    def boom(*a, **k):
        raise RuntimeError("the price book is broken\non two lines")
    monkeypatch.setattr(price_book.PriceBook, "load", classmethod(boom))
    rc, _, err = _main(capsys, "price", "--region", "us-east-1", "--model", SONNET37, "--input-tokens", "1")
    assert rc == 1 and err.count("\n") == 1 and "RuntimeError: the price book is broken on two lines" in err
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "price", "--region", "us-east-1", "--model", SONNET37, "--input-tokens", "1"])


# --- share-safety helpers ---------------------------------------------------------------------------------------
def test_invisible_characters_are_shown_as_escapes():
    from tracker_utils.report import html as kit
    assert kit.esc("ali\u200bce") == "ali\\u200bce" and kit.esc("ali\u200bce") != kit.esc("alice")
    assert kit.esc("x\u202ey<") == "x\\u202ey&lt;"
    out = kit.table(pd.DataFrame({"who\u2066": ["bob\ufeff", "éè 日本"]}))
    assert "who\\u2066" in out and "bob\\ufeff" in out and "éè 日本" in out
    assert not any(c in out for c in "\u200b\u202e\u2066\ufeff")
    assert kit.badge("a\u200db") == "<span class='badge b-ok'>a\\u200db</span>"
    from tracker_utils.report.charts import model_label
    assert model_label("anthropic.claude\u200b-x-v1:0") == "claude\\u200b-x"


def test_csv_cells_cannot_be_formulas():
    from tracker_utils.report.chargeback import csv_cell
    for v in ("=1+1", "+SUM(1,1)", "-x", "@SUM(1)", "\tcmd", "\rcmd", '=HYPERLINK("http://x")'):
        assert csv_cell(v) == "'" + v
    for v in ("-5", "+1.5", "-0.000001", "1e-3", 7, -3, "Chat", ""):
        assert csv_cell(v) == v


def test_redaction_is_on_text_and_short_names_are_safe():
    from tracker_utils.report.html import table
    from tracker_utils.report.redact import Redactor
    acct = "123456789012"
    r = Redactor(True, acct, [f"arn:aws:iam::{acct}:user/td", f"arn:aws:iam::{acct}:user/b",
                              f"arn:aws:sts::{acct}:assumed-role/Build-Role/ci-session-42"])
    td, b = r("td"), r("b")
    assert td.startswith("user-") and b.startswith("user-") and td != b
    assert r("a td b sentence") == "a td b sentence"                 # short names only as whole values
    assert r("ci-session-42") == r("Build-Role") and r(acct).startswith("account-")
    page = table(r.frame(pd.DataFrame({"Principal": ["td", "b", "Build-Role"], "n": [1, 2, 3]})))
    assert page.count("<td>") == 6 and f"<td>{td}</td>" in page and "<td>b</td>" not in page
    s = r.obj({"apps": [{"app": "x", "who": f"arn:aws:sts::{acct}:assumed-role/Build-Role/ci-session-42"}],
               acct: 1, "n": 3})
    assert "ci-session-42" not in str(s) and acct not in str(s) and s["n"] == 3
    assert Redactor(False, acct, ["td"]).obj({"a": "td"}) == {"a": "td"}


def test_chart_labels_are_never_mathtext():
    import matplotlib
    from tracker_utils.report.charts import _new_fig
    from tracker_utils.report.html import fig_html
    import matplotlib.pyplot as plt
    plt.close("all")                  # figures other tests left open are not this test's
    label = r"anthropic.x$\undefinedcmd$-v1:0"
    assert matplotlib.rcParams["text.parse_math"] is False
    fig, ax = _new_fig(2)
    ax.barh([label, "$5 + $3"], [1, 2])
    ax.set_title(label)
    assert fig_html(fig).startswith("<figure><img alt='anthropic.x$\\undefinedcmd$-v1:0'")
    with matplotlib.rc_context({"text.parse_math": True}):          # the switch is what makes it work
        fig, ax = _new_fig(2)
        ax.set_title(label)
        with pytest.raises(ValueError):
            fig_html(fig)
        plt.close(fig)                # fig_html closes a figure it rendered; this one failed to render
