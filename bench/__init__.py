"""Benchmarks of the ERM client: ``make bench`` (or ``python -m bench``).

Not tests: nothing here asserts on time. Each section measures one question and returns
rows for the table that ``bench.__main__`` prints and writes to ``bench/results.json``:

- ``percall``: client CPU and wall time per call against a canned-response server in
  another process, for our typed client and the alternatives (raw aiohttp is the floor);
- ``streaming``: ``AsyncErmClient.iter_items`` throughput and peak RSS, in a client
  process of its own, against the sandbox;
- ``bulk``: bulk code issuance against the sandbox, against its theoretical floor;
- ``startup``: ``import omnivoltaic_erm`` and ``erm --help`` as whole processes.

Every figure is the median of several repetitions after a warm-up, and every ratio is
computed from figures of the same run.
"""
