"""The map page in a real headless Chromium (Debian `chromium`, driven by Playwright).

Checked against a live in-process server (fixtures `live_server` / `live_server_empty` from
conftest.py): the contact line and a known observation are drawn where they should be, the count
shown matches the API, the page asks nothing of any host but 127.0.0.1 (Garant runs without
internet, so a CDN or a tile server would break it), and the console stays clean.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
LOAD_TIMEOUT_MS = 30_000
LOCAL_SCHEMES_WITHOUT_HOST = {"data", "blob", "about"}


class LiveServer(Protocol):
    url: str
    known_observation_id: str


def _chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = _chromium_path()
    if path is None:
        pytest.skip(
            "no chromium binary (apt-get install chromium); CI installs it, the browser tests need it"
        )
    pw = sync_api.sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


class PageWatch:
    """A page plus everything it requested and every error it logged."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.console_errors: list[tuple[str, str]] = []  # (text, url of the resource or script)
        self.page_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.console_errors.append((msg.text, str(msg.location.get("url", ""))))

    def foreign_requests(self) -> list[str]:
        """Requests to anything but 127.0.0.1 (data:/blob:/about: have no host and stay local)."""
        bad = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES_WITHOUT_HOST:
                continue
            if parts.scheme not in {"http", "https", "ws", "wss"} or parts.hostname != "127.0.0.1":
                bad.append(url)
        return bad


@pytest.fixture
def watched(browser: Any) -> Iterator[PageWatch]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    try:
        yield PageWatch(page)
    finally:
        context.close()


def _open_map(watch: PageWatch, base_url: str) -> None:
    watch.page.goto(base_url.rstrip("/") + "/")
    watch.page.wait_for_selector("body[data-loaded='true']", state="attached", timeout=LOAD_TIMEOUT_MS)


def _api_observations(base_url: str, bbox: str | None) -> list[dict[str, Any]]:
    """Every observation the API lists for the page's query, following `links.next`."""
    params: dict[str, str] | None = {"limit": "1000"}
    if bbox:
        params = {"limit": "1000", "bbox": bbox}
    features: list[dict[str, Any]] = []
    url: str | None = base_url.rstrip("/") + "/api/v1/observations"
    with httpx.Client(timeout=30) as client:
        for _ in range(1000):
            if url is None:
                break
            response = client.get(url, params=params)
            params = None  # `next` carries its own query
            assert response.status_code == 200, response.text
            body = response.json()
            features.extend(body["features"])
            nxt = (body.get("links") or {}).get("next")
            url = urljoin(url, nxt) if nxt else None
    return features


