"""The download path against a local HTTP server on 127.0.0.1: garbage, stalling and good mirrors."""

import gzip
import hashlib
import multiprocessing as mp
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from digitlab.data import idx
from digitlab.data.download import Wanted, download_files
from digitlab.errors import DataError

CONTENT = idx.encode(np.arange(1000, dtype=np.uint8) % 10)
GZ = gzip.compress(CONTENT, mtime=0)  # fixed bytes in every process
WANTED = [Wanted("labels-idx1-ubyte.gz", hashlib.sha256(CONTENT).hexdigest(), None)]


class Handler(BaseHTTPRequestHandler):
    hits: list = []
    delay = 0.0

    def do_GET(self):  # noqa: N802
        Handler.hits.append(self.path)
        if self.path.startswith("/good/"):
            time.sleep(Handler.delay)
            body = GZ
        elif self.path.startswith("/garbage/"):
            body = b"<html>not the file you want</html>" * 10
        elif self.path.startswith("/wrong/"):
            body = gzip.compress(CONTENT[:-1] + b"\x07")  # valid gzip, wrong content
        elif self.path.startswith("/stall/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(GZ)))
            self.end_headers()
            self.wfile.write(GZ[:10])
            self.wfile.flush()
            time.sleep(3)
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Handler.hits = []
    Handler.delay = 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_bad_mirrors_then_good(server, tmp_path):
    mirrors = [f"{server}/garbage/", f"{server}/stall/", f"{server}/wrong/", f"{server}/missing/", f"{server}/good/"]
    seen = []
    got = download_files(WANTED, mirrors, tmp_path, "test", timeouts=(2, 0.5),
                         progress=lambda name, done, total: seen.append(done))
    path = got["labels-idx1-ubyte.gz"]
    assert path.read_bytes() == GZ
    assert seen and seen[-1] == len(GZ)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]  # no temp files left behind


def test_all_fail_names_every_source(server, tmp_path):
    mirrors = [f"{server}/garbage/", f"{server}/stall/", f"{server}/wrong/", "http://127.0.0.1:9/"]
    with pytest.raises(DataError) as info:
        download_files(WANTED, mirrors, tmp_path, "test", timeouts=(2, 0.5))
    msg = str(info.value)
    assert "\n" not in msg
    assert "/garbage/" in msg and "not valid gzip" in msg
    assert "/stall/" in msg and "timeout" in msg
    assert "/wrong/" in msg and "checksum mismatch" in msg
    assert "127.0.0.1:9" in msg and "cannot connect" in msg
    assert "by hand" in msg
    assert not (tmp_path / "labels-idx1-ubyte.gz").exists()


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(GZ)
    download_files(WANTED, [f"{server}/good/"], tmp_path, "test")
    assert Handler.hits == []


def test_corrupt_existing_file_is_replaced(server, tmp_path):
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(b"junk")
    download_files(WANTED, [f"{server}/good/"], tmp_path, "test")
    assert (tmp_path / "labels-idx1-ubyte.gz").read_bytes() == GZ


def _fetch(url, dest, queue):
    try:
        got = download_files(WANTED, [url], dest, "test")
        queue.put(("ok", got["labels-idx1-ubyte.gz"].read_bytes() == GZ))
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put(("error", repr(exc)))


def test_two_processes_fetching_at_once(server, tmp_path):
    Handler.delay = 0.5  # keep the first download in flight while the second starts
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_fetch, args=(f"{server}/good/", tmp_path, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == [("ok", True), ("ok", True)]
    assert len(Handler.hits) == 1  # the second process found the verified file under the lock


def test_archive_md5_only(server, tmp_path):
    wanted = [Wanted("labels-idx1-ubyte.gz", None, hashlib.md5(GZ).hexdigest())]
    got = download_files(wanted, [f"{server}/good/"], tmp_path, "test")
    assert got["labels-idx1-ubyte.gz"].exists()
