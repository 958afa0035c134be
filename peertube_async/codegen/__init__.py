"""The generator of ``peertube_async._generated`` (a development tool, not in the wheel).

``python -m peertube_async.codegen`` rewrites the generated folder wholly from the facts
in ``facts/`` and ``overrides.yaml`` beside this file; ``--check`` renders to a temporary
folder and fails when the checked-in code differs. ``python -m peertube_async.codegen
snapshot --spec PATH`` refreshes ``facts/openapi.json`` from an upstream OpenAPI spec.
"""