def test_map_draws_agreement_and_observations(
    live_server: LiveServer, watched: PageWatch, tmp_path: Path
) -> None:
    page = watched.page
    _open_map(watched, live_server.url)
    page.screenshot(path=str(tmp_path / "map.png"))

    assert page.get_attribute("body", "data-agreement") == "loaded"
    assert page.locator("#garant-message").is_hidden()

    # The contact line: an SVG path with our class, drawn at a readable size.
    line = page.locator("path.garant-contact-line").first
    box = line.bounding_box()
    assert box is not None, "the contact line has no box: not rendered"
    assert box["width"] > 100, box

    # The known observation has a marker, inside the map's frame, classed by its kind.
    obs_id = live_server.known_observation_id
    assert page.evaluate("id => window.garant.observations.has(id)", obs_id)
    marker = page.evaluate(
        """id => {
            const el = window.garant.observations.get(id).getElement();
            const r = el.getBoundingClientRect();
            const m = document.getElementById("garant-map").getBoundingClientRect();
            return {cls: Array.from(el.classList), x: r.x + r.width / 2, y: r.y + r.height / 2,
                    left: m.left, right: m.right, top: m.top, bottom: m.bottom};
        }""",
        obs_id,
    )
    assert marker["left"] <= marker["x"] <= marker["right"], marker
    assert marker["top"] <= marker["y"] <= marker["bottom"], marker
    assert "garant-obs" in marker["cls"], marker

    # The count shown is the API's count for the same query (the page's bbox).
    bbox = page.evaluate("window.garant.bbox")
    api_features = _api_observations(live_server.url, bbox)
    api_ids = {str(f["properties"]["id"]) for f in api_features}
    assert obs_id in api_ids
    known = next(f for f in api_features if str(f["properties"]["id"]) == obs_id)
    assert f"garant-obs-{known['properties']['kind']}" in marker["cls"], marker
    assert page.get_attribute("body", "data-observation-count") == str(len(api_ids))
    assert page.locator("#garant-observation-count").inner_text().strip() == str(len(api_ids))
    assert page.evaluate("window.garant.observations.size") == len(api_ids)

    # The popup names the kind, the source and the grades, as text.
    page.evaluate("id => window.garant.observations.get(id).openPopup()", obs_id)
    popup = page.locator(".leaflet-popup-content .garant-popup")
    popup.wait_for(state="visible")
    popup_text = popup.inner_text()
    assert obs_id in popup_text
    assert str(known["properties"]["source_id"]) in popup_text

    # The side panel is legend and layer switch: a row per zone, and the contact line toggles.
    zones = page.evaluate("Object.keys(window.garant.layers.zones).length")
    assert zones >= 1
    assert page.locator("#garant-sidebar label[data-layer^='zone-']").count() == zones
    line_switch = page.locator("#garant-sidebar label[data-layer='contact-line'] input")
    line_switch.uncheck()
    assert page.locator("path.garant-contact-line").count() == 0
    line_switch.check()
    assert page.locator("path.garant-contact-line").count() >= 1
    assert page.locator("#garant-agreement-id").inner_text().strip() != ""

    assert watched.foreign_requests() == []
    assert watched.page_errors == []
    assert watched.console_errors == []


def test_time_filter_refetches(live_server: LiveServer, watched: PageWatch) -> None:
    page = watched.page
    _open_map(watched, live_server.url)
    assert int(page.get_attribute("body", "data-observation-count") or "0") >= 1

    # A window long after anything was observed: nothing shown, and the URL keeps the filter.
    page.fill("#garant-start", "2100-01-01T00:00")
    page.fill("#garant-end", "2100-01-02T00:00")
    page.click("#garant-filter button[type='submit']")
    page.wait_for_selector("body[data-loaded='true']", state="attached")
    page.wait_for_function("document.body.dataset.observationCount === '0'")
    assert page.locator("#garant-observation-count").inner_text().strip() == "0"
    assert "start=2100-01-01T00" in page.url
    assert any("start=2100-01-01T00" in u and "/api/v1/observations" in u for u in watched.requests)

    # Clearing the filter brings the known observation back.
    page.click("#garant-filter button[type='reset']")
    page.wait_for_function("id => window.garant.observations.has(id)", arg=live_server.known_observation_id)

    assert watched.foreign_requests() == []
    assert watched.page_errors == []
    assert watched.console_errors == []


def test_logging_in_shows_what_the_user_may_see(
    live_server: LiveServer, watched: PageWatch, tmp_path: Path
) -> None:
    """The public sees the demo's public observations; a mechanism analyst who logs in on the
    page also sees those released to the mechanism; after logging out, the public view again."""
    from garant.domain.access import OrgKind, Role
    from garant.services import identity

    identity.add_user(
        live_server.db,
        "page-analyst",
        Role.ANALYST,
        "MECH",
        OrgKind.MECHANISM,
        "MECH",
        "correct horse battery",
    )
    page = watched.page
    _open_map(watched, live_server.url)
    public = int(page.get_attribute("body", "data-observation-count") or "0")
    assert page.locator("#garant-whoami").inner_text() == "public view"

    page.fill("#garant-login input[name='username']", "page-analyst")
    page.fill("#garant-login input[name='password']", "wrong password")
    page.click("#garant-login button[type='submit']")
    page.wait_for_selector("#garant-login-message:not([hidden])")
    assert "wrong password" in page.locator("#garant-login-message").inner_text()

    page.fill("#garant-login input[name='password']", "correct horse battery")
    page.click("#garant-login button[type='submit']")
    page.wait_for_function("() => document.body.dataset.session === 'page-analyst'")
    page.wait_for_function("n => Number(document.body.dataset.observationCount) > n", arg=public)
    mechanism_view = int(page.get_attribute("body", "data-observation-count") or "0")
    page.screenshot(path=str(tmp_path / "logged-in.png"))
    cookies = page.context.cookies()
    assert any(c["name"] == "garant_session" and c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)

    page.click("#garant-logout")
    page.wait_for_function("() => document.body.dataset.session === 'anonymous'")
    page.wait_for_function("n => Number(document.body.dataset.observationCount) === n", arg=public)
    # the demo has observations released to the mechanism only: the analyst saw more
    assert mechanism_view > public
    # the one error the browser logs is the refused wrong password
    unexpected = [e for e in watched.console_errors if not e[1].endswith("/api/v1/auth/session")]
    assert watched.page_errors == [] and unexpected == [] and len(watched.console_errors) == 1


