"""Who a provider's user is, as the stages name them: the same rule for every provider whose
users have an id and maybe an e-mail (JSM Ops' Atlassian accounts, PagerDuty's users).

A ``users:`` key that is the provider's id for someone names that person, before their e-mail
(the mapping is the operator's word; an e-mail may be a shared desk address, or none Slack
knows); otherwise their e-mail, lower-cased; otherwise nobody the provider named usably."""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f<>]+@[^@\s\x00-\x1f\x7f<>]+$")


def is_email(value: str) -> bool:
    """Whether a provider's value is an e-mail: never a Slack id, a mention or a forged line."""
    return bool(EMAIL_RE.match(value))


class UserKeys:
    """The file's ``users:`` keys, found whatever their case."""

    def __init__(self, keys: Iterable[str]):
        self._keys = {key.strip().lower(): key.strip() for key in keys}

    def mapped(self, user_id: str) -> str | None:
        """The ``users:`` key, as written (the plan maps it), that names this user id; None: none."""
        return self._keys.get(user_id.lower())

    def person(self, user_id: str, email: str | None) -> str | None:
        """The user's ``users:`` key, else their e-mail lower-cased; None when neither is usable."""
        mapped = self.mapped(user_id)
        if mapped is not None:
            return mapped
        address = (email or "").strip()
        return address.lower() if is_email(address) else None
