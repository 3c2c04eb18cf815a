"""The service boundaries, checked statically so a later change cannot quietly undo them.

* The kernel reaches a service only through its contract: no module under ``kernel/`` imports
  a service's implementation (its files, inodes, queues, mappings), so none can construct or
  mutate one. The one exception is the composition root, ``kernel/kernel.py``'s default
  factories, which build our actors.
* A service never reads the kernel: no module under ``services/`` imports the kernel's state
  (``kernel.kernel``, ``kernel.process``, ``kernel.task`` ...), only the bus it is reached by.
* Replies are values: every dataclass a contract module declares is frozen.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What the composition root may import to build our actors (and the memory file they share).
COMPOSITION_ROOT = {
    "kernel/kernel.py": {
        "services.mm.memfile.MemoryFile", "services.mm.actor.MemoryManager",
        "services.signals.actor.SignalsActor", "services.gofer_proxy.actor.GoferProxy",
        "services.vfs.actor.VirtualFilesystem", "services.netstack.actor.Netstack", "services.ipc.actor.IpcNamespace",
        # The image's gofer, started early and handed to the gofer proxy (PrestartedGofers).
        "services.gofer_proxy.actor.spawn_gofer", "services.gofer_proxy.actor.discard_gofers",
        "services.gofer_proxy.actor.PrestartKey", "services.gofer_proxy.actor.Spawned",
        # The net helper, started before confinement and handed to the netstack it serves.
        "services.netstack.gate.NetGate",
    },
}
#: Plain functions of a service module that hold no state (a host fd probe).
STATELESS_HELPERS = {"services.vfs.hostfile.epoll_accepts"}
#: What a service may import of the kernel package: the bus, the runtime's error, a config value.
SERVICE_MAY_IMPORT = {"kernel.bus", "kernel.errors", "kernel.oci"}


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``from module import name`` and ``import module`` in ``path``,
    wherever it stands (inside functions and TYPE_CHECKING blocks too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def _python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _python_files("kernel"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_kernel_reaches_services_only_through_their_contracts(path: Path) -> None:
    relative = str(path.relative_to(REPO))
    allowed = COMPOSITION_ROOT.get(relative, set()) | STATELESS_HELPERS
    for module, name in _imports(path):
        if not module.startswith("services"):
            continue
        if module.endswith(".contract"):
            continue
        assert f"{module}.{name}" in allowed, f"{relative} imports {module}.{name}: ask the service instead"


@pytest.mark.parametrize("path", _python_files("services"), ids=lambda p: str(p.relative_to(REPO)))
def test_services_never_read_the_kernel(path: Path) -> None:
    relative = str(path.relative_to(REPO))
    for module, name in _imports(path):
        if module == "kernel" and name:
            module = f"kernel.{name}"
        if module.startswith("kernel"):
            assert module in SERVICE_MAY_IMPORT, f"{relative} imports {module}: a service may not read the kernel"
    assert ".kernel." not in path.read_text().replace("kernel.bus", "").replace("kernel.errors", "") \
        .replace("kernel.oci", ""), f"{relative} reaches into a kernel object"


CONTRACTS = ["services.mm.contract", "services.signals.contract", "services.vfs.contract",
             "services.gofer_proxy.contract", "services.proc.contract", "services.netstack.contract"]


@pytest.mark.parametrize("module", CONTRACTS)
def test_contract_values_are_immutable(module: str) -> None:
    values = [value for value in vars(importlib.import_module(module)).values()
              if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module]
    for value in values:
        assert value.__dataclass_params__.frozen, f"{module}.{value.__name__} is a reply value: freeze it"  # type: ignore[attr-defined]
