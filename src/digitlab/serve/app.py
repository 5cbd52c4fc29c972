"""FastAPI app: draw a digit and watch the model answer; browse runs; a REST API.

    GET  /                  the drawing page (static HTML/CSS/JS shipped in the package; no CDN)
    GET  /runs              the runs table, curves, confusion matrix and worst mistakes per run
    POST /api/predict       an image (multipart field `file`, a raw body, or JSON {"image": base64})
    GET  /api/runs          every run (as `digitlab runs --json`)
    GET  /api/runs/{name}   one run: its row, summary and figure URLs
    GET  /api/runs/{name}/figures/{file}.png
    GET  /healthz
Bad requests get a 4xx with a one-line message, never a 500. Models are loaded once and reused.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from PIL import Image

from digitlab import __version__, runs
from digitlab.errors import DigitlabError
from digitlab.evaluate import load_model
from digitlab.predict import describe, probabilities
from digitlab.preprocess import MAX_PIXELS, ImageError, decode, to_mnist

MAX_BODY = 2 * 1024 * 1024  # bytes of image per request
FIGURES = ("loss.png", "confusion-test.png", "mistakes-test.png")


class ModelCache:
    """Load each model once; requests share it (inference runs under torch.inference_mode, no state)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.models: dict[str, tuple] = {}
        self.lock = threading.Lock()

    def get(self, key: str, target: Path):
        with self.lock:
            if key not in self.models:
                self.models[key] = load_model(target, self.device)
            return self.models[key]


def _static(name: str) -> str:
    return resources.files("digitlab.serve").joinpath("static", name).read_text(encoding="utf-8")


def safe_run_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or ".." in name or name.startswith(".") or "\x00" in name:
        raise HTTPException(status_code=400, detail=f"bad run name {name!r}: no path separators or '..'")
    return name


def input_png(image28: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image28).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def create_app(runs_root: str | os.PathLike | None = None, default: str | os.PathLike | None = None,
               device: torch.device | None = None) -> FastAPI:
    root = Path(runs_root) if runs_root else runs.paths.runs_root()
    cache = ModelCache(device or torch.device("cpu"))
    default_target = Path(default) if default else None
    app = FastAPI(title="digitlab", version=__version__,
                  description="Draw a digit and watch the model answer; browse runs.")

    @app.exception_handler(DigitlabError)
    async def digitlab_error(request: Request, exc: DigitlabError):  # noqa: ARG001
        status = 422 if isinstance(exc, ImageError) else 400
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    def run_dir(name: str) -> Path:
        folder = root / safe_run_name(name)
        if not (folder / "config.toml").exists() and not (folder / "checkpoints").is_dir():
            raise HTTPException(status_code=404, detail=f"unknown run '{name}'")
        return folder

    def trained_runs() -> list[dict]:
        return [r for r in runs.list_runs(root) if (Path(r["path"]) / "checkpoints").is_dir()]

    def default_choice(rows: list[dict]) -> tuple[str, Path] | None:
        """The model used when a request names none: the one given to `serve`, else the most accurate run."""
        if default_target is not None:
            return default_target.name, default_target
        if not rows:
            return None
        best = max(rows, key=lambda r: r["best_test_acc"] or 0)
        return best["run"], Path(best["path"])

    def pick(run: str | None) -> tuple[str, Path]:
        if run:
            return run, run_dir(run)
        choice = default_choice(trained_runs())
        if choice is None:
            raise HTTPException(status_code=404, detail="no trained runs yet: run `digitlab train` first")
        return choice

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return _static("index.html")

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page() -> str:
        return _static("runs.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in ("app.js", "runs.js", "style.css"):
            raise HTTPException(status_code=404, detail="not found")
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return HTMLResponse(_static(name), media_type=media)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "version": __version__, "models_loaded": len(cache.models)}

    @app.get("/api/runs")
    def api_runs() -> dict:
        rows = trained_runs()
        choice = default_choice(rows)
        return {"runs": rows, "default": choice[0] if choice else None}

    @app.get("/api/runs/{name}")
    def api_run(name: str) -> dict:
        folder = run_dir(name)
        row = runs.run_row(folder)
        figures = {f: f"/api/runs/{name}/figures/{f}" for f in FIGURES if (folder / f).exists()}
        summary = {}
        if (folder / "summary.json").exists():
            summary = runs.read_json(folder / "summary.json")
        return {**row, "summary": summary, "figures": figures}

    @app.get("/api/runs/{name}/figures/{figure}")
    def api_figure(name: str, figure: str):
        folder = run_dir(name)
        if figure not in FIGURES or not (folder / figure).exists():
            raise HTTPException(status_code=404, detail=f"run '{name}' has no {figure}")
        return FileResponse(folder / figure, media_type="image/png")

    async def image_bytes(request: Request) -> bytes:
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_BODY * 1.4 + 4096:  # base64 / multipart overhead allowed for
            raise HTTPException(status_code=413, detail=f"request of {declared} bytes is over the 2 MB image limit")
        body = await request.body()
        if len(body) > MAX_BODY * 1.4 + 4096:
            raise HTTPException(status_code=413, detail="request is over the 2 MB image limit")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(status_code=400, detail="multipart request without a 'file' field")
            data = await upload.read()
        elif kind == "application/json":
            try:
                payload = await request.json()
                text = payload["image"]
                if "," in text[:100] and text.startswith("data:"):
                    text = text.split(",", 1)[1]
                data = base64.b64decode(text, validate=True)
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise HTTPException(status_code=400, detail='JSON body must be {"image": "<base64 image>"}') from None
        else:
            data = body
        if not data:
            raise HTTPException(status_code=400, detail="empty image")
        if len(data) > MAX_BODY:
            raise HTTPException(status_code=413, detail=f"image of {len(data)} bytes is over the 2 MB limit")
        return data

    @app.post("/api/predict")
    async def api_predict(request: Request, run: str | None = None, top_k: int = 3) -> dict:
        data = await image_bytes(request)
        name, target = pick(run)
        try:
            gray = decode(data, "upload")
        except ImageError as exc:
            status = 413 if "pixel limit" in str(exc) or "too large" in str(exc) else 415
            raise HTTPException(status_code=status, detail=str(exc)) from None
        image28 = to_mnist(gray, "upload")
        model, ckpt = cache.get(name, target)
        probs = probabilities(model, ckpt, image28[None], cache.device)[0]
        classes = ckpt.info["preprocessing"].get("classes") or [str(i) for i in range(10)]
        described = describe(probs, classes, max(1, min(top_k, 10)))
        return {"prediction": described["prediction"], "label": described["label"],
                "probability": described["probability"], "probabilities": [round(float(p), 6) for p in probs],
                "top_k": described["top_k"], "classes": classes, "model": ckpt.model_name, "run": name,
                "input": input_png(image28)}

    app.state.max_pixels = MAX_PIXELS
    return app
