"""`stickyctl why`: follow one request through a proxy's config and say whether its session sticks.

- :mod:`stickyctl.why.request`   the request (URL, headers, cookies, method) as the gateway sees it
- :mod:`stickyctl.why.routing`   listener, filter chain, virtual host and route selection, as Envoy does
- :mod:`stickyctl.why.matchers`  path, header, query parameter and RE2 matchers
- :mod:`stickyctl.why.hosts`     a cluster's hosts and the status Envoy judges a pinned host by
- :mod:`stickyctl.why.engine`    the walk, the verdict and its reason

Pure: nothing here reads files or the network (the CLI, ``stickyctl.cli.why_cmd``, does).
"""
