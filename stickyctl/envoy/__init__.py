"""Envoy-side models: config dump loading and session value codecs."""
