"""Imports run one way: read every module's imports with `ast` and check the layout.

The rules (docs/architecture.md draws them):
- `drivers` imports nothing from `device` or `companion` (the parts stand on their libraries alone);
- `device` imports nothing from `companion` (the Pi never needs the computer's code);
- inside `device`, a sub-package imports only from its own layer or lower ones in LAYERS, so there
  is no cycle between sub-packages either (checked on its own too, to name the cycle);
- no modules import each other round a cycle, inside a sub-package either.

Imports inside functions count: a late import is still a dependency.

Tests and benchmarks use our objects through public names only (issue 11): a private one they need
is a missing seam. And modules stay small (issue 11): a `device` module over MAX_CODE_LINES lines of code says why in
its docstring, in a paragraph that starts "Size" (e.g. "Size (~470 lines): one function per screen...").
"""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("device", "drivers", "companion")

# The device's sub-packages, lowest first: each may import the ones before it, never after.
LAYERS = (
    "base",      # errors, atomic writes, time formatting, output safety: used by everything
    "settings",  # config, routines and their TOML reader; needs only base
    "log",       # the session log; its schema checks records against settings (zone names, limits)
    "sync",      # the device side of the USB protocol; serves the log
    "screen",    # views, fonts, render and the display worker; pure of the app's decisions
    "core",      # the loop: gestures, pacing, haptics, app; records to log, draws through screen
    "service",   # the appliance: firmware wires core, screen, sync and the drivers together
    "sim",       # the simulator: core and screen on fake pins and a fake bus
    "cli",       # the `facepace` command: runs the firmware, the simulator and the log tools
)
# Modules at the top of `device` and the layer they stand in.
TOP_LEVEL = {"device": "base", "device.__main__": "cli"}
# Known exceptions (importer module, imported module): none today. Add one only with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports (`from a import b` counts as a.b when that is a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module.split(".")[0] in PACKAGES}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Every module of PACKAGES under `root` -> the project modules it imports."""
    paths = [path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))]
    modules = {module_name(path, root) for path in paths}
    return {module_name(path, root): imports_of(path, root, modules) for path in paths}


def area(module: str) -> str:
    """`device.<sub-package>`, or the top package (`drivers`, `companion`)."""
    parts = module.split(".")
    if parts[0] != "device":
        return parts[0]
    if module in TOP_LEVEL:
        return f"device.{TOP_LEVEL[module]}"
    return f"device.{parts[1]}"


def area_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(area(importer), area(imported)) for importer, targets in graph.items()
            for imported in targets if area(importer) != area(imported)}


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Each cycle between areas once, as a list of areas (depth-first search)."""
    successors: dict[str, set[str]] = {}
    for a, b in edges:
        successors.setdefault(a, set()).add(b)
    found, seen = [], set()

    def visit(node: str, trail: list[str]) -> None:
        for successor in sorted(successors.get(node, ())):
            if successor in trail:
                cycle = trail[trail.index(successor):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle + [successor])
            else:
                visit(successor, trail + [successor])

    for start in sorted(successors):
        visit(start, [start])
    return found


def problems(root: Path) -> list[str]:
    """Every wrong-way import under `root`, as sentences; empty when the layout holds."""
    graph = import_graph(root)
    rank = {f"device.{layer}": index for index, layer in enumerate(LAYERS)}
    found = []
    for importer, targets in sorted(graph.items()):
        for imported in sorted(targets):
            if (importer, imported) in EXCEPTIONS:
                continue
            here, there = area(importer), area(imported)
            if here == "drivers" and there != "drivers":
                found.append(f"{importer} imports {imported}: drivers stand on their libraries alone")
            elif here.startswith("device") and there == "companion":
                found.append(f"{importer} imports {imported}: the device never needs the computer's code")
            elif here in rank and there in rank and rank[there] > rank[here]:
                found.append(f"{importer} imports {imported}: {here} is below {there} in LAYERS")
            elif here.startswith("device") and there.startswith("device") and (here not in rank or there not in rank):
                found.append(f"{importer} imports {imported}: {here if here not in rank else there} has no layer")
    found += [" -> ".join(cycle) + ": a cycle between sub-packages"
              for cycle in cycles(area_edges(graph))]
    return found


# --- the layout of this repository -------------------------------------------------

def test_imports_run_one_way():
    assert problems(REPO) == []


def test_every_device_sub_package_has_a_layer():
    on_disk = {path.parent.name for path in (REPO / "device").glob("*/__init__.py")}
    assert on_disk == set(LAYERS)


MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)
EDGE = re.compile(r"^\s*([\w.]+)\s*-->\s*([\w.]+)\s*$")


def mermaid_edges(markdown: str) -> set[tuple[str, str]]:
    block = MERMAID.search(markdown)
    assert block, "docs/architecture.md has no mermaid block"
    return {(m[1].replace("_", "."), m[2].replace("_", "."))
            for line in block[1].splitlines() if (m := EDGE.match(line))}


def test_the_architecture_picture_shows_the_imports_as_they_are():
    """docs/architecture.md's diagram has exactly the import edges between areas (names with
    `_` for `.`, as mermaid wants them): a new dependency shows up in the picture or fails here."""
    drawn = mermaid_edges((REPO / "docs" / "architecture.md").read_text())
    real = area_edges(import_graph(REPO))
    assert {"missing from the picture": sorted(real - drawn), "drawn but gone": sorted(drawn - real)} == \
        {"missing from the picture": [], "drawn but gone": []}


# --- the checker itself can fail ---------------------------------------------------

def plant(root: Path, files: dict[str, str]) -> Path:
    """A small tree of packages (every folder gets an __init__.py) for the checker."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in [path.parent, *path.parent.parents]:
            if folder == root:
                break
            (folder / "__init__.py").touch()
        path.write_text(text)
    return root


