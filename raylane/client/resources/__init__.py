"""One module per API resource, each in the same shape: its request shapes (a ``Collection``
and a small ``_<Resource>`` class of the bespoke calls), then a blocking class and an async
class that only send them. The async class names its blocking twin and takes its docstrings;
``tests/unit/test_client_parity.py`` checks that every pair has the same signatures.

``me``, ``health`` and ``usage`` are requests of the client itself (``client.me()``), so their
modules hold the request shape only.
"""
