"""Every model and enum of the API (generated from the spec), for annotations and
isinstance checks: ``from peertube_async.models import VideoDetails``.

A model is built the first time it is asked for (see ``_deferred``): importing this
module costs its enums only.
"""

from typing import TYPE_CHECKING, Any

from ._generated import models as _models
from ._generated.models import __all__ as __all__

if TYPE_CHECKING:
    from ._generated.models import *  # noqa: F403
else:

    def __getattr__(name: str) -> Any:
        if name not in _models.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_models, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