def test_a_right_way_tree_passes(tmp_path):
    assert problems(plant(tmp_path, {
        "device/base/errors.py": "",
        "device/core/app.py": "from device.screen import screens\nfrom device.base.errors import *\n",
        "device/screen/screens.py": "from device.base import errors\n",
        "drivers/oled.py": "import PIL\n",
        "companion/commands.py": "from device.core import app\n",
    })) == []


def test_a_lower_layer_importing_a_higher_one_fails(tmp_path):
    found = problems(plant(tmp_path, {
        "device/log/sessionlog.py": "def late():\n    from device.sync import clockfix\n",
        "device/sync/clockfix.py": "",
    }))
    assert found == ["device.log.sessionlog imports device.sync.clockfix: device.log is below device.sync in LAYERS"]


def test_drivers_importing_the_device_fail(tmp_path):
    found = problems(plant(tmp_path, {"drivers/oled.py": "from device.base.errors import NoHardwareError\n",
                                      "device/base/errors.py": ""}))
    assert found == ["drivers.oled imports device.base.errors: drivers stand on their libraries alone"]


def test_the_device_importing_the_companion_fails(tmp_path):
    found = problems(plant(tmp_path, {"device/cli/main.py": "from .. import base\nimport companion.commands\n",
                                      "companion/commands.py": ""}))
    assert found == ["device.cli.main imports companion.commands: the device never needs the computer's code"]


def test_a_relative_import_is_followed(tmp_path):
    found = problems(plant(tmp_path, {"device/screen/views.py": "from ..core import app\n",
                                      "device/core/app.py": ""}))
    assert found == ["device.screen.views imports device.core.app: device.screen is below device.core in LAYERS"]


def test_a_cycle_between_sub_packages_is_named(tmp_path):
    plant(tmp_path, {"device/core/app.py": "from device.screen import views\n",
                     "device/screen/views.py": "from device.core import app\n"})
    assert cycles(area_edges(import_graph(tmp_path))) == [["device.core", "device.screen", "device.core"]]
    assert any("a cycle" in problem for problem in problems(tmp_path))


def module_cycle(root: Path) -> list[str]:
    """A cycle of modules importing each other, inside a sub-package too (such as the simulator
    and its terminal screen had), or [] when there is none."""
    graph = import_graph(root)
    try:
        TopologicalSorter({module: targets & graph.keys() - {module}
                           for module, targets in graph.items()}).prepare()
    except CycleError as error:
        return list(error.args[1])
    return []


def test_no_modules_import_each_other():
    assert module_cycle(REPO) == []


def test_a_cycle_of_modules_in_one_sub_package_is_found(tmp_path):
    plant(tmp_path, {"device/sim/simulator.py": "def main():\n    from device.sim import terminal\n",
                     "device/sim/terminal.py": "from device.sim.simulator import main\n"})
    assert sorted(set(module_cycle(tmp_path))) == ["device.sim.simulator", "device.sim.terminal"]


def test_a_sub_package_without_a_layer_fails(tmp_path):
    found = problems(plant(tmp_path, {"device/battery/gauge.py": "from device.core import app\n",
                                      "device/core/app.py": ""}))
    assert found == ["device.battery.gauge imports device.core.app: device.battery has no layer"]


