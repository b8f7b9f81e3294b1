"""The apps depend one way: backups uses environments and portal, never the reverse, and no
module imports one that imports it back (imports inside functions count too)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("portal", "environments", "backups")
# The project's wiring names every app by design: root URLs, the API's routers, settings.
WIRING = {"portal.urls", "portal.api.main", "portal.settings"}


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The project modules `name` imports, anywhere in its code."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name) for name in MODULES}


def test_environments_never_imports_backups():
    wrong = {
        m: sorted(t for t in GRAPH[m] if t.startswith("backups"))
        for m in GRAPH
        if m.startswith("environments")
    }
    assert not {m: t for m, t in wrong.items() if t}


def test_portal_never_imports_backups_but_to_wire_it():
    wrong = {
        m: sorted(t for t in GRAPH[m] if t.startswith("backups"))
        for m in GRAPH
        if m.startswith("portal") and m not in WIRING
    }
    assert not {m: t for m, t in wrong.items() if t}


def test_no_module_imports_one_that_imports_it_back():
    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(GRAPH[node])
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in GRAPH for b in GRAPH[a] if reaches(b, a)})
    assert not cycles
