"""A package's public names, each imported from its module when first used (PEP 562 module ``__getattr__``).

``mae_core`` and ``experiments`` give names of their modules at package level; importing every module eagerly would
make ``import mae_core.files`` or ``python -m experiments runs`` pay for torch. :func:`lazy_names` builds the hooks.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose ``modules`` (submodule -> the names it gives)
    are imported on first use of one of their names; a value found is kept in the package's namespace."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)  # once: later lookups find it directly
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__, sorted(where)
