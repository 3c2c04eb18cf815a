"""Example replacement actors for ``--service NAME=module:Factory``.

* :mod:`examples.oplog`: a wrapper that logs every operation of the service it wraps
  (``--service vfs=examples.oplog:vfs``), written on :class:`kernel.bus.Delegating`.
* :mod:`examples.bottom_up_mm`: a memory manager that places mappings bottom-up, as Linux's
  legacy layout does (``--service mm=examples.bottom_up_mm:factory``).

Both pass the conformance suite (``python -m pytest tests/contracts --service ...``); see
docs/research.md.
"""
