"""Slackgenie: keep Slack user groups holding exactly the people on call in Opsgenie."""

__version__ = "0.1.0"
