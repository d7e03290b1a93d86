"""Package names that load their module on first use (PEP 562), so torch-free submodules import without PyTorch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``: each name in ``exports[module]`` is imported from
    ``package.module`` the first time it is asked for, then kept in ``namespace`` (the package's globals)."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module_of[name]}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *module_of])

    return sorted(module_of), getattr_, dir_
