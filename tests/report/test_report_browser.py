"""index.html in a real browser (headless Chromium): every figure drawn, nothing broken, nothing off-page."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

# appended to a copy of the page: measures what the browser laid out, writes it into the DOM
CHECK = """<script>
window.addEventListener('load', () => {
  const figures = [...document.querySelectorAll('figure svg')];
  const small = figures.filter(s => { const b = s.getBoundingClientRect(); return b.width < 200 || b.height < 150; });
  const images = [...document.images];
  // what the page would load besides itself: any src, stylesheet, object or SVG image/use not inline
  const loads = [...document.querySelectorAll('[src], link[href], object[data], svg image, svg use')].map(e =>
    e.getAttribute('src') || e.getAttribute('href') || e.getAttribute('xlink:href') || e.getAttribute('data') || '');
  const external = [...new Set([...performance.getEntriesByType('resource').map(r => r.name),
                                ...loads.filter(u => !u.startsWith('data:') && !u.startsWith('#'))])];
  const texts = [...document.querySelectorAll('figure svg text')].filter(t => t.getBBox().width > 0);
  const out = document.createElement('pre');
  out.id = 'archsim-check';
  out.textContent = JSON.stringify({
    figures: figures.length, small: small.length, svg_texts: texts.length,
    images: images.length, external: external,
    tables: document.querySelectorAll('table').length,
    overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent)});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args, tmp_path):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def rendered(page: Path, tmp_path: Path) -> dict:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    proc = chromium("--virtual-time-budget=10000", "--window-size=1200,900", "--dump-dom", probe.as_uri(),
                    tmp_path=tmp_path)
    probe.unlink()
    match = re.search(r'<pre id="archsim-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, proc.stderr[-2000:]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(page: Path, tmp_path: Path, name: str):
    import matplotlib.image
    shot = tmp_path / f"{name}.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", "--hide-scrollbars", page.as_uri(),
             tmp_path=tmp_path)
    return matplotlib.image.imread(shot)


def test_run_report_renders(run_dir, tmp_path):
    check = rendered(run_dir / "index.html", tmp_path)
    assert check["figures"] == 3 and check["small"] == 0 and check["svg_texts"] > 30
    assert check["images"] == 0 and check["external"] == [] and check["tables"] >= 3 and not check["overflow"]
    assert check["headings"] == ["Summary", "Figures", "Layers", "Mapping", "Specs used"]


def test_sweep_report_renders_and_is_not_blank(sweep_dir, tmp_path):
    check = rendered(sweep_dir / "index.html", tmp_path)
    assert check["figures"] == 4 and check["small"] == 0 and not check["overflow"]
    assert check["images"] == 0 and check["external"] == []   # self-contained: figures inline, nothing fetched
    assert check["headings"] == ["Findings", "Figures", "Results", "Specs used"]
    pixels = screenshot(sweep_dir / "index.html", tmp_path, "sweep")
    assert pixels.shape[:2] == (2400, 1200)
    rgb = pixels[..., :3]
    ink = (rgb.sum(axis=2) < 2.7).mean()              # anything not (nearly) white
    blue = ((rgb[..., 2] > 0.55) & (rgb[..., 0] < 0.3)).mean()   # the plotted lines and markers
    assert 0.05 < ink < 0.8 and blue > 0.0005
