"""The browser harness itself: Chromium opens a real hub's pages, and the guards hold.

These prove that the fixtures every browser test relies on work: Debian's Chromium
driven by Playwright reaches a real ``privstats hub`` process on 127.0.0.1, screenshots
come out at 1280x800, a request to any host but loopback is blocked and fails the test,
a script error fails it too, and without Chromium the tests fail saying what to install.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from privstats.local_federation import LocalFederation

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page

    from .conftest import PageOpener

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def screens_dir(tmp_path: Path) -> Path:
    """The harness's screenshots are not the pages' and stay out of docs/screens."""
    return tmp_path / "screens"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chromium_renders_a_page(page: Page) -> None:
    page.set_content("<main><h1>privstats</h1></main>")
    assert page.inner_text("h1") == "privstats"


def test_a_real_hub_answers_in_chromium_and_the_screenshot_is_1280x800(
    hub: LocalFederation, page: Page, screenshot: Callable[..., Path], screens_dir: Path
) -> None:
    assert hub.url.startswith("http://127.0.0.1:")
    response = page.goto(f"{hub.url}/api/v1/health")
    assert response is not None and response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"

    response = page.goto(f"{hub.url}/api/v1/openapi.json")
    assert response is not None and response.status == 200
    api = json.loads(page.inner_text("body"))
    assert "/api/v1/jobs" in api["paths"]

    path = screenshot(page, "hub-openapi")
    assert path == screens_dir / "hub-openapi.png"
    assert _png_size(path) == (1280, 800)
    assert _png_size(screenshot(page, "hub-openapi-full", full_page=True))[0] == 1280


def test_a_request_outside_loopback_is_blocked_and_reported(
    hub: LocalFederation, new_page: PageOpener
) -> None:
    page = new_page()
    guard = new_page.guard(page)
    page.goto(f"{hub.url}/api/v1/health")
    fetch = "url => fetch(url).then(r => r.status, () => 'refused')"
    # loopback passes, under either name for it
    assert page.evaluate(fetch, f"{hub.url}/api/v1/health") == 200
    local = hub.url.replace("127.0.0.1", "localhost")
    assert page.evaluate(fetch, f"{local}/api/v1/health") in (200, "refused")  # CORS
    assert guard.blocked == []

    # what a page pulling from a CDN or phoning home would do: every one is stopped
    cdn = "https://cdn.jsdelivr.net/npm/htmx.org@2/dist/htmx.min.js"
    image = "http://198.51.100.7/pixel.png"
    assert page.evaluate(fetch, "https://example.com/") == "refused"
    loaded = page.evaluate(
        """([script, image]) => Promise.all([script, image].map(src => new Promise(done => {
               const el = document.createElement(src.endsWith('.js') ? 'script' : 'img');
               el.onload = () => done('loaded');
               el.onerror = () => done('refused');
               el.src = src;
               document.body.append(el);
           })))""",
        [cdn, image],
    )
    assert loaded == ["refused", "refused"]
    assert guard.blocked == ["https://example.com/", cdn, image]
    problems = guard.problems()
    assert all(p.startswith("request outside 127.0.0.1 (blocked): ") for p in problems)
    guard.blocked.clear()  # this test expects them; any other test would fail here


def test_a_script_error_in_a_page_is_reported(new_page: PageOpener) -> None:
    page = new_page()
    guard = new_page.guard(page)
    page.set_content("<script>throw new Error('boom from the page')</script>")
    page.wait_for_function("() => document.readyState === 'complete'")
    assert guard.problems() == ["uncaught script error: boom from the page"]
    guard.page_errors.clear()


@pytest.mark.parametrize("missing", ["chromium", "playwright"])
def test_without_the_browser_the_tests_fail_saying_what_to_install(
    tmp_path: Path, missing: str
) -> None:
    env: dict[str, Any] = dict(os.environ)
    if missing == "chromium":
        env["PRIVSTATS_CHROMIUM"] = str(tmp_path / "no-chromium")
        hint = "apt-get install chromium chromium-driver"
    else:  # a package that shadows Playwright and cannot be imported, as if it were absent
        shadow = tmp_path / "shadow" / "playwright"
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text("raise ImportError('no playwright here')\n")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(shadow.parent), env.get("PYTHONPATH", "")) if p
        )
        hint = "install the test tools with `.venv/bin/pip install -e '.[test]'`"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__)}::test_chromium_renders_a_page",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert hint in out, out
    assert "skipped" not in out and "1 error" in out, out
