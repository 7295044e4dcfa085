"""stickyctl: verify Istio/Envoy strong sticky sessions from config dumps and live gateways."""

__version__ = "0.1.0"

# The Istio and Envoy releases whose session behaviour stickyctl's checks encode (see
# docs/checks and ISTIO-NOTES): persistent sessions exist from Istio 1.17, and the fixtures are
# recorded on Envoy 1.40.
KNOWN_ISTIO = "1.17 – 1.29"
KNOWN_ENVOY = "1.24 – 1.40"
