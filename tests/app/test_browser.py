"""`r1track app` end to end in a real headless Chromium (Debian's, driven by Playwright's client;
no browser is downloaded): load the page, upload the bundled clip, draw a box with two clicks,
track, and check the overlay and the boxes the page hands back; then a bad upload, and a second
user who does not see the first one's results.

Needs /usr/bin/chromium (`make test` installs Debian's package when it is missing) and an
environment with the `app` extra: `.venv-app` (`make test` builds it: Gradio pins pillow<13, so it
stays out of the main one), or `R1TRACK_APP_PYTHON`. R1TRACK_NO_BROWSER=1 skips these tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "assets" / "demo.mp4"
FIRST_BOX = [
    float(v) for v in (REPO / "assets" / "demo.groundtruth.txt").read_text().split()[0].split(",")
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_python() -> str:
    """The Python of an environment with the `app` extra."""
    given = os.environ.get("R1TRACK_APP_PYTHON") or str(REPO / ".venv-app" / "bin" / "python")
    if not Path(given).exists():
        pytest.fail(f"{given} is missing: make test builds .venv-app (the app extra)")
    return given


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if os.environ.get("R1TRACK_NO_BROWSER") == "1":
        pytest.skip("R1TRACK_NO_BROWSER=1")
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                _app_python(),
                "-m",
                "r1track.cli",
                "app",
                "--port",
                str(port),
                "--max-frames",
                "100",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False"),
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"r1track app exited: {log.read_text()}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"r1track app did not start: {log.read_text()}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("R1TRACK_NO_BROWSER") == "1":
        pytest.skip("R1TRACK_NO_BROWSER=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def _upload(page, path):
    page.locator("#upload input[type=file]").set_input_files(str(path))


def _status(page) -> str:
    return page.locator("#status").inner_text()


def _click_box(page, box, natural=(256, 192)):
    """Two clicks on the first frame, at the corners of `box` (x, y, w, h in frame pixels)."""
    image = page.locator("#first-frame img")
    image.wait_for()
    bounds = image.bounding_box()
    scale = bounds["width"] / natural[0]
    x, y, w, h = box
    for cx, cy in ((x, y), (x + w, y + h)):
        image.click(position={"x": cx * scale, "y": cy * scale})
        page.wait_for_timeout(400)


def _fetch(page, href: str) -> bytes:
    return page.request.get(href).body()


def test_upload_draw_track_and_download(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    page.goto(app_url)
    _upload(page, CLIP)
    page.wait_for_function("document.querySelector('#status').innerText.includes('60 frames')")
    _click_box(page, FIRST_BOX)
    box = page.locator("#box textarea, #box input").first.input_value()
    drawn = [float(v) for v in box.split(",")]
    assert all(abs(a - b) <= 3 for a, b in zip(drawn, FIRST_BOX, strict=True)), (drawn, FIRST_BOX)
    page.locator("#add").click()
    page.wait_for_function("document.querySelector('#objects').innerText.includes('1')")
    page.locator("#track").click()
    page.wait_for_function(
        "document.querySelector('#status').innerText.includes('tracked')", timeout=240_000
    )
    assert "Refused" not in _status(page)
    video = page.locator("#overlay video")
    video.wait_for()
    overlay = _fetch(page, video.get_attribute("src"))
    (tmp_path / "overlay.mp4").write_bytes(overlay)
    from r1track.video import open_frames

    assert len(list(open_frames(tmp_path / "overlay.mp4"))) == 60
    links = [a.get_attribute("href") for a in page.locator("#results a").all()]
    names = sorted(link.rsplit("/", 1)[-1] for link in links)
    assert names == ["1_boxes.txt", "1_track.jsonl", "results.zip"], names
    assert all("/r1track-app-" in link for link in links)  # Gradio's copies: in the app's folder
    boxes_link = next(link for link in links if link.endswith("1_boxes.txt"))
    lines = _fetch(page, boxes_link).decode().split()
    assert len(lines) == 60
    first = [float(v) for v in lines[0].split(",")]
    assert all(abs(a - b) <= 3 for a, b in zip(first, FIRST_BOX, strict=True))
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    if os.environ.get("R1TRACK_SCREENSHOT"):
        page.screenshot(path=os.environ["R1TRACK_SCREENSHOT"], full_page=True)

    # a second user, at the same time: a page of their own, without the first one's results
    other = browser.new_page()
    other.goto(app_url)
    other.wait_for_selector("#objects")
    assert other.locator("#overlay video").count() == 0
    assert "no objects yet" in other.locator("#objects").inner_text()


def test_a_bad_upload_is_a_message_in_the_page(app_url, browser, tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 100)
    page = browser.new_page()
    page.goto(app_url)
    _upload(page, fake)
    page.wait_for_function("document.querySelector('#status').innerText.includes('Refused')")
    text = _status(page)
    assert "clip.mp4" in text and "Traceback" not in page.content()
    page.locator("#track").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('upload a video')")
