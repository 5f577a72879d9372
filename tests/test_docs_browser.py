"""/docs in a real browser (Debian's chromium, driven by Playwright) that reaches nothing
beyond loopback: Swagger UI must come from the service itself, not from the internet."""

import urllib.parse

# The browser and page fixtures are in conftest.py.


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
