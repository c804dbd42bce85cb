"""Slack's error codes as the rest of the process may see them: named here, inside ``slack/``,
so that no module outside it spells one (``slack/errors.py`` says what each means and its fix).
"""

from __future__ import annotations

# The codes a metric's ``status`` label may carry (telemetry/metrics.py is handed them): whatever
# else Slack answers (an error page, a token it echoes) becomes "other", so it can neither reach
# the unauthenticated /metrics nor make a new series per distinct answer.
METRIC_CODES = frozenset({
    "ratelimited", "invalid_auth", "not_authed", "account_inactive", "token_revoked",
    "missing_scope", "no_permission", "not_allowed_token_type", "no_such_subteam", "subteam_not_found",
    "invalid_users", "user_not_found", "users_not_found", "channel_not_found", "not_in_channel",
    "is_archived", "invalid_json", "internal_error", "fatal_error", "request_timeout", "service_unavailable",
    "failed_for_some_users", "subteam_max_users_exceeded", "plan_upgrade_required", "paid_teams_only",
    "permission_denied", "missing_argument", "target_team_must_be_specified_in_org_context", "invalid_team",
    "target_team_not_on_org", "team_access_not_granted", "team_added_to_org", "org_login_required",
    "name_already_exists", "handle_already_exists", "description_too_long", "invalid_channel_provided",
    "too_many_linked_channels",
})
