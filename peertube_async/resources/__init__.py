"""Hand-written parts of the resources: the runtime the generated code is written against,
and extensions of generated resources."""

from ._base import Endpoint, Resource

__all__ = ["Endpoint", "Resource"]
