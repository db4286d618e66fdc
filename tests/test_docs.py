"""The documentation site: ``mkdocs build --strict`` passes (broken internal links and anchors,
pages left out of the nav and docstrings mkdocstrings cannot read all fail it), the API pages
cover the public API, and nothing in the built site fetches from the network (no CDN scripts,
stylesheets or fonts): the site must read from the disk, offline.

The Python blocks of the pages are run by ``tests/test_readme.py``; the screenshots by
``scripts/screenshot_docs.py`` (tested here when Debian's ``chromium`` is installed).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from mkdocs.utils.yaml import yaml_load

import alliance_bayes
from alliance_bayes import plots

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mkdocs.yml"
SCRIPT = ROOT / "scripts" / "screenshot_docs.py"
HOOK = ROOT / "scripts" / "mkdocs_executed_notebooks.py"
SITE = ROOT / "site"  # git-ignored: CI's built site, with the notebooks as this run executed them
EXECUTED = ROOT / "build" / "notebooks"  # the root conftest.py's EXECUTED_NOTEBOOKS
NOTEBOOKS_VARIABLE = "ALLIANCE_BAYES_DOCS_NOTEBOOKS"

# the attributes by which a page makes the browser fetch something, per tag
FETCHING = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "object": ("data",),
    "embed": ("src",),
    "track": ("src",),
}
NOT_FETCHED_LINKS = {"canonical", "alternate", "author", "license"}  # link rels that only name
REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"(?:@import\s+(?:url\()?|url\()\s*['\"]?\s*(?:https?:)?//", re.I)


def build_site(
    config: Path, out: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1") | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and set(values.get("rel", "").lower().split()) & NOT_FETCHED_LINKS:
            return
        for name in FETCHING.get(tag, ()):
            for url in values.get(name, "").split(","):
                if REMOTE.match(url):
                    self.found.append(f"<{tag} {name}={url.strip()!r}>")
        if CSS_REMOTE.search(values.get("style", "")):
            self.found.append(f"<{tag} style=...> with a remote url()")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and CSS_REMOTE.search(data):
            self.found.append("<style> with a remote url() or @import")


def external_fetches(html: str) -> list[str]:
    """The tags of an HTML page that would fetch from the network when the page is viewed."""
    parser = _Fetches()
    parser.feed(html)
    return parser.found


def notebooks_ran(session: pytest.Session) -> bool:
    """Whether this pytest run executes the notebooks (``pytest --nbmake``): the root
    ``conftest.py`` then runs this module after them and keeps their executed copies."""
    return any(getattr(item, "nbmake", False) for item in session.items)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Path:
    """The site in ``site/``; its notebook pages show this run's outputs when it ran them."""
    env = {NOTEBOOKS_VARIABLE: str(EXECUTED)} if notebooks_ran(request.session) else {}
    result = build_site(CONFIG, SITE, env)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return SITE


def test_the_fetch_finder_flags_remote_scripts_styles_and_fonts():
    html = """
    <link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">
    <link rel="canonical" href="https://example.org/page/">
    <script src="//cdn.example.org/mathjax.js"></script>
    <script src="assets/bundle.js"></script>
    <img srcset="a.png 1x, https://example.org/b.png 2x">
    <a href="https://github.com/">a link is not a fetch</a>
    <div style="background: url('https://example.org/x.png')"></div>
    <style>@import url(https://fonts.example.org/x.css);</style>
    """
    found = external_fetches(html)
    assert len(found) == 5, found
    assert any("fonts.googleapis.com" in f for f in found)
    assert any("mathjax" in f for f in found)
    assert not any("canonical" in f or "github" in f for f in found)


def test_the_site_builds_strictly_and_fetches_nothing_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    for expected in [
        "index.html",
        "getting-started.html",
        "concepts.html",
        "api/models.html",
        "notebooks/01_quickstart.html",
        "benchmarks.html",
        "architecture.html",
    ]:
        assert (site / expected).is_file(), expected
    fetches = {
        str(page.relative_to(site)): found
        for page in pages
        if (found := external_fetches(page.read_text(encoding="utf-8")))
    }
    assert fetches == {}
    styles = [css for css in site.rglob("*.css") if CSS_REMOTE.search(css.read_text("utf-8"))]
    assert styles == []


OUTPUT_ELEMENT = re.compile(r'class="[^"]*\bjp-OutputArea-output\b')  # a cell's output, not CSS


