"""Operating it: logging and redaction, metrics, the web endpoints, check, status, the printed report."""
