"""End to end in a real browser: Playwright drives Debian's Chromium against `digitlab serve` on loopback."""

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.data.sources import load_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("DIGITLAB_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "artifacts"))

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    trained = CliRunner().invoke(cli, ["train", "--dataset", "mnist-sample", "--device", "cpu", "--epochs", "6",
                                       "--set", "data.shuffle=true", "--lr", "0.05", "--set", "optim.momentum=0.9",
                                       "--run-dir", str(root / "sample-mlp")])
    assert trained.exit_code == 0, trained.output
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--port", str(port), "--runs", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("digitlab serve did not come up: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        tab = browser.new_page(viewport={"width": 1200, "height": 700})
        tab.goto(server + "/")
        yield tab
        browser.close()


def test_drawing_shows_a_prediction_with_ten_bars(page):
    canvas = page.locator("#pad").bounding_box()
    x0, y0 = canvas["x"], canvas["y"]
    page.mouse.move(x0 + 90, y0 + 60)
    page.mouse.down()
    for x, y in [(190, 60), (170, 110), (140, 170), (120, 230)]:  # a '7'
        page.mouse.move(x0 + x, y0 + y, steps=8)
    page.mouse.up()
    page.wait_for_function("document.querySelectorAll('#bars .bar').length === 10", timeout=15000)
    answer = page.locator("#answer").inner_text()
    assert answer[0].isdigit()
    assert page.locator("#input28").get_attribute("src").startswith("data:image/png")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-draw.png"))


def test_upload_an_mnist_digit_shows_its_class(page, tmp_path):
    ds = load_dataset("mnist-sample")
    digit, label = ds.test_images[0], int(ds.test_labels[0])
    path = tmp_path / "digit.png"
    Image.fromarray(digit).resize((112, 112)).save(path)
    page.locator("#clear").click()
    page.locator("#file").set_input_files(str(path))
    page.wait_for_function(f"document.querySelector('#answer').innerText.trim().startsWith('{label}')", timeout=15000)
    assert page.locator("#bars .bar").count() == 10
    page.screenshot(path=str(ARTIFACTS / "serve-upload.png"))


def test_runs_page_lists_the_run(page, server):
    page.goto(server + "/runs")
    page.wait_for_selector("#rows tr", timeout=10000)
    assert "sample-mlp" in page.locator("#rows").inner_text()
    page.wait_for_selector("#detail img", timeout=10000)
    shot = page.screenshot()
    assert Image.open(io.BytesIO(shot)).size[0] >= 1000
