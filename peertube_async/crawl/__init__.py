"""Crawl many PeerTube instances at once into one resumable JSON Lines file.

.. code-block:: python

    from peertube_async.crawl import crawl

    report = await crawl(
        ["framatube.org", "tilvids.com"],
        "videos.jsonl",
        kinds=("videos", "channels"),
        resume=True,
    )
    print(report.complete, report.records, [i.url for i in report.failed])

Every line of the output is ``{"instance": ORIGIN, "kind": KIND, "data": OBJECT}``; a
checkpoint beside it lets a killed crawl continue with ``resume=True``. See
:class:`Crawler` for the options.
"""

from ._crawler import RECORD_KIND, Crawler, crawl, is_federated_copy, load_checkpoint
from ._journal import CheckpointError, checkpoint_path_for
from ._model import (
    KINDS,
    PAGE_SIZE,
    CrawlProgress,
    CrawlReport,
    InstanceProgress,
    InstanceReport,
    InstanceStatus,
)

__all__ = [
    "KINDS",
    "PAGE_SIZE",
    "RECORD_KIND",
    "CheckpointError",
    "CrawlProgress",
    "CrawlReport",
    "Crawler",
    "InstanceProgress",
    "InstanceReport",
    "InstanceStatus",
    "checkpoint_path_for",
    "crawl",
    "is_federated_copy",
    "load_checkpoint",
]
