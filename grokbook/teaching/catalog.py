"""What ``gb.checks`` and ``gb.plots`` hold: the public functions of a package's modules."""
from __future__ import annotations

import importlib


def public_members(package: str, modules) -> dict:
    """{name: object} of the ``__all__`` of every module of ``package`` named in ``modules``, in
    that order; a name in two modules, or a module without ``__all__``, is an error."""
    found = {}
    for name in modules:
        module = importlib.import_module(f"{package}.{name}")
        if not hasattr(module, "__all__"):
            raise ValueError(f"{module.__name__} has no __all__")
        for member in module.__all__:
            if member in found:
                raise ValueError(f"{member} is defined in two modules of {package}")
            found[member] = getattr(module, member)
    return found
