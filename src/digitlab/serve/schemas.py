"""The shapes of the REST API's answers, as pydantic models: FastAPI checks every answer against them and /docs shows
them. Rows of runs allow more keys than they name (a run folder records more than the table needs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Every error answer: one line saying what is wrong and what to do (run names, never paths of the machine)."""

    detail: str


class RankedClass(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: int = Field(alias="class", description="class index")
    label: str
    probability: float


class Prediction(BaseModel):
    """POST /api/predict: the answer for one image."""

    prediction: int = Field(description="the class index with the highest probability")
    label: str = Field(description="that class's name")
    probability: float
    probabilities: list[float] = Field(description="one per class, in `classes` order")
    top_k: list[RankedClass]
    classes: list[str]
    model: str = Field(description="the model's name (a registry name, or your own FILE.py:Name)")
    run: str = Field(description="the run that answered")
    input: str = Field(description="the 28x28 image exactly as the model saw it, as a data: URL (PNG)")


class Health(BaseModel):
    status: str
    version: str
    models_loaded: int
    batching: bool
    workers: dict[str, Any]
    batches: dict[str, Any]


class RunRow(BaseModel):
    """One run as the runs table shows it (digitlab.records.RunRow, as `digitlab runs --json` gives it, paths left
    out); only `run` and `error` when the folder cannot be read. The record reads every value by its type, so a
    damaged run folder's odd values arrive here as null, never a 500."""

    model_config = ConfigDict(extra="allow")

    run: str
    trusted: bool | None = Field(None, description="false: its model is code not on this user's trust list (409 "
                                                     "until `digitlab trust RUN`)")
    status: str | None = Field(None, description="running | finished | stopped | failed | interrupted | imported")
    recipe: str | None = None
    model: str | None = None
    params: int | None = None
    epochs: int | None = None
    best_test_acc: float | None = Field(None, description="percent")
    final_test_acc: float | None = Field(None, description="percent")
    final_test_loss: float | None = None
    final_train_loss: float | None = None
    train_seconds: float | None = None
    images_per_second: float | None = None
    data: str | None = Field(None, description="the dataset's name")
    data_source: str | None = None
    fallback: bool | None = Field(None, description="true: the offline sample stood in for the data asked for")
    date: str | None = None
    error: str | None = None


class RunList(BaseModel):
    runs: list[RunRow]
    default: str | None = Field(description="the run that answers a prediction naming none")


class RunDetail(RunRow):
    summary: dict[str, Any]
    figures: dict[str, str] = Field(description="figure name -> its URL")


class CollectState(BaseModel):
    """GET /api/collect, and every save / undo: where the collect folder stands."""

    model_config = ConfigDict(extra="allow")

    enabled: bool
    classes: list[str] | None = None
    counts: dict[str, int] | None = None
    total: int | None = None
    can_undo: bool | None = None
    limits: dict[str, Any] | None = None
    # a save's answer
    saved: bool | None = Field(None, description="false: this drawing was already kept under this digit")
    duplicate: bool | None = None
    file: str | None = Field(None, description="where it is kept: LABEL/HASH.png inside the collect folder")
    label: str | None = None
    relabelled_from: str | None = Field(None, description="the digit it was kept under before this save, if another")
    # an undo's answer
    undone: str | None = Field(None, description="the file the undo took back")
    restored: str | None = Field(None, description="a relabel's undo: where the drawing is kept again")
