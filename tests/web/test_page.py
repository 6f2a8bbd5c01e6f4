"""The page in a real browser (Debian's headless Chromium, driven by Playwright without any browser download)
against the real suite: ask and see the stream and its citations, open a quote in its source, give feedback and
find it in the review queue, upload with progress, see a collection question's table and chart; the page's own
notes for a confused or weak answer and for an API that does not answer. Screenshots go to .test-artifacts/web/;
no console errors in the flows a user follows."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.conftest import MOCK_ANSWER
from tests.servers import gateway

KEY = "key-web"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "web"
CHROMIUM = os.environ.get("RAGMESH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# As root in a container, without the sandbox; no background traffic to a network this machine does not have.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip
HANDBOOK = (
    b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every 45 "
    b"days by the security team. Old keys stop working 24 hours after rotation.\n"
)


@pytest.fixture(scope="module")
async def site(suite):
    settings = suite.gateway_settings(api_keys={KEY: "web-tenant"}, rate_limits={})
    async with gateway(settings) as api:
        uploaded = await api.post(
            "/v1/documents", headers={"X-API-Key": KEY}, files={"file": ("kestrel.md", HANDBOOK, "text/markdown")}
        )
        assert uploaded.status_code == 201, uploaded.text
        yield api


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser, site, request):
    context = await browser.new_context(base_url=str(site.base_url), viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.shot = lambda name: page.screenshot(path=ARTIFACTS / f"{request.node.name}-{name}.png", full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    await context.close()


async def _signed_in(page: Page, query: str = "") -> None:
    await page.goto(f"/ui/{query}")
    await page.fill("#key", KEY)
    await page.click("#key-form button")
    await expect(page.locator('.tab[data-tab="operators"]')).to_be_visible()


async def test_ask_streams_the_answer_and_its_citations_open_their_source(page):
    await _signed_in(page)
    await page.fill("#question", "How often must Kestrel API keys be rotated?")
    asked = time.monotonic()
    await page.click("#ask-form button")
    await expect(page.locator("#typing")).to_be_visible()
    await expect(page.locator("#typing")).to_be_hidden()
    assert time.monotonic() - asked >= 0.8  # the typing indicator lasts at least 800 ms
    await expect(page.locator("#answer")).to_have_text(MOCK_ANSWER)
    quote = page.locator("#citations .quote").first
    await expect(quote).to_contain_text("45 days")
    await page.shot("answer")
    await quote.click()
    await expect(page.locator("#source mark")).to_contain_text("rotated every 45 days")
    await expect(page.locator("#source-title")).to_have_text("Kestrel security handbook")
    await page.shot("source")
    assert page.console_errors == []


async def test_feedback_reaches_the_review_queue_where_it_is_labelled(page, site):
    await _signed_in(page)
    await page.fill("#question", "Who rotates the Kestrel keys?")
    await page.click("#ask-form button")
    await expect(page.locator("#feedback")).to_be_visible()
    await page.click('#feedback button[data-thumb="down"]')
    await expect(page.locator("#feedback-note")).to_have_text("Thanks, noted.")
    await page.click('.tab[data-tab="operators"]')
    item = page.locator("#reviews li").filter(has_text="Who rotates the Kestrel keys?")
    await expect(item).to_contain_text("negative_feedback")
    await item.get_by_role("button", name="Wrong").click()
    await expect(item).to_contain_text("labelled")
    await expect(page.locator("#keys tbody tr")).to_have_count(0)  # bootstrap keys are not stored keys
    await expect(page.locator("#costs table tbody tr").first).to_be_visible()
    await expect(page.locator("#caches table").first).to_contain_text("hit rate")
    await page.fill("#key-name", "reader")
    await page.click("#key-create button")
    await expect(page.locator("#key-created")).to_contain_text("New key (shown once): ")
    await expect(page.locator("#keys tbody tr").filter(has_text="reader")).to_contain_text("query")
    await page.shot("operators")
    labelled = await site.get("/v1/admin/reviews?status=labelled", headers={"X-API-Key": KEY})
    assert any(i["question"] == "Who rotates the Kestrel keys?" for i in labelled.json()["items"])
    assert page.console_errors == []


async def test_upload_shows_the_jobs_progress_then_the_document(page, tmp_path):
    manual = tmp_path / "osprey.md"
    manual.write_text("# Osprey pump manual\n\nThe Osprey intake filter is replaced every 600 hours.\n")
    await _signed_in(page)
    await page.click('.tab[data-tab="documents"]')
    await page.set_input_files("#files", str(manual))
    await page.fill("#tags", "pumps")
    await page.click("#upload-form button")
    await expect(page.locator("#job-state")).to_contain_text("1 of 1 finished", timeout=60_000)
    assert await page.locator("#job-progress").evaluate("p => p.value === p.max")
    row = page.locator("#document-list tbody tr").filter(has_text="Osprey pump manual")
    await expect(row).to_be_visible()
    await page.shot("uploaded")
    await row.get_by_role("button", name="Delete").click()
    await expect(row).to_have_count(0)
    assert page.console_errors == []


async def test_a_collection_question_shows_its_table_and_chart(page):
    await _signed_in(page)
    await page.fill("#question", "How many documents per source?")
    await page.click("#ask-form button")
    await expect(page.locator("#collection table")).to_contain_text("documents")
    assert await page.locator("#collection svg rect").count() >= 1
    await page.shot("collection")
    assert page.console_errors == []


def _stream(done: dict) -> str:
    events = [("token", {"text": "Perhaps every 45 days."}), ("citations", []), ("done", done)]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


async def test_a_confused_or_weak_answer_says_so(page):
    """The API's answer shapes the page: its stream is replayed here through the browser's own routing."""
    done = {"answer_id": "ans_x", "confidence": 0.3, "no_context": False, "is_confused": True, "collection": None}

    async def replay(route):
        await route.fulfill(status=200, content_type="text/event-stream", body=_stream(done))

    await _signed_in(page)
    await page.route("**/v1/query", replay)
    await page.fill("#question", "keys?")
    await page.click("#ask-form button")
    await expect(page.locator("#notice")).to_have_text("I'm not sure, but here is what I found…")
    await expect(page.locator("#rephrase")).to_have_text("Could you rephrase that?")
    await page.shot("unsure")


async def test_an_api_that_does_not_answer_is_reported_as_offline(page):
    async def silent(route):
        await page.wait_for_timeout(3_000)  # longer than the page waits (timeout_ms=1000)
        await route.abort()

    await _signed_in(page, "?timeout_ms=1000")
    await page.route("**/v1/query", silent)
    await page.fill("#question", "Anyone there?")
    await page.click("#ask-form button")
    await expect(page.locator("#error")).to_contain_text("did not answer within 1 s")
    await expect(page.locator("#typing")).to_be_hidden()
    await page.shot("offline")


async def test_the_page_is_served_with_a_strict_content_security_policy(site):
    home = await site.get("/", follow_redirects=True)
    assert home.status_code == 200 and "<title>ragmesh</title>" in home.text
    assert "default-src 'self'" in home.headers["Content-Security-Policy"]
    assert (await site.get("/ui/app.js")).headers["content-type"].startswith("text/javascript")
