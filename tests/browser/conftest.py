"""Browser tests: headless Chromium driven by Playwright against pytest-django's live server.

Chromium is Debian's (``/usr/bin/chromium``), never a browser that Playwright downloads.
Without it the browser tests are skipped with the reason in the summary, unless
``TSOPS_REQUIRE_BROWSER=1`` (set by CI), which turns the skip into an error.

Every page a test visits is saved as a screenshot under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

# Playwright's sync API runs an asyncio event loop in the main thread, where the tests also
# use the ORM; Django would otherwise refuse ORM calls there as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOT_FOUND = "Chromium not found: install Debian's chromium package or set CHROMIUM_PATH"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 800}
# Test passwords are shared with tests.conftest.make_member.
PASSWORD = "correct-horse-battery"

# Screenshot folder and running number of each open page, keyed by id(page).
_shots: dict[int, list] = {}


def _safe(name: str) -> str:
    """``name`` made safe as a file name."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def find_chromium() -> str | None:
    """CHROMIUM_PATH if set (it must exist), else the first Debian location that exists."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    return next((path for path in CHROMIUM_CANDIDATES if Path(path).is_file()), None)


def _browser_required() -> bool:
    return os.environ.get("TSOPS_REQUIRE_BROWSER", "").lower() in {"1", "true", "yes"}


def _empty_artifacts_once_per_run() -> None:
    """Start the run with an empty screenshot folder. The workers of a parallel run share the
    folder (and pytest-xdist's run id): the first to get here empties it, under a lock, and
    the others keep what it has written since."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS.parent / ".browser.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = ARTIFACTS / ".run"
        if not run or not marker.is_file() or marker.read_text() != run:
            shutil.rmtree(ARTIFACTS, ignore_errors=True)
            ARTIFACTS.mkdir()
            marker.write_text(run)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium for the whole session."""
    executable = find_chromium()
    if executable is None:
        configured = os.environ.get("CHROMIUM_PATH")
        reason = (
            f"{NOT_FOUND} (CHROMIUM_PATH={configured!r} does not exist)"
            if configured
            else NOT_FOUND
        )
        if _browser_required():
            pytest.fail(f"{reason}; TSOPS_REQUIRE_BROWSER is set", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    _empty_artifacts_once_per_run()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def console_messages() -> list:
    """Everything the page printed to the browser console (Playwright ConsoleMessage objects)."""
    return []


@pytest.fixture
def page(browser, live_server, request, console_messages) -> Iterator:
    """A fresh browser context (no cookies) per test, with its base URL at the live server."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("console", lambda message: console_messages.append(message))
    folder = ARTIFACTS / _safe(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    _shots[id(page)] = [folder, 0]
    yield page
    _shots.pop(id(page), None)
    context.close()


def screenshot(page, label: str) -> Path:
    """Save the full page as test-artifacts/browser/<test>/<NN>-<label>.png."""
    state = _shots[id(page)]
    state[1] += 1
    state[0].mkdir(parents=True, exist_ok=True)
    path = state[0] / f"{state[1]:02d}-{_safe(label)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visit(page, path: str, label: str):
    """Open ``path`` on the live server, wait for it to load and keep a screenshot."""
    response = page.goto(path)
    page.wait_for_load_state("load")
    screenshot(page, label)
    return response


def submit_login(page, username: str, password: str, label: str = "after-sign-in"):
    """Fill and submit the sign-in form already on the page; return the response."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    screenshot(page, label)
    return navigation.value


def login(page, live_server, username: str, password: str = PASSWORD):
    """Sign in through the real login form, as a person would; return the final response."""
    visit(page, f"{live_server.url}/accounts/login/", "sign-in")
    return submit_login(page, username, password)
