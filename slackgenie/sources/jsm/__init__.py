"""JSM Operations as an on-call source: moving from one module to a package (issue 19).

Everything is still in ``source.py``; the next commit splits it by job."""

from slackgenie.sources.jsm.source import SPEC, JsmSecrets, JsmSource

__all__ = ["SPEC", "JsmSecrets", "JsmSource"]
