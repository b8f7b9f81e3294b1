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

# The modules that write an environment's versioned data (environments.store's docstring).
STORE_WRITERS = {
    "environments.store",
    "environments.generations",
    "environments.history",
    "environments.flatten",
    "environments.layout",
    "environments.loading",
}


VERSIONED = {"RowVersion", "Generation", "DataTable", "TableCount", "ChangeBatch", "Activity"}
WRITES = {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create"}


def _writes_versioned_data(name: str) -> bool:
    """Whether `name` calls a write on `<Model>.objects...` of a versioned model, however the
    chain of queryset calls between them is spread over lines."""
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr not in WRITES:
                continue
            inner = node.func.value
            while isinstance(inner, (ast.Call, ast.Attribute)):
                inner = inner.func if isinstance(inner, ast.Call) else inner.value
            if isinstance(inner, ast.Name) and inner.id in VERSIONED:
                return True
    return False


def test_environments_never_imports_backups():
    wrong = {
        m: sorted(t for t in GRAPH[m] if t.startswith("backups"))
        for m in GRAPH
        if m.startswith("environments")
    }
    assert not {m: t for m, t in wrong.items() if t}


def test_portal_imports_the_apps_only_to_wire_them():
    wrong = {
        m: sorted(t for t in GRAPH[m] if t.startswith(("backups", "environments")))
        for m in GRAPH
        if m.startswith("portal") and m not in WIRING
    }
    assert not {m: t for m, t in wrong.items() if t}


# What backups may use of environments: the store's public modules (reads, writes, generations,
# history, capacity, flattening) and the app's models, rules and lookups. How a restored table
# reads its base (lineage) and where versions are stored (layout) are the store's own business.
STORE_PUBLIC = {
    "environments",
    "environments.api",
    "environments.archive_rows",
    "environments.capacity",
    "environments.changelog",
    "environments.columns",
    "environments.flatten",
    "environments.generations",
    "environments.history",
    "environments.lookups",
    "environments.models",
    "environments.permissions",
    "environments.services",
    "environments.signals",
    "environments.store",
}


def test_backups_uses_only_the_stores_public_modules():
    wrong = {
        m: sorted(t for t in GRAPH[m] if t.startswith("environments") and t not in STORE_PUBLIC)
        for m in GRAPH
        if m.startswith("backups")
    }
    assert not {m: t for m, t in wrong.items() if t}


def test_only_the_store_writes_versioned_data():
    """Row versions, generations, tables and their stored figures are written by the store's
    modules alone: no other module calls a write on their managers or querysets."""
    writers = {name for name in MODULES if _writes_versioned_data(name)}
    assert writers <= STORE_WRITERS, sorted(writers - STORE_WRITERS)


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