def _outputs(notebook: Path) -> list[dict]:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return [o for c in cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_the_notebook_pages_show_the_outputs_of_this_runs_notebooks(site, request):
    """``pytest --nbmake`` (CI): each notebook that ran is rendered from its executed copy, so
    its page holds that run's figures (the very PNGs) and tables, executed once."""
    if not notebooks_ran(request.session):
        pytest.skip("no notebook ran in this pytest run (`pytest --nbmake` runs them first)")
    copies = {copy.name: copy for copy in EXECUTED.glob("*.ipynb")}
    assert copies, f"the notebooks ran, but none was saved to {EXECUTED}"
    figures = 0
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = (site / "notebooks" / notebook.with_suffix(".html").name).read_text("utf-8")
        rendered = len(OUTPUT_ELEMENT.findall(page))
        if notebook.name not in copies:  # not run (or failed): as committed, without outputs
            assert rendered == 0, notebook.name
            continue
        outputs = _outputs(copies[notebook.name])
        assert outputs and rendered >= len(outputs), (notebook.name, rendered, len(outputs))
        for output in outputs:
            data = output.get("data", {})
            if "image/png" in data:  # the very figure of this run
                assert "".join(data["image/png"].split())[:200] in page, notebook.name
                figures += 1
            if 'class="dataframe"' in data.get("text/html", ""):
                assert 'class="dataframe"' in page, notebook.name
    assert figures > 0  # every notebook draws a figure


def test_the_hook_renders_a_notebooks_executed_copy_only_when_asked(tmp_path):
    """``scripts/mkdocs_executed_notebooks.py`` on a small site: with the variable set, the
    page of ``notebooks/demo.ipynb`` is rendered from the copy (its output shows); without it,
    from the committed notebook (no output)."""
    import nbformat

    docs = tmp_path / "docs"
    (docs / "notebooks").mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n")
    committed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(committed, docs / "notebooks" / "demo.ipynb")
    executed = tmp_path / "executed"
    executed.mkdir()
    committed.cells[0].outputs = [nbformat.v4.new_output("stream", text="answer-42-from-run\n")]
    nbformat.write(committed, executed / "demo.ipynb")
    config = {
        "site_name": "t",
        "use_directory_urls": False,
        "theme": {"name": "mkdocs"},
        "hooks": [str(HOOK)],
        "plugins": [
            {"mkdocs-jupyter": {"include": ["*.ipynb"], "include_requirejs": False, "cache": False}}
        ],
        "nav": [{"Home": "index.md"}, {"Demo": "notebooks/demo.ipynb"}],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    for variable, shown in [(str(executed), True), ("", False)]:
        out = tmp_path / f"site{shown}"
        result = build_site(tmp_path / "mkdocs.yml", out, {NOTEBOOKS_VARIABLE: variable})
        assert result.returncode == 0, result.stderr[-3000:]
        page = (out / "notebooks" / "demo.html").read_text("utf-8")
        assert "print" in page
        assert ("answer-42-from-run" in page) is shown


def api_directives() -> set[str]:
    names = set()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        names |= set(re.findall(r"^::: (\S+)", page.read_text(), flags=re.MULTILINE))
    return names


def test_the_api_pages_render_every_public_name(site):
    """Every name of ``alliance_bayes.__all__`` and of ``plots.__all__`` has a heading of its
    own in the built API pages (a directive whose object griffe cannot find fails the build)."""
    ids = set()
    for page in (site / "api").glob("*.html"):
        ids |= set(re.findall(r'<h\d id="([^"]+)"', page.read_text(encoding="utf-8")))
    public = [f"alliance_bayes.{name}" for name in alliance_bayes.__all__]
    public += [f"alliance_bayes.plots.{name}" for name in plots.__all__]
    missing = [
        name
        for name in public
        if not any(i == name or i.endswith("." + name.split(".")[-1]) for i in ids)
    ]
    assert missing == [], f"not on an API page (docs/api/*.md): {missing}"
    assert "alliance_bayes.plots" in api_directives()


def test_the_api_pages_show_no_sphinx_roles(site):
    """``:class:`X``` in a docstring is shown as the code ``X`` (scripts/griffe_sphinx_roles.py),
    not as the text ":class:" before it."""
    shown = {
        page.name: len(found)
        for page in (site / "api").glob("*.html")
        if (found := re.findall(r":(?:class|func|meth|mod|attr|data|exc):", page.read_text()))
    }
    assert shown == {}


def test_sphinx_roles_become_code_spans():
    module = _load(ROOT / "scripts" / "griffe_sphinx_roles.py")
    text = "See :func:`~alliance_bayes.fit.fit`, :py:class:`AllianceData` and :meth:`Store.open`."
    assert module.plain_roles(text) == "See `fit`, `AllianceData` and `Store.open`."


def test_a_broken_link_or_anchor_fails_the_strict_build(tmp_path):
    """The project's own validation settings turn a link to a missing page or anchor into an
    error (a cheap site with the same settings, so the check does not depend on the pages)."""
    config = yaml_load(CONFIG.read_text())  # mkdocs' loader: it knows !ENV
    small = {
        key: config[key] for key in ("site_name", "strict", "use_directory_urls", "validation")
    }
    small["theme"] = {"name": "mkdocs"}
    small["markdown_extensions"] = [{"toc": {"permalink": True}}]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](gone.md) and [anchor](other.md#nowhere)\n")
    (docs / "other.md").write_text("# Other\n\n## Somewhere\n")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(small))
    result = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "gone.md" in result.stderr
    assert "nowhere" in result.stderr


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_home_and_api_pages_render_offline_in_chromium(site, tmp_path):
    """Headless Chromium with every network request sent to a closed port: the pages still
    render with the theme's own styles (the indigo header bar), so they need nothing remote."""
    import matplotlib.image

    module = _load(SCRIPT)
    shots = module.screenshot_site(site, tmp_path)
    assert sorted(shots) == ["api", "home"]
    for path in shots.values():
        assert path.stat().st_size < 500_000
        image = matplotlib.image.imread(path)[..., :3]
        header = image[10:40, 300:900].reshape(-1, 3).mean(axis=0)  # Material's indigo bar
        assert header[2] > header[0] + 0.2, f"{path.name}: no styled header ({header})"
        body = image[200:].reshape(-1, 3)
        assert (body.std(axis=0) > 0.05).all(), f"{path.name}: the page body is blank"
