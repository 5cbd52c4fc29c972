"""Import direction: inference and the web server never load the training loop; no import circles, counting the
imports inside functions too; `import digitlab` and the CLI's start-up load no torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import digitlab

SRC = Path(digitlab.__file__).parent
LOOP = ("digitlab.training.engine", "digitlab.training.loop", "digitlab.training.setup", "digitlab.training.book")


@pytest.mark.parametrize("module", ["digitlab.serve.app", "digitlab.inference", "digitlab.predict", "digitlab.evaluation",
                                    "digitlab.export"])
def test_inference_side_does_not_import_the_training_loop(module):
    code = f"import {module}, sys; print(','.join(m for m in {LOOP!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} imports {out}"


def module_name(path: Path) -> str:
    parts = ["digitlab", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, everywhere: bool = False) -> set[str]:
    """digitlab modules imported at module level (with `everywhere`, also inside functions and TYPE_CHECKING blocks:
    a lazy import is still a dependency, and a circle through one is still a circle)."""
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in (ast.walk(tree) if everywhere else tree.body):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return {m for m in found if m.startswith("digitlab.")}  # the root package is the public facade: not followed


def graph(everywhere: bool = False) -> dict[str, set[str]]:
    return {module_name(p): top_level_imports(p, everywhere) for p in SRC.rglob("*.py")}


def test_config_imports_no_registry_and_the_model_registry_no_family():
    g = graph()
    assert not {m for m in g["digitlab.config"] if m.startswith(("digitlab.models", "digitlab.training", "digitlab.data"))}
    assert not {m for m in g["digitlab.models.registry"] if m.startswith("digitlab.models.")}


@pytest.mark.parametrize("everywhere", [False, True], ids=["module-level", "with-function-level"])
def test_no_import_circles(everywhere):
    g = graph(everywhere)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(path[path.index(nxt):] + [node, nxt]))
            if nxt in g and not state.get(nxt):
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(g):
        if not state.get(name):
            visit(name, [])


@pytest.mark.parametrize("module", ["digitlab", "digitlab.cli", "digitlab.data.catalog", "digitlab.training.report"])
def test_start_up_imports_no_torch(module):
    """`digitlab --version` / `--help` and `import digitlab` answer without loading torch (PEP 562 in the root)."""
    code = f"import {module}, sys; print('torch' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"], module


def test_inference_side_imports_nothing_of_training():
    """eval / predict / export / serve / interop and inference itself: not one import of digitlab.training."""
    inference_side = ("digitlab.inference", "digitlab.evaluation", "digitlab.predict", "digitlab.export",
                      "digitlab.serve", "digitlab.interop")
    g = graph(everywhere=True)
    bad = {m: sorted(i for i in deps if i.startswith("digitlab.training")) for m, deps in g.items()
           if m.startswith(inference_side)}
    assert not {m: v for m, v in bad.items() if v}
