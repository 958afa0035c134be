"""Generated models made attrs classes on first use.

attrs writes and compiles each class's methods when the class is decorated: for the
API's three hundred models that is about a third of a second at every start, most of it
for models a program never touches. The generated models module keeps its source as
plain ``@attrs.frozen`` classes (what type checkers and IDEs read), but at run time its
``attrs`` name is a :class:`DeferredAttrs`: the decorator only records the bare class,
and the module's ``__getattr__`` (PEP 562) turns a model into its attrs class the first
time it is asked for, together with every model its fields name, so that the module's
namespace always resolves a built model's annotations (``typing.get_type_hints``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs as _attrs

__all__ = ["DeferredAttrs"]


class DeferredAttrs:
    """Stands for ``attrs`` in a generated module: ``frozen(...)`` records a class,
    ``field`` is attrs' own, :meth:`finish` returns the module's ``__getattr__``."""

    field = staticmethod(_attrs.field)

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace
        self._pending: dict[str, tuple[type, dict[str, Any]]] = {}
        self._uses: Mapping[str, tuple[str, ...]] = {}
        # Models are built from worker threads too (large answers are decoded there).
        self._lock = threading.RLock()

    def frozen(self, **options: Any) -> Callable[[type], type]:
        """Record the decorated class, to be made ``attrs.frozen(**options)`` later."""

        def record(cls: type) -> type:
            self._pending[cls.__name__] = (cls, options)
            return cls

        return record

    def finish(self, uses: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
        """Take the recorded bare classes out of the module's namespace and return its
        ``__getattr__``; ``uses`` names, per model, the models its fields name."""
        self._uses = uses
        for name in self._pending:
            del self._namespace[name]
        module = self._namespace.get("__name__", "?")

        def __getattr__(name: str) -> Any:
            if name not in self._pending:
                raise AttributeError(f"module {module!r} has no attribute {name!r}")
            return self.build(name)

        return __getattr__

    def build(self, name: str) -> type:
        """The attrs class of model ``name``, built now (with the models it names)
        unless it already was."""
        with self._lock:
            done = self._namespace.get(name)
            if isinstance(done, type):
                return done
            todo = [name]
            seen = {name}
            while todo:
                current = todo.pop()
                if current in self._namespace:
                    continue
                cls, options = self._pending[current]
                self._namespace[current] = _attrs.frozen(**options)(cls)
                for used in self._uses.get(current, ()):
                    if used not in seen:
                        seen.add(used)
                        todo.append(used)
            built: type = self._namespace[name]
            return built
