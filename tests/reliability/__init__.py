"""The reliability suite (issue 8): races over HTTP against real server processes, faults, many
servers sharing one store, and a bounded soak. docs/RELIABILITY.md lists what each test proves.

``SUPERTOKENS_RELIABILITY_ITERATIONS`` (default 20) scales the race rounds and
``SUPERTOKENS_RELIABILITY_SOAK_SECONDS`` (default 20) the soak; the issue's full run is
``SUPERTOKENS_RELIABILITY_ITERATIONS=200 SUPERTOKENS_RELIABILITY_SOAK_SECONDS=60``.
"""
