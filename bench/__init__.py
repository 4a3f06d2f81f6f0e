"""CloudChat's benchmarks: each is a module run as ``python -m bench.<name>`` (``--help`` for its
options) that prints one JSON document on stdout, progress on stderr. What they share (the local
stack, users and sign-in, gql sessions, the GraphQL documents, timing, percentiles, the machine
description and JSON output) is :mod:`bench.harness`. See bench/README.md."""
