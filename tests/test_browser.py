"""The shared pages in a real browser (headless Chromium): every image loads, every link resolves; screenshots are
saved under the run's output folder (``screenshots/``) for review. ``make browser`` installs Chromium."""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO_OUTPUTS = Path(__file__).resolve().parents[1] / "outputs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(autouse=True)
def _chromium_present():
    # `make test` installs Debian's chromium (target `browser`); a missing browser is a failed set-up, not a skip
    assert CHROMIUM is not None, "headless Chromium not installed: run `make browser` (part of `make test`)"

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# shared reports are self-contained: no external files at all (the export template drops nbconvert's CDN scripts)
EXTERNAL_OK: set[str] = set()
CHECK = """<script>window.addEventListener('load', function () {
  var r = [];
  for (const i of document.images) r.push({src: (i.getAttribute('src') || '').slice(0, 60), ok: i.complete && i.naturalWidth > 0,
                                           w: i.naturalWidth, shown: i.getBoundingClientRect().width});
  var p = document.createElement('pre'); p.id = 'bt-check';
  p.textContent = JSON.stringify({images: r, width: document.documentElement.scrollWidth});
  document.body.appendChild(p);
});</script>"""


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids, self.imgs = [], set(), 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs += 1
        for k in ("href", "src"):
            if a.get(k) is not None:
                self.refs.append((tag, k, a[k]))


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"chromium-{len(list(tmp_path.glob('chromium-*')))}"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90)
    return r.stdout


def check_static(page: Path) -> Refs:
    """Every href/src: a file next to the page exists, a data: URI decodes (PNGs open), an #anchor exists."""
    from PIL import Image
    p = Refs()
    p.feed(page.read_text())
    assert p.refs, page
    for tag, attr, ref in p.refs:
        u = urlparse(ref)
        if ref.startswith("data:"):
            head, _, body = ref.partition(",")
            try:
                raw = base64.b64decode(body, validate=True) if ";base64" in head else unquote(body).encode()
            except binascii.Error as e:
                pytest.fail(f"{page.name}: {tag} {attr} data URI does not decode: {e}")
            if head.startswith("data:image/png"):
                im = Image.open(io.BytesIO(raw))
                im.verify()
                assert im.size[0] <= 1280, f"{page.name}: an image {im.size[0]} px wide does not fit a 1280-px page"
        elif u.scheme in ("http", "https"):
            assert u.netloc in EXTERNAL_OK, f"{page.name}: external {tag} {attr} {ref}"
        elif ref.startswith("#"):
            assert unquote(ref[1:]) in p.ids or ref == "#", f"{page.name}: anchor {ref} has no target"
        elif u.scheme in ("", "file"):
            target = (page.parent / unquote(u.path)).resolve()
            assert target.exists(), f"{page.name}: {tag} {attr} {ref} -> {target} does not exist"
        else:
            pytest.fail(f"{page.name}: unexpected {tag} {attr} {ref}")
    return p


def check_in_browser(page: Path, tmp_path: Path, shots: Path, name: str, height: int = 2400) -> dict:
    """Load the page in Chromium: every image decoded and shown; no horizontal scrolling at 1280 px; a screenshot."""
    probe = page.parent / f".bt-check-{name}.html"
    probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    try:
        dom = chromium(tmp_path, "--window-size=1280,2400", "--virtual-time-budget=8000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    m = re.search(r'<pre id="bt-check">(.*?)</pre>', dom, re.S)
    assert m, f"{name}: the page did not finish loading in Chromium"
    res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    bad = [i for i in res["images"] if not i["ok"]]
    assert not bad, f"{name}: images that do not load: {bad}"
    assert all(i["shown"] <= 1280 for i in res["images"])
    assert res["width"] <= 1280, f"{name}: the page is {res['width']} px wide at a 1280-px window"
    shot = shots / f"{name}.png"
    chromium(tmp_path, f"--window-size=1280,{height}", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, f"{name}: no screenshot"
    return res


def test_index_report_and_rollup_in_chromium(demo_run, tmp_path):
    out, _, _, _ = demo_run
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    index = out / "index.html"
    refs = check_static(index)
    links = [r for _, k, r in refs.refs if k == "href" and r.endswith(".html")]
    assert "periods/2026-11/rollup.html" in links and sum(link.endswith("/report.html") for link in links) == 6
    assert check_in_browser(index, tmp_path, shots, "index", 1400)["images"] == []
    report = out / "2026-11-03" / "us-east-1" / "report.html"
    n = check_static(report).imgs
    res = check_in_browser(report, tmp_path, shots, "report-2026-11-03-us-east-1", 7000)
    assert len(res["images"]) == n >= 4
    roll = out / "periods" / "2026-11" / "rollup.html"      # one period's roll-up (its links go up two folders)
    assert all((roll.parent / r).resolve().exists() for _, k, r in check_static(roll).refs
               if k == "href" and r.endswith(".html") and not r.startswith("http"))
    n = check_static(roll).imgs
    res = check_in_browser(roll, tmp_path, shots, "rollup", 5000)
    assert len(res["images"]) == n >= 2
    # keep a copy for review beside the repository's own outputs (git-ignored)
    review = REPO_OUTPUTS / "screenshots"
    review.mkdir(parents=True, exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy2(png, review / png.name)
