"""The generator of ``peertube_async._generated`` (a development tool, not in the wheel).

``python -m peertube_async.codegen --spec PATH [--check]`` reads the OpenAPI spec and
``overrides.yaml`` beside this file and rewrites the generated folder wholly; ``--check``
renders to a temporary folder and fails when the checked-in code differs.
"""
