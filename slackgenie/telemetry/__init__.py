"""The floor every stage stands on: structured logging with one redaction for every output, and the
Prometheus metrics. Imports nothing of Slackgenie but ``core``."""
