"""The package's shape: no module of predictor/ imports one that imports it back, and the layers
import one way. The HTTP surface (`web`) may use every other part; getting a model (`loading`)
never imports the HTTP surface or batch; reading inputs (`inputs`) imports neither the surface,
loading nor batch; batch never imports the HTTP surface; and the modules at the top (the served
model, config, errors, logs) import no layer but `inputs`' schema, which imports none of them
back."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "predictor"
LAYERS = ("web", "loading", "inputs", "batch")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """predictor modules that `path` imports anywhere in it (at the top, in functions, or only
    for type checking): a cycle through any of them is still a cycle for its reader."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            candidates = [name for name in submodules if name in known] or [base]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in candidates if name in known}
    return found - {here}


def part(module: str) -> str:
    """The layer a module belongs to, or the module itself for those at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else module


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, known) for path in paths}


def test_predictor_has_no_import_cycle(graph):
    assert graph["predictor.model"] >= {"predictor.scoring"}  # the walk sees imports at all
    assert graph["predictor.web.service"] >= {
        "predictor.web.endpoints.predict",
        "predictor.loading.repository",
    }
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def layer_graph(graph) -> dict[str, set[str]]:
    """Which parts import which: each layer as one, each module at the top on its own."""
    arrows: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module == "predictor":  # the package's entry, create_service: it wires everything
            continue
        arrows.setdefault(part(module), set()).update(part(name) for name in imported)
    return {source: targets - {source} for source, targets in arrows.items()}


def test_the_layers_import_one_way(graph):
    arrows = layer_graph(graph)
    try:
        list(TopologicalSorter(arrows).static_order())
    except CycleError as error:
        raise AssertionError(f"the layers import each other: {' -> '.join(error.args[1])}") from None


@pytest.mark.parametrize(
    "layer, never",
    [
        ("loading", {"web", "batch"}),
        ("inputs", {"web", "loading", "batch"}),
        ("batch", {"web"}),
    ],
)
def test_a_layer_never_imports_the_ones_above_it(graph, layer, never):
    assert not layer_graph(graph)[layer] & never


def test_the_top_imports_no_layer_but_the_inputs_schema(graph):
    top = {module: imported for module, imported in graph.items() if part(module) == module}
    reached = {name for module, imported in top.items() if module != "predictor" for name in imported}
    assert {name for name in reached if part(name) in LAYERS} <= {"predictor.inputs.schema"}
    assert graph["predictor.inputs.schema"] & set(top) <= {"predictor.errors"}


def test_the_check_can_fail():
    """An arrow from getting a model up to the HTTP surface is seen."""
    arrows = layer_graph(
        {"predictor.loading.load": {"predictor.web.service"}, "predictor.web.service": set()}
    )
    assert arrows["loading"] == {"web"}
