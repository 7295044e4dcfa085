"""The analysis engine: context (facts computed once), one rule module per code, the runner.

It never imports the CLI (as istio's pkg/config/analysis never imports istioctl).
"""
