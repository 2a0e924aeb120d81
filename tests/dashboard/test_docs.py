"""The API explorers (/docs, /redoc) come from the service's own files: in the page and in a real
(headless) Chromium, against a real ``mixfarm serve`` process, no request leaves its origin."""

import os
import re

import httpx
import pytest

from tests.helpers.service import ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    process = ServiceProcess(tmp_path_factory.mktemp("docs") / "data")
    yield process
    process.stop()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_explorer_pages_reference_only_the_services_static_files(service, path):
    page = httpx.get(service.url + path, timeout=30)
    assert page.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert links and all(link.startswith("/static/vendor/") for link in links), links
    assert "http://" not in page.text and "https://" not in page.text
    for link in links:
        asset = httpx.get(service.url + link, timeout=30)
        assert asset.status_code == 200 and asset.headers["cache-control"] == "no-cache", link


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_explorer_policy_allows_no_other_host_and_no_inline_script_but_its_starter(service, path):
    policy = httpx.get(service.url + path, timeout=30).headers["content-security-policy"]
    assert "http" not in policy and "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    script_src = next(directive for directive in policy.split("; ") if directive.startswith("script-src "))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert script_src.split()[1:] == (["'self'", script_src.split()[-1]] if path == "/docs" else ["'self'"])


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}")
@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", "h2:has-text('Submit Job')")])
def test_the_explorer_renders_the_operations_without_leaving_the_origin(service, path, rendered):
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
            page.goto(service.url + path)
            page.wait_for_selector(rendered, timeout=RENDER_TIMEOUT_MS)
            assert page.locator(rendered).count() >= 1
        finally:
            browser.close()
    assert f"{service.url}/openapi.json" in requested
    elsewhere = [url for url in requested if not url.startswith((f"{service.url}/", "data:", f"blob:{service.url}/"))]
    assert elsewhere == []
    assert violations == []
