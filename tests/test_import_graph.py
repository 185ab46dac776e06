"""No module of the project takes part in an import cycle, lazy imports (inside functions)
included: in a cycle neither module can be read, tested or moved without the other, and which
one depends on which is left to the order of imports. The import contracts in pyproject.toml
check the direction between packages; this checks every module against every other."""

import grimp

ROOT_PACKAGES = ("surveys", "accounts", "eccp_survey")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module: each a set of modules that
    all reach one another through imports. Sorted, for a readable failure."""
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for imported in imports[stack.pop()]:
                if imported not in seen:
                    seen.add(imported)
                    stack.append(imported)
        return seen

    reach = {module: reachable(module) for module in imports}
    components = {
        frozenset({module} | {other for other in reach[module] if module in reach[other]})
        for module in imports
    }
    return sorted(sorted(component) for component in components if len(component) > 1)


def test_no_module_is_in_an_import_cycle():
    graph = grimp.build_graph(*ROOT_PACKAGES, cache_dir=None)
    assert "surveys.outreach.deliveries" in graph.modules  # the graph is the project's
    assert import_cycles(graph) == []


def test_the_check_finds_a_cycle_made_by_an_import_inside_a_function():
    graph = grimp.ImportGraph()
    for module in ("app", "app.service", "app.tasks", "app.views", "app.models"):
        graph.add_module(module)
    graph.add_import(importer="app.tasks", imported="app.service", line_number=1, line_contents="")
    graph.add_import(importer="app.views", imported="app.service", line_number=1, line_contents="")
    graph.add_import(importer="app.service", imported="app.models", line_number=1, line_contents="")
    assert import_cycles(graph) == []

    # The service queues its task by importing the tasks module lazily, inside a function.
    graph.add_import(
        importer="app.service",
        imported="app.tasks",
        line_number=9,
        line_contents="    from app.tasks import send",
    )
    assert import_cycles(graph) == [["app.service", "app.tasks"]]
