"""iCalendar (RFC 5545) feeds as an on-call source: a secret ``https``/``webcal`` address per schedule,
read with conditional GETs. ``feed.py`` turns a feed's bytes into who is on call when (pure, no I/O).
The provider itself (settings, client, source, its ``ProviderSpec``) is still to come (issue 21)."""