def test_map_without_agreement_says_so(
    live_server_empty: LiveServer, watched: PageWatch, tmp_path: Path
) -> None:
    page = watched.page
    _open_map(watched, live_server_empty.url)
    page.screenshot(path=str(tmp_path / "map-empty.png"))

    assert page.get_attribute("body", "data-agreement") == "missing"
    message = page.locator("#garant-message")
    assert message.is_visible()
    assert "No ceasefire agreement is loaded" in message.inner_text()
    assert page.locator("path.garant-contact-line").count() == 0

    assert watched.foreign_requests() == []
    assert watched.page_errors == []
    # Chromium logs the expected 404 of the agreement as a console error; nothing else may appear.
    unexpected = [
        (text, url)
        for text, url in watched.console_errors
        if not ("404" in text and urlsplit(url).path.endswith("/api/v1/agreement/geojson"))
    ]
    assert unexpected == []


def test_map_draws_the_verified_bulletins_events(
    live_server: LiveServer, watched: PageWatch, tmp_path: Path
) -> None:
    """The events the public may see are drawn as rings at the impact, with their popup."""
    page = watched.page
    _open_map(watched, live_server.url)
    bbox = page.evaluate("window.garant.bbox")
    params: dict[str, Any] = {
        "limit": "1000",
        "kind": ["fire", "presence", "advance", "air", "interference", "allegation"],
    }
    if bbox:
        params["bbox"] = bbox
    listed = httpx.get(live_server.url + "/api/v1/events", params=params, timeout=30).json()["features"]
    assert listed, "the demo's verified bulletin has no public event to draw"
    assert page.get_attribute("body", "data-event-count") == str(len(listed))
    first = listed[0]
    drawn = page.evaluate(
        """id => {
            const el = window.garant.events.get(id).getElement();
            const r = el.getBoundingClientRect();
            return {cls: Array.from(el.classList), w: r.width};
        }""",
        first["id"],
    )
    assert "garant-event" in drawn["cls"] and f"garant-event-{first['properties']['level']}" in drawn["cls"]
    assert drawn["w"] > 5
    page.evaluate("id => window.garant.events.get(id).openPopup()", first["id"])
    popup = page.locator(".leaflet-popup-content .garant-popup")
    popup.wait_for(state="visible")
    text = popup.inner_text()
    assert first["id"] in text and first["properties"]["level"] in text
    # fire says what its place is: where it fell, or the firing point when nobody saw that
    fire = [f for f in listed if f["properties"]["kind"] == "fire"]
    assert fire and {f["properties"]["placed_at"] for f in fire} <= {"impact", "origin"}
    for f in {f["properties"]["placed_at"]: f for f in fire}.values():
        page.evaluate("id => window.garant.events.get(id).openPopup()", f["id"])
        shown = page.locator(".leaflet-popup-content .garant-popup")
        shown.wait_for(state="visible")
        expected = "firing point" if f["properties"]["placed_at"] == "origin" else "the impact"
        assert f["id"] in shown.inner_text() and expected in shown.inner_text()
    switch = page.locator("#garant-sidebar label[data-layer='events'] input")
    switch.uncheck()
    assert page.locator("path.garant-event").count() == 0
    switch.check()
    assert page.locator("path.garant-event").count() == len(listed)
    page.screenshot(path=str(tmp_path / "events.png"))
    assert watched.page_errors == [] and watched.console_errors == []
