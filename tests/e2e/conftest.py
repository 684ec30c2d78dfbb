"""Fixtures of the browser suite: example servers, headless Chromium, and the demo page in it.

Chromium is Debian's (never ``playwright install``); tests/conftest.py skips every ``e2e`` test
when it or Playwright is missing. The SDK bundle (example_project/frontend/build.sh) and, for the
cross-origin test, django-cors-headers are checked here with the same rule: skip locally, fail
under SUPERTOKENS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import DemoPage, NetworkLog
from tests.e2e.server import ExampleServer, OtherOrigin, ServerConfig
from tests.server_process import REPO
from tests.services import chromium_path, services_required

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Playwright itself is imported inside the fixtures: where it is missing, tests/conftest.py
# skips (or fails) each e2e test instead of the whole directory failing to import.

BUNDLE = REPO / "example_project" / "static" / "vendor" / "supertokens.js"
ARTIFACTS = REPO / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (required: SUPERTOKENS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def sdk_bundle() -> Path:
    if not BUNDLE.is_file():
        skip_or_fail(f"{BUNDLE} is missing: run example_project/frontend/build.sh")
    return BUNDLE


@pytest.fixture(scope="session")
def example_servers(
    tmp_path_factory: pytest.TempPathFactory, sdk_bundle: Path
) -> Iterator[Callable[[ServerConfig], ExampleServer]]:
    """``get(config)``: the running example server for that config, started on first use."""
    servers: dict[ServerConfig, ExampleServer] = {}

    def get(config: ServerConfig) -> ExampleServer:
        if config not in servers:
            server = ExampleServer(config, tmp_path_factory.mktemp("example-server"))
            servers[config] = server  # registered first, so a failed start is still stopped
            server.start()
        return servers[config]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture
def server(example_servers: Callable[[ServerConfig], ExampleServer]) -> ExampleServer:
    """The default example server: 3-second access tokens, no blacklisting, rid anti-CSRF."""
    return example_servers(ServerConfig())


# ---------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:  # tests/conftest.py has skipped already; this is for type checkers
        pytest.skip("chromium is not installed")
    # Module scope, not session: while Playwright runs, its event loop counts as "running" in
    # this thread, and Django would refuse the ORM to any test that runs meanwhile
    # (SynchronousOnlyOperation). The allowance is for this module's fixtures only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Keep each phase's report on the item, so that fixtures can tell a failed test."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def open_demo(
    request: pytest.FixtureRequest, browser: Browser
) -> Iterator[Callable[..., DemoPage]]:
    """``open_demo(api, mode="cookie", url=None)``: a fresh browser profile on the demo page.

    Each call is a new browser context (no cookies, no storage). When the test fails, a
    screenshot, the SDK's events and the page's requests are left in artifacts/e2e/.
    """
    opened: list[DemoPage] = []

    def open_(api: str, mode: str = "cookie", url: str | None = None) -> DemoPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        log = NetworkLog(api)
        log.attach(page)
        demo = DemoPage(page=page, context=context, api=api, mode=mode, log=log)
        opened.append(demo)
        page.goto(url or (f"{api}/?mode=header" if mode == "header" else f"{api}/"))
        demo.wait_ready()
        return demo

    yield open_
    failed = getattr(request.node, "report_call", None)
    for index, demo in enumerate(opened):
        if failed is not None and failed.failed:
            _save_artifacts(request.node.name, index, demo)
        demo.context.close()


def _save_artifacts(test_name: str, index: int, demo: DemoPage) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / f"{test_name}-{index}".replace("/", "_")
    try:
        demo.page.screenshot(path=f"{stem}.png", full_page=True)
        lines = [f"events: {demo.events()}", "requests:"]
        lines += [f"  {exchange!r}" for exchange in demo.log.exchanges]
        Path(f"{stem}.txt").write_text("\n".join(lines) + "\n")
    except Exception as exc:  # noqa: BLE001 - a broken page must not hide the real failure
        Path(f"{stem}.txt").write_text(f"could not save artifacts: {exc!r}\n")


# ---------------------------------------------------------------------------------- another origin


@pytest.fixture(scope="session")
def other_origin() -> Iterator[OtherOrigin]:
    if importlib.util.find_spec("corsheaders") is None:
        skip_or_fail(
            "the cross-origin test needs django-cors-headers (pip install django-cors-headers)"
        )
    site = OtherOrigin()
    yield site
    site.close()
