"""The product's imports form no circle and keep to the layers (docs/architecture.md, "Layers").

Both read the source, not the running app: grimp builds the graph of every import in app/,
tenants/ and billing/, those inside functions included (a lazy import still closes a circle: the
two modules need each other) and those under `if TYPE_CHECKING:` too (hiding a circle from the
interpreter leaves it for the reader). wsgi.py is the entry point: nothing may import it, so it
closes no circle. The layer rules are import-linter contracts in pyproject.toml, run here as
`lint-imports` would run them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "tenants", "billing")


def product_graph() -> grimp.ImportGraph:
    # grimp finds the packages on sys.path: make sure it reads this checkout's.
    for package in PACKAGES:
        origin = Path(importlib.util.find_spec(package).origin)
        assert origin.is_relative_to(ROOT), f"{package} is imported from {origin}, not {ROOT}"
    # External packages are kept (as one node each) so that an import of wsgi shows.
    return grimp.build_graph(
        *PACKAGES,
        include_external_packages=True,
        exclude_type_checking_imports=False,
        cache_dir=None,
    )


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each circle once, as the modules along it from its smallest name back to it: for every
    import a -> b, the shortest chain from b back to a, if any, closes one."""
    product = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    circles = set()
    for importer in sorted(product):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & product):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            loop = [importer, *back[:-1]]
            start = loop.index(min(loop))
            circles.add(tuple(loop[start:] + loop[:start]))
    return [list(circle) for circle in sorted(circles)]


def describe(graph: grimp.ImportGraph, circle: list[str]) -> str:
    steps = []
    for importer, imported in zip(circle, [*circle[1:], circle[0]], strict=True):
        lines = graph.get_import_details(importer=importer, imported=imported)
        where = ", ".join(f"l.{d['line_number']}" for d in lines)
        steps.append(f"  {importer} -> {imported} ({where})")
    return "\n".join(steps)


def test_no_module_of_the_product_takes_part_in_an_import_circle():
    graph = product_graph()
    assert "wsgi" not in graph.modules, "a product module imports wsgi, the entry point"

    circles = import_circles(graph)

    assert not circles, "Import circles (move what both sides need below them):\n" + "\n\n".join(
        describe(graph, circle) for circle in circles
    )


def test_the_layers_hold():
    """The contracts of pyproject.toml's [tool.importlinter]: the API base and the
    infrastructure import no domain, only app/api.py imports routes, schemas and services import
    no API module nor routes, models import no schema, service or route."""
    result = subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
