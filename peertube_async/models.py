"""Every model and enum of the API (generated from the spec), for annotations and
isinstance checks: ``from peertube_async.models import VideoDetails``."""

from ._generated.models import *  # noqa: F403
from ._generated.models import __all__ as __all__
