"""Operating it: the web endpoints, check, status, the printed report (logging and metrics: ``telemetry/``)."""
