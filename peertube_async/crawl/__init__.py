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

To share a crawl out among processes and machines, :func:`distributed_crawl` hands the
instances out through Redis to workers (:func:`run_worker` joins from anywhere) and
exports their records to the same kind of file:

.. code-block:: python

    report = await distributed_crawl(
        urls, "videos.jsonl", redis_url="redis://10.0.0.5:6379/0", workers=4
    )
"""

from ._crawler import RECORD_KIND, Crawler, crawl, is_federated_copy, load_checkpoint
from ._distributed import (
    DEFAULT_NAMESPACE,
    Claim,
    CrawlNotFound,
    CrawlQueue,
    DistributedCrawl,
    Worker,
    WorkerPool,
    WorkerReport,
    WorkersExited,
    distributed_crawl,
    redis_errors,
    run_worker,
)
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
    "DEFAULT_NAMESPACE",
    "KINDS",
    "PAGE_SIZE",
    "RECORD_KIND",
    "CheckpointError",
    "Claim",
    "CrawlNotFound",
    "CrawlProgress",
    "CrawlQueue",
    "CrawlReport",
    "Crawler",
    "DistributedCrawl",
    "InstanceProgress",
    "InstanceReport",
    "InstanceStatus",
    "Worker",
    "WorkerPool",
    "WorkerReport",
    "WorkersExited",
    "checkpoint_path_for",
    "crawl",
    "distributed_crawl",
    "is_federated_copy",
    "load_checkpoint",
    "redis_errors",
    "run_worker",
]
