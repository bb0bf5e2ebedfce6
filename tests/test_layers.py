"""The import layers hold: data flows one way, and every module imports only below (or beside) itself.

connectors/ knows vendors and formats and never imports insights/ or dashboard/; insights/ never
imports streamlit, dashboard/ or sample_data/ except its composition root (insights/cli.py); inside
insights/ each subpackage imports only the layers below it (DESIGN, "Layers"); dashboard pages use
the public API of a subpackage (what its `__init__` exports), never a submodule or a private name.

Known exceptions sit in ALLOWED and may only shrink: an entry that no longer occurs fails too, so
the list is pruned the moment an exception is fixed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first; a module may import its own layer and the ones before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("insights.errors",),
    ("insights.catalog",),
    ("insights.view", "insights.format", "insights.money", "insights.contracts"),
    ("insights.metrics",),
    ("insights.detection",),
    ("insights.analyses",),
    ("insights.review",),
    ("insights.export",),
    ("insights.cli",),
)

# (importer, imported) pairs tolerated for now; each is a debt with a reason. Only ever shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, first imported name or '') for every import in the file, lazy ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, "") for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                # `from insights.detection import stats` imports the module insights.detection.stats
                full = f"{base}.{a.name}"
                found.append((full if _is_module(full) else base, a.name))
    return found


def _is_module(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _layer(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return None


def _violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in _files("connectors"):
        me = _module_name(path)
        for mod, _ in _imports(path):
            if mod.split(".")[0] in {"insights", "dashboard", "sample_data", "streamlit"}:
                found[(me, mod)] = "connectors/ imports only connectors/ and libraries"
    for path in _files("insights"):
        me = _module_name(path)
        mine = _layer(me)
        for mod, _ in _imports(path):
            top = mod.split(".")[0]
            if top in {"dashboard", "sample_data", "streamlit"} and me != "insights.cli":
                found[(me, mod)] = "only insights.cli (the composition root) imports dashboard, sample_data or streamlit"
            if top == "insights":
                theirs = _layer(mod)
                if mine is None or theirs is None:
                    found[(me, mod)] = "every insights module belongs to a layer (add it to LAYERS)"
                elif theirs > mine:
                    found[(me, mod)] = f"layer {mine} ({LAYERS[mine][0]}) imports layer {theirs} ({LAYERS[theirs][0]})"
    for path in _files("dashboard"):
        me = _module_name(path)
        for mod, name in _imports(path):
            if not mod.startswith("insights") or not me.startswith("dashboard.views"):
                continue
            if mod.count(".") > 1 and mod.split(".")[1] in {"metrics", "detection", "analyses", "review", "export", "catalog"}:
                found[(me, mod)] = "pages import a subpackage's public API, not its submodules"
            elif name.startswith("_"):
                found[(me, f"{mod}.{name}")] = "pages never import private names"
    return found


def test_every_insights_module_has_a_layer() -> None:
    missing = [_module_name(p) for p in _files("insights") if _layer(_module_name(p)) is None and _module_name(p) != "insights"]
    assert not missing, f"add these modules to a layer in tests/test_layers.py LAYERS: {missing}"


def test_imports_only_go_down_the_layers() -> None:
    new = {k: v for k, v in _violations().items() if k not in ALLOWED}
    assert not new, "import(s) against the layers:\n" + "\n".join(f"  {a} -> {b}: {why}" for (a, b), why in sorted(new.items()))


def test_the_allow_list_only_shrinks() -> None:
    stale = sorted(set(ALLOWED) - set(_violations()))
    assert not stale, f"these exceptions are fixed; delete them from ALLOWED: {stale}"


@pytest.mark.parametrize("importer, imported", [
    pytest.param("connectors.x", "insights.metrics.kpis", id="connectors-never-import-insights"),
    pytest.param("insights.metrics.kpis", "insights.detection.engine", id="metrics-below-detection"),
    pytest.param("insights.analyses.sla", "insights.review", id="analyses-below-review"),
])
def test_the_rule_catches_upward_imports(importer: str, imported: str) -> None:
    if importer.startswith("connectors"):
        assert imported.split(".")[0] == "insights"
    else:
        assert _layer(importer) is not None and _layer(imported) is not None
        assert _layer(imported) > _layer(importer)
