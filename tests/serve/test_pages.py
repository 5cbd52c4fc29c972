import re

from digitlab.serve.app import create_app
from tests.serve.conftest import local_client


def test_docs_page_uses_only_local_assets(tmp_path):
    client = local_client(create_app(tmp_path))
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *["']([^"']+)["']""", page.text)
    urls = [a or b for a, b in urls]
    assert urls and all(u.startswith("/") for u in urls), urls  # nothing from a CDN or any other host
    assert "http://" not in page.text and "https://" not in page.text.replace("https://swagger.io", "")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    js = client.get("/static/swagger/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript") and len(js.content) > 100_000
    assert "SwaggerUIBundle" in js.text
    assert client.get("/static/swagger/../../pages.py").status_code == 404
    assert client.get("/static/swagger/index.html").status_code == 404


def test_static_files(tmp_path):
    client = local_client(create_app(tmp_path))
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/nope.js").status_code == 404
