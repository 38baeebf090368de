"""``executors/`` has no import cycle, and only the queries modules write SQL by hand (function-local
imports included: grimp sees them)."""

from __future__ import annotations

import grimp


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module inside ``package`` (Tarjan's algorithm)."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return groups


def test_executors_have_no_import_cycle():
    graph = grimp.build_graph("executors", include_external_packages=False)
    assert import_cycles(graph, "executors") == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph, "pkg") == [["pkg.a", "pkg.b"]]


def raw_sql_importers(graph: grimp.ImportGraph) -> set[str]:
    """Modules that import ``qportal.rawsql`` but are not a queries module."""
    return {m for m in graph.find_modules_that_directly_import("qportal.rawsql") if not m.endswith(".queries")}


def test_only_the_queries_modules_use_hand_written_sql():
    graph = grimp.build_graph("qportal", include_external_packages=False)
    assert {m for m in graph.find_modules_that_directly_import("qportal.rawsql")} >= {"qportal.jobs.queries"}
    assert raw_sql_importers(graph) == set()
    graph.add_import(importer="qportal.jobs.views", imported="qportal.rawsql")
    assert raw_sql_importers(graph) == {"qportal.jobs.views"}  # the check sees a violation
