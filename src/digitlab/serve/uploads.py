"""The image in a /api/predict request: read the body in chunks up to a limit, then take the image out of it.

Accepted: multipart (field `file`, as a browser form sends it), a raw body (e.g. `Content-Type: image/png`), or
JSON {"image": "<base64 or data: URL>"}. Nothing past MAX_REQUEST is kept, with or without a Content-Length
(chunked uploads too): the answer is a 413. The rest of such a body is read and dropped, up to DRAIN_BYTES and
DRAIN_SECONDS, before the answer goes out: a client that sends its whole body before reading (curl, requests,
http.client) would otherwise meet a connection reset instead of the 413. Past those bounds the connection is closed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

MAX_IMAGE = 2 * 1024 * 1024  # bytes of image per request
MAX_REQUEST = int(MAX_IMAGE * 1.4) + 4096  # bytes of body: room for base64 (4/3) and multipart framing
DRAIN_BYTES = 64 * 1024 * 1024  # of an over-limit body, read and dropped so that the client can read its 413
DRAIN_SECONDS = 10.0


def too_large(size: int | None = None) -> HTTPException:
    what = f"request of {size} bytes" if size is not None else "request"
    # Connection: close makes the server drop the connection instead of draining the unread rest of the body
    return HTTPException(status_code=413, detail=f"{what} is over the 2 MB image limit; send a smaller image",
                         headers={"connection": "close"})


async def _drop_rest(stream: AsyncIterator[bytes], size: int) -> int | None:
    """Read and drop the rest of an over-limit body, within DRAIN_BYTES and DRAIN_SECONDS; its whole size when it
    ended within them, else None (the connection is then closed under the client)."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in stream:
                size += len(chunk)
                if size > DRAIN_BYTES:
                    return None
    except (TimeoutError, ClientDisconnect):
        return None
    return size


async def read_body(request: Request, limit: int = MAX_REQUEST) -> bytes:
    """The whole body, or a 413 once it passes `limit` bytes (nothing past the limit is kept)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        if int(declared) > DRAIN_BYTES:
            raise too_large(int(declared))
        raise too_large(await _drop_rest(request.stream(), 0) and int(declared))
    chunks, size = [], 0
    stream = request.stream()
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise too_large(await _drop_rest(stream, size))
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(status_code=400, detail="the client went away before sending the whole request") from None
    return b"".join(chunks)


def _replay(request: Request, body: bytes) -> Request:
    """A Request over the same scope whose body is `body` (already read and size-checked)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


async def _from_multipart(request: Request, body: bytes) -> bytes:
    try:
        form = await _replay(request, body).form(max_files=1, max_fields=8)
    except (MultiPartException, ValueError, KeyError):
        raise HTTPException(status_code=400, detail="malformed multipart body; send the image in a field 'file'") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(status_code=400, detail="multipart request without a 'file' field")
        return await upload.read()
    finally:
        await form.close()


def _from_json(body: bytes) -> bytes:
    try:
        text = json.loads(body)["image"]
        if text.startswith("data:") and "," in text[:100]:
            text = text.split(",", 1)[1]
        return base64.b64decode(text, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise HTTPException(status_code=400, detail='JSON body must be {"image": "<base64 image>"}') from None


async def image_bytes(request: Request) -> bytes:
    """The image file's bytes from any of the three request shapes; 4xx with one line otherwise."""
    body = await read_body(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        data = await _from_multipart(request, body)
    elif kind == "application/json":
        data = _from_json(body)
    else:
        data = body
    if not data:
        raise HTTPException(status_code=400, detail="empty image")
    if len(data) > MAX_IMAGE:
        raise HTTPException(status_code=413, detail=f"image of {len(data)} bytes is over the 2 MB limit")
    return data
