"""streamrec's benchmarks: every figure beside its floor or peer from the same run.

Run ``python -m bench`` from a checkout (``--quick`` for a sub-minute pass,
``--only WORD`` for the rows whose section matches). Peers and helpers come
with the ``bench`` extra: ``pip install -e '.[bench]'``. Not part of the test
suite; ``tests/test_bench.py`` runs ``--tiny`` (every row once, a few chunks) as a smoke test.
"""
