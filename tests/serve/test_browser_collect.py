"""The Collect view end to end in a real browser (Playwright + Debian's Chromium): draw and label digits on the
page, fine-tune a run on the folder they were saved in, and the new run predicts them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.predict import predict_files
from tests.serve.conftest import CHROMIUM, serve_process
from tests.serve.test_browser import ARTIFACTS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")]

# A person's way of writing three digits, as strokes on the 280x280 pad: a hooked 1, a 7 with a crossbar, a
# slanted 0. Each copy is shifted and stretched a little, as a hand never draws the same digit twice.
SHAPES = {
    1: [[(110, 80), (150, 50), (150, 230)]],
    7: [[(70, 60), (210, 60), (120, 235)], [(110, 150), (190, 150)]],
    0: [[(140, 45), (95, 80), (85, 170), (120, 230), (175, 215), (195, 130), (180, 65), (140, 45)]],
}
PER_CLASS = 5


def draw(page, strokes, dx=0, dy=0, stretch=1.0):
    canvas = page.locator("#pad").bounding_box()
    scale = canvas["width"] / 280
    for stroke in strokes:
        points = [(140 + (x - 140) * stretch + dx, 140 + (y - 140) * stretch + dy) for x, y in stroke]
        page.mouse.move(canvas["x"] + points[0][0] * scale, canvas["y"] + points[0][1] * scale)
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(canvas["x"] + x * scale, canvas["y"] + y * scale, steps=6)
        page.mouse.up()


def variant(i):
    return {"dx": (i % 3 - 1) * 14, "dy": (i % 2) * 12 - 6, "stretch": 0.85 + 0.07 * (i % 4)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("collect")
    trained = CliRunner().invoke(cli, ["train", "--dataset", "mnist-sample", "--device", "cpu", "--epochs", "2",
                                       "--lr", "0.05", "--set", "optim.momentum=0.9", "--run-dir",
                                       str(root / "runs" / "base")])
    assert trained.exit_code == 0, trained.output
    mine = root / "mine"
    with serve_process("--runs", str(root / "runs"), "--collect", str(mine)) as url:
        yield url, root, mine


def wait_answer(page):
    page.wait_for_function("document.querySelectorAll('#bars .bar').length === 10", timeout=15000)


def test_collect_label_fine_tune_and_predict(served, browser):
    url, root, mine = served
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url + "/collect")
    page.wait_for_selector("#labels button", timeout=15000)
    assert page.locator("#labels button").count() == 10
    saved = 0
    for digit, strokes in SHAPES.items():
        for i in range(PER_CLASS):
            draw(page, strokes, **variant(i))
            wait_answer(page)
            predicted = page.locator("#answer").inner_text()[0]
            if i == 0 and predicted == str(digit):  # right: one click on "Right" saves it under the prediction
                page.locator("#save-predicted").click()
            else:  # wrong (or any other): one click on the right digit corrects it
                page.locator(f"#labels button[data-label='{digit}']").click()
            saved += 1
            page.wait_for_function(f"document.querySelector('#collect-where').innerText.startsWith('{saved} saved')",
                                   timeout=15000)
    assert page.locator("#counts [data-cls='7']").inner_text() == f"7: {PER_CLASS}"
    draw(page, SHAPES[1], dx=30)  # one more, drawn again and relabelled (it moves), then both saves undone
    wait_answer(page)
    page.locator("#labels button[data-label='4']").click()
    page.wait_for_function(f"document.querySelector('#collect-where').innerText.startsWith('{saved + 1} saved')")
    draw(page, SHAPES[1], dx=30)
    wait_answer(page)
    page.locator("#labels button[data-label='9']").click()
    page.wait_for_function("document.querySelector('#collect-status').innerText.includes('relabelled from 4')",
                           timeout=15000)
    assert page.locator("#collect-where").inner_text().startswith(f"{saved + 1} saved")
    assert sorted(p.parent.name for p in mine.rglob("*.png") if p.parent.name in ("4", "9")) == ["9"]
    page.locator("#undo").click()
    page.wait_for_function("document.querySelector('#collect-status').innerText.includes('back to 4/')")
    page.locator("#undo").click()
    page.wait_for_function(f"document.querySelector('#collect-where').innerText.startsWith('{saved} saved')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-collect.png"))
    on_disk = sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*.png"))
    assert len(on_disk) == saved and {p.split("/")[0] for p in on_disk} == {"0", "1", "7"}

    before = accuracy(root / "runs" / "base", mine)
    tuned = root / "runs" / "tuned"
    result = CliRunner().invoke(cli, ["train", "--recipe", "fine-tune", "--init-from", str(root / "runs" / "base"),
                                      "--dataset", "folder", "--data-dir", str(mine), "--epochs", "30",
                                      "--device", "cpu", "--run-dir", str(tuned)])
    assert result.exit_code == 0, result.output
    after = accuracy(tuned, mine)
    print(f"collected digits read right: base run {before:.0%}, fine-tuned {after:.0%}")
    assert after >= 0.9 and after >= before

    page.goto(url + "/")  # the new run answers on the drawing page too
    page.wait_for_function("[...document.querySelectorAll('#model option')].some(o => o.value === 'tuned')",
                           timeout=15000)
    page.select_option("#model", "tuned")
    draw(page, SHAPES[7], **variant(2))
    wait_answer(page)
    assert page.locator("#answer").inner_text().startswith("7")
    assert page.locator("#modelinfo").get_attribute("title") == "tuned"
    page.close()


def accuracy(run: Path, mine: Path) -> float:
    results, errors = predict_files(run, [mine / d for d in ("0", "1", "7")], device="cpu")
    assert not errors
    return sum(Path(r["file"]).parent.name == r["label"] for r in results) / len(results)
