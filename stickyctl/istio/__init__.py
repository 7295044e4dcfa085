"""Istio's side: session labels, cluster names, istiod settings, proxy identity."""
