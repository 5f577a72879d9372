"""/docs in a real browser (Debian's chromium, driven by Playwright) that reaches nothing
beyond loopback: Swagger UI must come from the service itself, not from the internet."""

import shutil
import urllib.parse

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root), no GPU, no traffic of the browser's own, no name resolved
# but loopback's: a page that needs the internet stays blank, as it would offline.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright; never a browser download."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"No browser at {CHROMIUM}: install Debian's chromium package "
                    "(apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    """A fresh page whose requests beyond loopback are refused, and listed in
    page.outside."""
    context = browser.new_context()
    page = context.new_page()
    page.outside = []

    def loopback_only(route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in LOOPBACK:
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    yield page
    context.close()


def test_docs_render_the_operations_offline(server, page):
    page.goto(server.base_url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 20
    assert any(path.replace("\u200b", "") == "/jobs/batch" for path in paths), paths
    assert page.outside == []


def test_the_root_leads_to_the_rendered_docs(server, page):
    page.goto(server.base_url + "/")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert urllib.parse.urlsplit(page.url).path == "/docs"
    assert page.outside == []
