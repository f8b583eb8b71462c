"""Browser tests: headless Chromium (Debian's package) driven by Playwright for Python.

What every browser test gets here, and why:

- ``browser``: one Chromium for the session, Debian's ``/usr/bin/chromium`` launched by
  Playwright with ``executable_path`` (``playwright install`` is never run: nothing is
  downloaded but the Debian and PyPI packages). Playwright gives the launch a fresh,
  temporary profile (user-data-dir) and removes it afterwards. Where Chromium or Playwright
  is missing, the tests **fail** saying what to install; they do not skip.
- ``new_page()`` / ``page``: a page in its own browser context (its own cookies: two people
  signed in at once, or two nodes whose session cookies share the host 127.0.0.1), with a
  1280x800 viewport and a default timeout. Every context is guarded by
  :class:`NetworkGuard`: a request to any host but loopback is aborted and fails the test
  (statistical offices' networks are closed; a page must not need a CDN). An uncaught
  script error or a Content-Security-Policy violation in a page fails the test too.
- ``screenshot(page, name)``: ``docs/screens/NAME.png``, shown in the README.
- ``hub``: a real ``privstats hub`` process on 127.0.0.1 (:class:`LocalFederation`), and
  ``add_node_with_pages``: a real ``privstats node run`` process serving its pages.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from privstats.errors import ServiceError
from privstats.local_federation import LocalFederation

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Error,
        Page,
        Playwright,
        Route,
    )

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "docs" / "screens"

#: Debian's Chromium; ``.ci/run`` apt-installs it (with ``chromium-driver``) when missing.
#: ``PRIVSTATS_CHROMIUM`` names another Chromium binary (a machine without Debian's).
CHROMIUM = Path(os.environ.get("PRIVSTATS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 800}
#: How long a click, fill, navigation or ``expect`` may wait before the test fails (ms).
DEFAULT_TIMEOUT_MS = 15_000

INSTALL_CHROMIUM = (
    f"the browser tests need Debian's Chromium at {CHROMIUM}, which is missing: install it "
    "with `apt-get install chromium chromium-driver` as root (`.ci/run` does this); "
    "`playwright install` is not used"
)
INSTALL_PLAYWRIGHT = (
    "the browser tests need Playwright for Python, which is not importable: install the test "
    "tools with `.venv/bin/pip install -e '.[test]'` (playwright>=1.45); `playwright install` "
    "is not needed, the tests use Debian's Chromium"
)

#: Hosts a page may load anything from: this machine's loopback only.
_LOOPBACK_NAMES = {"localhost"}
#: Schemes that never leave the browser.
_LOCAL_SCHEMES = {"data", "blob", "about"}


def is_loopback_url(url: str) -> bool:
    """True if ``url`` stays on this machine (loopback host, or a data:/blob:/about: URL)."""
    parts = urlsplit(url)
    if parts.scheme in _LOCAL_SCHEMES:
        return True
    host = parts.hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class NetworkGuard:
    """Aborts every request of a browser context that would leave loopback, and remembers it.

    Attached to every context the fixtures make, so that every page every browser test
    opens is checked: a page that pulls a script, font or stylesheet from a CDN fails.
    """

    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self._route)
        context.on("page", self._watch_page)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if is_loopback_url(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def _watch_page(self, page: Page) -> None:
        page.on("pageerror", self._page_error)
        page.on("console", self._console)

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(f"uncaught script error: {error.message}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.page_errors.append(f"CSP violation: {message.text}")

    def problems(self) -> list[str]:
        """What the pages did that they must not, in plain words (empty: nothing)."""
        found = [f"request outside 127.0.0.1 (blocked): {url}" for url in self.blocked]
        return found + self.page_errors


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver for the session; fails (never skips) when it is not installed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None:  # failed outside the except block: no chained traceback
        pytest.fail(INSTALL_PLAYWRIGHT, pytrace=False)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium, one for the session; fails saying what is missing."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_CHROMIUM, pytrace=False)
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
    )
    yield chromium
    chromium.close()


class PageOpener:
    """Opens pages, each in a fresh guarded context; lists what the pages did wrong."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._opened: list[tuple[BrowserContext, NetworkGuard]] = []

    def __call__(self) -> Page:
        context = self._browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        guard = NetworkGuard()
        guard.attach(context)
        self._opened.append((context, guard))
        return context.new_page()

    def guard(self, page: Page) -> NetworkGuard:
        """The guard of ``page``'s context (a test of the guard itself reads and clears it)."""
        for context, guard in self._opened:
            if context is page.context:
                return guard
        raise LookupError("this page was not opened by new_page")

    def close(self) -> list[str]:
        """Close every context; what its pages did that they must not (empty: nothing)."""
        problems: list[str] = []
        for context, guard in self._opened:
            context.close()
            problems += guard.problems()
        self._opened.clear()
        return problems


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageOpener]:
    """``new_page()`` opens a page in a fresh guarded context; misbehaving pages fail the test."""
    opener = PageOpener(browser)
    yield opener
    problems = opener.close()
    if problems:
        pytest.fail("the pages misbehaved:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page: PageOpener) -> Page:
    """A page in a fresh guarded context (1280x800, default timeout)."""
    return new_page()


@pytest.fixture
def expect() -> Any:
    """Playwright's ``expect`` (waits until the assertion holds), imported only when needed.

    Test modules take it from here rather than importing Playwright, so that a missing
    Playwright fails them with :data:`INSTALL_PLAYWRIGHT` instead of an import error.
    """
    try:
        from playwright.sync_api import expect as playwright_expect
    except ImportError:
        playwright_expect = None
    if playwright_expect is None:
        pytest.fail(INSTALL_PLAYWRIGHT, pytrace=False)
    playwright_expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    return playwright_expect


@pytest.fixture
def screens_dir() -> Path:
    """Where :func:`screenshot` writes: ``docs/screens`` (a test module may override it)."""
    return SCREENS


@pytest.fixture
def screenshot(screens_dir: Path) -> Callable[..., Path]:
    """``screenshot(page, name, full_page=False)``: save the page as ``NAME.png``; its path."""

    def take(page: Page, name: str, *, full_page: bool = False) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise ValueError(f"screenshot name {name!r}: use a-z, 0-9, _ and - only")
        screens_dir.mkdir(parents=True, exist_ok=True)
        path = screens_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


# -- a real federation on 127.0.0.1 ------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """A real ``privstats hub`` process on 127.0.0.1 for a test module, no nodes yet."""
    folder = tmp_path_factory.mktemp("fed")
    with LocalFederation(folder, node_timeout=10.0, poll_seconds=0.2) as federation:
        yield federation


#: The line ``privstats node run`` prints when its pages are on (the shared contract).
NODE_PAGES_LINE = re.compile(r"node pages: (http://127\.0\.0\.1:\d+/signin/\S+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def enable_node_pages(config: Path, port: int) -> None:
    """Turn a node's pages on, on ``port``, in its ``node.toml``.

    ==> HOOK FOR THE NODE PAGES: the key is the node-pages helper's (``web_port`` in the
    ``[node]`` table, node/config/schema.py); keep this in step with it. A node that does
    not know the key refuses its config, so the test says so at once.
    """
    text = config.read_text(encoding="utf-8")
    if "\n[node]\n" not in text:
        raise ValueError(f"{config}: no [node] table to add web_port to")
    config.write_text(text.replace("\n[node]\n", f"\n[node]\nweb_port = {port}\n", 1), "utf-8")


def start_node_with_pages(
    federation: LocalFederation,
    name: str,
    datasets: Mapping[str, tuple[str | Path, Sequence[str]]],
    *,
    timeout: float = 60.0,
    **policy: Any,
) -> str:
    """Enrol and start node ``name`` with its pages on; return its one-time sign-in link.

    ``policy`` goes to :meth:`LocalFederation.add_node` (``approval="ask"`` for a data
    owner who decides on the page). The link is read from the line the node prints.
    """
    config = federation.add_node(name, datasets, start=False, **policy)
    enable_node_pages(config, free_port())
    federation.start_node(name)
    deadline = time.monotonic() + timeout
    while True:
        found = NODE_PAGES_LINE.search(federation.log(name))
        if found:
            return found.group(1)
        process = federation.nodes[name]
        if process.poll() is not None:
            raise ServiceError(
                f"node {name!r} exited ({process.returncode}) before printing its pages' "
                f"link:\n{federation.log(name)[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(f"node {name!r} printed no 'node pages: …' line in {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def add_node_with_pages() -> Callable[..., str]:
    """:func:`start_node_with_pages`, for tests and module-scoped federations."""
    return start_node_with_pages