# --- module sizes ------------------------------------------------------------------

MAX_CODE_LINES = 300
SIZE_REASON = re.compile(r"^Size\b[^:\n]*:\s*\S", re.M)   # "Size (~470 lines): why..."


def code_lines(source: str) -> int:
    """Lines neither blank nor only a comment (docstrings count: they are read too)."""
    return sum(1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def long_modules_without_a_reason(root: Path) -> list[str]:
    """Every `device` module over MAX_CODE_LINES whose docstring gives no "Size" reason."""
    found = []
    for path in sorted((root / "device").rglob("*.py")):
        source = path.read_text()
        count = code_lines(source)
        docstring = ast.get_docstring(ast.parse(source, str(path))) or ""
        if count > MAX_CODE_LINES and not SIZE_REASON.search(docstring):
            found.append(f"{path.relative_to(root)}: {count} lines of code; split it, or say why not in a"
                         f" docstring paragraph starting 'Size (~{count} lines): '")
    return found


def test_every_long_device_module_says_why_it_is_long():
    assert long_modules_without_a_reason(REPO) == []


def test_a_long_module_without_a_size_reason_fails(tmp_path):
    body = "".join(f"x{n} = {n}\n" for n in range(MAX_CODE_LINES))   # the docstring makes it one over
    padding = "\n# a comment, not code\n\n" * 50
    plant(tmp_path, {
        "device/core/long.py": '"""A module."""\n' + body,
        "device/core/long_with_reason.py": '"""A module.\n\nSize (~301 lines): a table.\n"""\n' + body,
        "device/core/at_the_limit.py": body + padding,
        "device/core/reason_not_a_paragraph.py": '"""A module of no Size: none.\n"""\n' + body,
    })
    assert [line.split(":")[0] for line in long_modules_without_a_reason(tmp_path)] == \
        ["device/core/long.py", "device/core/reason_not_a_paragraph.py"]


# --- tests use public names ----------------------------------------------------------

# Underscored names that are public API of the standard library (namedtuple's, argparse's).
NOT_PRIVATE = {"_fields", "_replace", "_asdict", "_make", "_actions", "_SubParsersAction"}
# Known pokes (file, name) and why they stay for now. Add one only with its reason.
PRIVATE_EXCEPTIONS = {
    ("tests/drivers/test_fuel_gauge.py", "_alert_status"):
        "adafruit_max1704x's own register bit, not ours: the test clears the chip's alert as the"
        " library's users do (the library has no public setter)",
    ("tests/device/service/test_sync_service.py", "_status"):
        "SyncService hands _status to its SyncServer as on_status; to be made public (one line in"
        " run()) once the sync-speed work on those lines is merged",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in NOT_PRIVATE


def private_names_used(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every private name `path` reaches on something not its own: `x._name`
    (not on `self`, `cls` or `super()`), `getattr`/`setattr`/`hasattr`/`monkeypatch.setattr` with a
    "_name", and `from device... import _name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            own = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or \
                (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super")
            if not own:
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            function = node.func
            called = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
            name = node.args[1]
            if called in ("getattr", "setattr", "hasattr", "delattr") and isinstance(name, ast.Constant) \
                    and isinstance(name.value, str) and _private(name.value):
                found.append((node.lineno, name.value))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
            found += [(node.lineno, alias.name) for alias in node.names if _private(alias.name)]
    return sorted(found)


def private_pokes(root: Path) -> list[str]:
    found = []
    for folder in ("tests", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            relative = str(path.relative_to(root))
            found += [f"{relative}:{line}: {name}" for line, name in private_names_used(path)
                      if (relative, name) not in PRIVATE_EXCEPTIONS]
    return found


def test_tests_and_benchmarks_use_no_private_names_of_ours():
    assert private_pokes(REPO) == []


def test_a_poke_at_a_private_name_is_found(tmp_path):
    plant(tmp_path, {"tests/test_x.py": (
        "from device.log.sessionschema import _kinds\n"
        "def test(log, monkeypatch):\n"
        "    log._unsaved.clear()\n"
        "    getattr(log, '_playing', None)\n"
        "    monkeypatch.setattr(log, '_connect', None)\n"
        "    self._mine, super()._hook(), log.__class__, row._replace(a=1)\n")})
    assert private_pokes(tmp_path) == ["tests/test_x.py:1: _kinds", "tests/test_x.py:3: _unsaved",
                                       "tests/test_x.py:4: _playing", "tests/test_x.py:5: _connect"]
