"""FastAPI app: draw a digit and watch the model answer; browse runs; a REST API.

    GET  /                  the drawing page (static HTML/CSS/JS shipped in the package; no CDN)
    GET  /runs              the runs table, curves, confusion matrix and worst mistakes per run
    GET  /docs              the API page (Swagger UI's files come from a Python package: works offline)
    POST /api/predict       an image (multipart field `file`, a raw body, or JSON {"image": base64})
    GET  /api/runs          every trained run (as `digitlab runs --json`, run names only, no paths)
    GET  /api/runs/{name}   one run: its row, summary and figure URLs
    GET  /api/runs/{name}/figures/{file}.png
    GET  /collect           the drawing page with the Collect card (`serve --collect DIR`)
    GET  /api/collect       counts per class (or {"enabled": false})
    POST /api/collect?label=D   save the drawing as DIR/D/<content hash>.png (serve/collect.py)
    POST /api/collect/undo  remove the last digit this server saved
    GET  /healthz           answered on the event loop, whatever the workers are doing
Bad requests get a 4xx with a one-line message; an unforeseen failure a one-line 500 without a traceback. Image
decoding, preprocessing and forward passes run in a bounded worker pool (serve/limits.py), never on the event loop;
with batching on, concurrent predictions for one model share a forward pass (serve/batcher.py).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from PIL import Image

from digitlab import __version__
from digitlab.errors import CheckpointError, DigitlabError
from digitlab.preprocess import MAX_PIXELS, ImageError, decode, to_mnist
from digitlab.serve import catalog, pages
from digitlab.serve.batcher import Batcher
from digitlab.serve.collect import CollectLimits, Collector, disabled
from digitlab.serve.limits import LOOPBACK_HOSTS, HostCheck, WorkerPool, run_name, scrub_paths, shown, wait_job
from digitlab.serve.models import ModelCache, Served
from digitlab.serve.schemas import CollectState, Health, Prediction, Problem, RunDetail, RunList
from digitlab.serve.uploads import image_bytes

_WHY = {400: "a malformed request or a bad run name", 403: "a Host header the server was not started for",
        404: "no such run or figure (collect: collecting is off)",
        409: "the run's checkpoint cannot be served (collect: a limit reached, or nothing to undo)",
        413: "over the 2 MB image limit", 415: "not an image digitlab reads",
        422: "a bad parameter, or an image with no digit", 503: "too many requests waiting",
        504: "the request took too long", 507: "the collect folder's disk is full or not writable"}


def documented(*codes: int) -> dict:
    """The error answers a route may give, for its OpenAPI entry (the fuzzer holds the server to them)."""
    return {code: {"model": Problem, "description": _WHY[code]} for code in (403, 422, *codes)}


PREDICT_BODY = {"requestBody": {"required": True, "description": "The image: a file field `file`, raw image bytes, "
                                "or JSON {\"image\": base64}; at most 2 MB.", "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                       "required": ["file"]}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "object", "properties": {"image": {"type": "string"}},
                                    "required": ["image"]}}}}}
IMAGE_STATUS = {"too-large": 413, "unreadable": 415, "unsupported": 415, "content": 422}  # ImageError.kind -> HTTP
ERROR_STATUS = {ImageError: 422, CheckpointError: 409}  # other DigitlabErrors: 400


def input_png(image28: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image28).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def prepare(data: bytes) -> tuple[np.ndarray, str]:
    """Worker-pool job: image bytes -> (28, 28) uint8 model input and its PNG data URL."""
    image28 = to_mnist(decode(data, "upload"), "upload")
    return image28, input_png(image28)


def prepare_and_predict(data: bytes, served: Served) -> tuple[np.ndarray, str, np.ndarray]:
    """Worker-pool job of the unbatched mode: prepare, then a forward pass of one image."""
    image28, png = prepare(data)
    return image28, png, served.probabilities(image28[None])[0]


def create_app(runs_root: str | os.PathLike | None = None, default: str | os.PathLike | None = None,
               device: torch.device | None = None, *, hosts: frozenset[str] | None = LOOPBACK_HOSTS,
               batch: bool = True, workers: int | None = None, timeout_s: float = 15.0, max_batch: int = 64,
               max_wait_s: float = 0.002, collect_dir: str | os.PathLike | None = None,
               collect_limits: CollectLimits | None = None) -> FastAPI:
    """hosts: the Host names to answer (None: any). batch: gather concurrent predictions into one forward pass.
    collect_dir: where the Collect view saves a person's digits (None: collecting is off)."""
    from digitlab import runs

    root = Path(runs_root) if runs_root else runs.paths.runs_root()
    pool = WorkerPool(workers, timeout_s)
    cache = ModelCache(device or torch.device("cpu"), root)
    batchers: dict[str, Batcher] = {}
    batchers_lock = threading.Lock()
    default_target = Path(default) if default else None
    collector = Collector(collect_dir, collect_limits) if collect_dir is not None else None
    outside = catalog.outside_root(root, default_target)  # served and listed, though not in the runs folder

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for b in list(batchers.values()):
            b.close()
        pool.close()

    app = FastAPI(title="digitlab", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Draw a digit and watch the model answer; browse runs.")
    app.add_middleware(HostCheck, hosts=hosts)
    app.state.pool, app.state.cache, app.state.batchers = pool, cache, batchers
    app.state.max_pixels = MAX_PIXELS
    app.state.collector = collector

    @app.exception_handler(DigitlabError)
    async def digitlab_error(request: Request, exc: DigitlabError) -> JSONResponse:  # noqa: ARG001
        status = IMAGE_STATUS.get(exc.kind, 422) if isinstance(exc, ImageError) else next(
            (code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse(status_code=status, content={"detail": scrub_paths(str(exc), root)})

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:  # noqa: ARG001
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query") or "request"
        return JSONResponse(status_code=422, content={"detail": f"bad {where}: {first.get('msg', 'invalid value')}"})

    @app.exception_handler(Exception)
    async def last_resort(request: Request, exc: Exception) -> JSONResponse:  # noqa: ARG001
        # A case nobody foresaw: one line for the client; the server's log keeps the traceback for us.
        return JSONResponse(status_code=500, content={"detail": f"internal error ({type(exc).__name__}); "
                                                                "the server log has the details"})

    def run_dir(name: str) -> Path:
        if run_name(name) in outside:
            return outside[name]
        folder = root / name
        try:
            known = (folder / "config.toml").exists() or (folder / "checkpoints").is_dir()
        except OSError:  # e.g. a name the filesystem refuses
            known = False
        if not known:
            raise HTTPException(status_code=404, detail=f"unknown run {shown(name)}")
        return folder

    def default_choice(rows: list[dict]) -> tuple[str, Path] | None:
        """The model used when a request names none: the one given to `serve`, else the most accurate run whose
        model may run here (not one whose recorded code is untrusted: that would answer every request with 409)."""
        if default_target is not None:
            return default_target.name, default_target
        usable = [r for r in rows if not r.get("error") and r.get("trusted", True)]
        if not usable:
            return None
        best = max(usable, key=lambda r: r.get("best_test_acc") or 0)
        return best["run"], root / best["run"]

    def pick(run: str | None) -> tuple[str, Path]:
        if run:
            return run, run_dir(run)
        choice = default_choice(catalog.trained_runs(root, outside))
        if choice is None:
            raise HTTPException(status_code=404, detail="no trained runs yet: run `digitlab train` first")
        return choice

    def batcher_for(served: Served) -> Batcher:
        with batchers_lock:
            held = batchers.get(served.run)
            if held is None or held.forward != served.probabilities:  # new, or the run's weights were replaced
                if held is not None:
                    held.close()  # answers what it already holds, then its thread ends
                batchers[served.run] = Batcher(served.probabilities, max_batch, max_wait_s, name=served.run)
            return batchers[served.run]

    pages.add_routes(app)

    @app.get("/healthz", responses=documented(), response_model=Health)
    async def healthz() -> dict:
        stats = {run: b.stats() for run, b in list(batchers.items())}
        return {"status": "ok", "version": __version__, "models_loaded": len(cache.models), "batching": batch,
                "workers": pool.stats(), "batches": stats}

    @app.get("/api/runs", responses=documented(), response_model=RunList,
             response_model_exclude_unset=True)
    def api_runs() -> dict:
        rows = catalog.trained_runs(root, outside)
        choice = default_choice(rows)
        return {"runs": rows, "default": choice[0] if choice else None}

    @app.get("/api/runs/{name}", responses=documented(400, 404), response_model=RunDetail,
             response_model_exclude_unset=True)
    def api_run(name: str) -> dict:
        return catalog.run_detail(root, run_dir(name))

    @app.get("/api/runs/{name}/figures/{figure}", responses=documented(400, 404))
    def api_figure(name: str, figure: str):
        folder = run_dir(name)
        if figure not in catalog.FIGURES or not (folder / figure).is_file():
            raise HTTPException(status_code=404, detail=f"run {shown(name)} has no figure {shown(figure)}")
        return FileResponse(folder / figure, media_type="image/png")

    @app.post("/api/predict", responses=documented(400, 404, 409, 413, 415, 503, 504), openapi_extra=PREDICT_BODY,
              response_model=Prediction)
    async def api_predict(request: Request, run: str | None = None,
                          top_k: int = Query(3, ge=1, le=10, description="How many classes to rank (1-10).")) -> dict:
        started = time.monotonic()
        data = await image_bytes(request)
        name, target = pick(run) if run else await pool.run(pick, None)
        served = cache.cached(name, target) or await pool.run(cache.get, name, target)
        if batch:
            image28, png = await pool.run(prepare, data)
            left = pool.timeout_s - (time.monotonic() - started)
            probs = await wait_job(batcher_for(served).submit(image28), left)
        else:
            image28, png, probs = await pool.run(prepare_and_predict, data, served)
        described = served.describe(probs, max(1, min(top_k, len(served.classes))))
        return {"prediction": described["prediction"], "label": described["label"],
                "probability": described["probability"], "probabilities": [round(float(p), 6) for p in probs],
                "top_k": described["top_k"], "classes": list(served.classes), "model": served.model_name,
                "run": name, "input": png}

    @app.get("/api/collect", responses=documented(), response_model=CollectState,
             response_model_exclude_unset=True)
    def api_collect_state() -> dict:
        return collector.state() if collector else {"enabled": False}

    @app.post("/api/collect", responses=documented(400, 404, 409, 413, 415, 503, 504, 507), openapi_extra=PREDICT_BODY,
              response_model=CollectState, response_model_exclude_unset=True)
    async def api_collect(request: Request, label: int) -> dict:
        if collector is None:
            raise disabled()
        data = await image_bytes(request)
        return await pool.run(collector.save, data, label)

    @app.post("/api/collect/undo", responses=documented(404, 409, 503, 504, 507), response_model=CollectState,
             response_model_exclude_unset=True)
    async def api_collect_undo() -> dict:
        if collector is None:
            raise disabled()
        return await pool.run(collector.undo)

    return app
