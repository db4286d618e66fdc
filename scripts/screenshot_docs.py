"""Screenshot the built documentation site's home page and API page in headless Chromium.

    python scripts/screenshot_docs.py                  # builds the site, writes docs/screenshots/
    python scripts/screenshot_docs.py --site site/ --out /tmp/shots

Chromium (Debian's ``chromium``: ``apt-get install -y chromium``) opens the pages from the disk
(``file://``) with every network request sent to a closed local port, so a page that needed a
CDN script, stylesheet or font would show it (unstyled or broken). The PNGs are reduced to a
palette so each stays well under 500 KB. ``tests/test_docs.py`` runs :func:`screenshot_site`
when chromium is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"home": "index.html", "api": "api/models.html"}  # the API page that shows fit()
WINDOW = "1280,1600"


def chromium() -> str:
    """The path of the chromium binary; raise with the install command when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise FileNotFoundError("no chromium on PATH: apt-get update && apt-get install -y chromium")


def build_site(out: Path) -> Path:
    """``mkdocs build --strict`` of the repository's site into ``out``."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return out


def screenshot(page: Path, png: Path, window: str = WINDOW) -> Path:
    """One page, headless and offline, as a palette PNG."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",  # root in a container
            "--disable-gpu",
            # nothing of Chromium's own goes to the network either (updates, sync, field trials)
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",  # a fresh profile each time
            "--proxy-server=127.0.0.1:9",  # every network request fails: the page is offline
            "--no-first-run",
            "--virtual-time-budget=5000",  # let the theme's script lay out the page
            f"--window-size={window}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    _shrink(png)
    return png


def _shrink(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=128)
    small.save(png, optimize=True)


def screenshot_site(site: Path, out: Path) -> dict[str, Path]:
    """Screenshots of the home page and the API page of a built site, by name."""
    out.mkdir(parents=True, exist_ok=True)
    return {name: screenshot(site / page, out / f"{name}.png") for name, page in PAGES.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alliance_docs_") as tmp:
        site = args.site or build_site(Path(tmp) / "site")
        for name, path in screenshot_site(site, args.out).items():
            print(f"{name}: {path} ({path.stat().st_size / 1000:.0f} KB)")


if __name__ == "__main__":
    main()
