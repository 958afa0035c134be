"""Resources: the API grouped as a user thinks of it (``pt.videos``, ``pt.config``...)."""

from ._config import ConfigResource
from ._videos import VideosResource

__all__ = ["ConfigResource", "VideosResource"]
