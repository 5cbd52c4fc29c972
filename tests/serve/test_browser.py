"""End to end in a real browser: Playwright drives Debian's Chromium against `digitlab serve` on loopback."""

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.data.sources import load_dataset
from tests.serve.conftest import CHROMIUM, serve_process

ARTIFACTS = Path(os.environ.get("DIGITLAB_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "artifacts"))

LONG_NAME = ("a-run-with-a-very-long-descriptive-name-" * 6)[:220]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    trained = CliRunner().invoke(cli, ["train", "--dataset", "mnist-sample", "--device", "cpu", "--epochs", "6",
                                       "--set", "data.shuffle=true", "--lr", "0.05", "--set", "optim.momentum=0.9",
                                       "--run-dir", str(root / "sample-mlp")])
    assert trained.exit_code == 0, trained.output
    shutil.copytree(root / "sample-mlp", root / LONG_NAME)  # a second run whose name would widen the menu
    with serve_process("--runs", str(root)) as url:
        yield url


@pytest.fixture(scope="module")
def page(server, browser):
    tab = browser.new_page(viewport={"width": 1200, "height": 700})
    tab.goto(server + "/")
    yield tab
    tab.close()


@pytest.fixture()
def browser_page(browser):
    """New tabs of a given viewport size, closed after the test."""
    tabs = []

    def make(width: int, height: int):
        tabs.append(browser.new_page(viewport={"width": width, "height": height}))
        return tabs[-1]

    yield make
    for tab in tabs:
        tab.close()


def box(page, selector):
    return page.locator(selector).bounding_box()


def test_before_drawing_the_input_box_is_not_a_broken_image(page):
    page.wait_for_function("document.querySelectorAll('#model option').length === 2", timeout=15000)
    ok = page.evaluate("(() => { const i = document.querySelector('#input28'); "
                       "return i.complete && i.naturalWidth > 0; })()")
    assert ok  # a broken image has naturalWidth 0 (and shows the broken-image icon)
    seen = box(page, "#input28")
    assert seen["width"] == 140 and seen["height"] == 140  # the empty black 28x28 box, at its size
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-start.png"))


def test_drawing_shows_a_prediction_with_ten_bars(page):
    canvas = box(page, "#pad")
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


def draw_seven(page):
    canvas = box(page, "#pad")
    x0, y0 = canvas["x"], canvas["y"]
    scale = canvas["width"] / 280
    page.mouse.move(x0 + 90 * scale, y0 + 60 * scale)
    page.mouse.down()
    for x, y in [(190, 60), (170, 110), (140, 170), (120, 230)]:
        page.mouse.move(x0 + x * scale, y0 + y * scale, steps=8)
    page.mouse.up()
    page.wait_for_function("document.querySelectorAll('#bars .bar').length === 10", timeout=15000)


@pytest.mark.parametrize("width,height", [(1200, 900), (390, 844)])
def test_layout_with_a_long_run_name(browser_page, server, width, height):
    page = browser_page(width, height)
    page.goto(server + "/")
    page.wait_for_function("document.querySelectorAll('#model option').length === 2", timeout=15000)
    assert LONG_NAME in page.evaluate("[...document.querySelectorAll('#model option')].map(o => o.title).join(' ')")
    page.select_option("#model", LONG_NAME)  # the long name is the one shown in the menu
    draw_seven(page)
    assert page.locator("#modelinfo").get_attribute("title") == LONG_NAME  # answered by that run
    drawing, select, bars = box(page, ".card.drawing"), box(page, "#model"), box(page, "#bars")
    assert select["x"] + select["width"] <= drawing["x"] + drawing["width"] + 1  # the menu stays in its card
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    if width >= 1000:
        answer = box(page, ".card.answer")
        assert answer["x"] > drawing["x"] + drawing["width"] - 1 and abs(answer["y"] - drawing["y"]) < 2  # one row
        assert bars["y"] + bars["height"] <= height  # the bars are above the fold
        assert page.locator("#bars .bar").first.bounding_box()["width"] >= 150  # and long enough to read
    else:
        assert drawing["width"] <= width and box(page, "#pad")["x"] >= 0
        assert box(page, "#pad")["x"] + box(page, "#pad")["width"] <= width
        assert bars["x"] + bars["width"] <= width
    shot = ARTIFACTS / f"serve-layout-{width}x{height}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == width


def test_api_docs_work_offline(browser_page, server):
    page = browser_page(1200, 900)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:  # no network: anything fetched from elsewhere fails, as it would offline
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    assert "/api/predict" in page.locator(".swagger-ui").inner_text()
    assert outside == []
    page.screenshot(path=str(ARTIFACTS / "serve-docs.png"))
