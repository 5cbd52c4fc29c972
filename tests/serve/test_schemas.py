"""/docs shows what every /api/* route answers: the OpenAPI document names a response schema for each."""

from digitlab.serve.app import create_app


def test_every_api_route_documents_its_answer(runs_root):
    spec = create_app(runs_root).openapi()
    wanted = {("/healthz", "get"): "Health", ("/api/runs", "get"): "RunList", ("/api/runs/{name}", "get"): "RunDetail",
              ("/api/predict", "post"): "Prediction", ("/api/collect", "get"): "CollectState",
              ("/api/collect", "post"): "CollectState", ("/api/collect/undo", "post"): "CollectState"}
    for (path, method), schema in wanted.items():
        ok = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(f"/{schema}"), (path, ok)
    prediction = spec["components"]["schemas"]["Prediction"]["properties"]
    assert {"prediction", "label", "probability", "probabilities", "top_k", "classes", "model", "run", "input"} <= set(
        prediction)
    assert "class" in spec["components"]["schemas"]["RankedClass"]["properties"]


def test_a_prediction_answers_in_that_shape(client):
    from tests.test_preprocess import png_bytes, stroke_image

    answer = client.post("/api/predict", content=png_bytes(stroke_image())).json()
    assert answer["top_k"][0].keys() == {"class", "label", "probability"} and len(answer["probabilities"]) == 10
