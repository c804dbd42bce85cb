"""The pure planner: no server, no sockets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slackgenie.settings import GroupSync
from slackgenie.core.model import Action, ActualGroup, OnCall, ReadFailure, Resolution, SlackUser, schedule_key
from slackgenie.core.plan import desired_for, plan_group


def K(ref: str) -> str:
    """The key a pass gives a schedule reference of the default provider."""
    return schedule_key("opsgenie", ref)


def on_call(ref: str, *usernames: str, enabled: bool = True) -> OnCall:
    return OnCall(ref, "id-" + ref, ref, frozenset(usernames), enabled)


def res(identity: str, uid: str | None, problem: str | None = None, transient: bool = False) -> Resolution:
    user = SlackUser(uid, identity.split("@")[0], identity) if uid else None
    return Resolution(identity, user, problem, transient)


def group(*members: str, disabled: bool = False) -> ActualGroup:
    return ActualGroup("S1", "oncall", frozenset(members), disabled)


SYNC = GroupSync(usergroup="oncall", schedules=["A", "B"])


def test_union_of_schedules_and_static_users() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A", "B"], users=["lead@x.io"])
    desired = desired_for(sync, {K("A"): on_call("A", "a@x.io"), K("B"): on_call("B", "b@x.io")}, {})
    assert desired.identities == {"a@x.io", "b@x.io", "lead@x.io"}
    assert not desired.errors


def test_user_map_translates_opsgenie_usernames() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a.og@x.io"), K("B"): on_call("B")}, {"a.og@x.io": "a@x.io"})
    assert desired.identities == {"a@x.io"}
    assert desired.on_call == {"a.og@x.io"}


def test_a_failed_read_is_never_nobody() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a@x.io"), K("B"): ReadFailure("B", "HTTP 503")}, {})
    assert desired.errors and "'B'" in desired.errors[0] and "HTTP 503" in desired.errors[0]
    plan = plan_group(SYNC, desired, {}, group("U9"))
    assert plan.action is Action.FAILED
    assert plan.add == plan.remove == frozenset()
    assert plan.desired == {"U9"}


def test_nobody_on_call_keep_leaves_group_alone() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A"), K("B"): on_call("B")}, {})
    plan = plan_group(SYNC, desired, {}, group("U1"))
    assert plan.action is Action.KEEP and plan.ok
    assert "nobody is on call" in plan.warnings[0]


def test_nobody_on_call_fallback_sets_fallback_members() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A"], when_empty="fallback", fallback=["boss@x.io"])
    desired = desired_for(sync, {K("A"): on_call("A")}, {})
    plan = plan_group(sync, desired, {"boss@x.io": res("boss@x.io", "UBOSS")}, group("U1"))
    assert plan.action is Action.UPDATE
    assert plan.add == {"UBOSS"} and plan.remove == {"U1"}


def test_static_users_keep_a_group_from_being_empty() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A"], users=["lead@x.io"])
    desired = desired_for(sync, {K("A"): on_call("A")}, {})
    plan = plan_group(sync, desired, {"lead@x.io": res("lead@x.io", "ULEAD")}, group("U1"))
    assert plan.desired == {"ULEAD"} and plan.action is Action.UPDATE


def test_unresolvable_person_is_named_and_the_rest_still_sync() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a@x.io", "ghost@x.io"), K("B"): on_call("B")}, {})
    resolutions = {"a@x.io": res("a@x.io", "UA"), "ghost@x.io": res("ghost@x.io", None, "no Slack user")}
    plan = plan_group(SYNC, desired, resolutions, group("U1"))
    assert plan.action is Action.UPDATE and plan.desired == {"UA"}
    assert not plan.ok and "ghost@x.io" in plan.errors[0]


def test_a_failed_slack_lookup_is_a_read_error_not_a_missing_person() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a@x.io", "b@x.io"), K("B"): on_call("B")}, {})
    resolutions = {"a@x.io": res("a@x.io", "UA"), "b@x.io": res("b@x.io", None, "ratelimited", transient=True)}
    plan = plan_group(SYNC, desired, resolutions, group("UOLD"))
    assert plan.action is Action.FAILED and plan.add == plan.remove == frozenset()
    assert any("b@x.io" in e and "ratelimited" in e for e in plan.errors)


def test_nobody_resolvable_leaves_group_untouched() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "ghost@x.io"), K("B"): on_call("B")}, {})
    plan = plan_group(SYNC, desired, {"ghost@x.io": res("ghost@x.io", None, "gone")}, group("U1"))
    assert plan.action is Action.FAILED and plan.add == plan.remove == frozenset()


def test_missing_and_disabled_groups_fail_by_name() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a@x.io"), K("B"): on_call("B")}, {})
    missing = plan_group(SYNC, desired, {"a@x.io": res("a@x.io", "UA")}, None)
    assert missing.action is Action.FAILED and "@oncall does not exist" in missing.errors[0]
    disabled = plan_group(SYNC, desired, {"a@x.io": res("a@x.io", "UA")}, group("U1", disabled=True))
    assert disabled.action is Action.FAILED and "disabled" in disabled.errors[0]


def test_disabled_schedule_is_a_warning() -> None:
    desired = desired_for(SYNC, {K("A"): on_call("A", "a@x.io", enabled=False), K("B"): on_call("B")}, {})
    assert any("disabled" in w for w in desired.warnings)


ACCOUNT = "712020:0b1c2d3e-hidden"


def hidden(*visible: str) -> OnCall:
    """A JSM answer: one account whose e-mail is hidden, and people whose e-mails are visible."""
    return OnCall(K("A"), "id-A", "A", frozenset({ACCOUNT, *visible}), True,
                  ((ACCOUNT, "Atlassian account 712020:0b1c2d3e-hidden does not show its e-mail"),))


def test_a_person_known_only_by_account_id_is_named_and_asks_for_a_mapping() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A"])
    desired = desired_for(sync, {K("A"): hidden("a@x.io")}, {})
    assert desired.identities == {"a@x.io"} and not desired.errors
    plan = plan_group(sync, desired, {"a@x.io": res("a@x.io", "U1")}, group("U9"))
    assert plan.desired == {"U1"} and not plan.ok  # the rest sync; the exit code says something is wrong
    assert any(ACCOUNT in e and "users:" in e for e in plan.errors)


def test_only_hidden_people_on_call_is_never_nobody() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A"], when_empty="fallback", fallback=["boss@x.io"])
    desired = desired_for(sync, {K("A"): hidden()}, {})
    assert "boss@x.io" not in desired.identities  # someone is on call: not the fallback
    plan = plan_group(sync, desired, {}, group("U9"))
    assert plan.action is Action.FAILED and plan.current == plan.desired == {"U9"}


def test_a_mapped_account_id_resolves_like_an_email() -> None:
    sync = GroupSync(usergroup="oncall", schedules=["A"])
    desired = desired_for(sync, {K("A"): hidden()}, {ACCOUNT: "c@x.io"})
    assert desired.identities == {"c@x.io"} and not desired.unmappable


# --- properties ------------------------------------------------------------------------------
emails = st.sampled_from([f"p{i}@x.io" for i in range(8)])
ids = {f"p{i}@x.io": f"U{i:03d}" for i in range(8)}
read = st.one_of(st.frozensets(emails, max_size=4).map(lambda s: on_call("A", *s)),
                 st.just(ReadFailure("A", "boom")))


@given(read=read, static=st.lists(emails, max_size=2, unique=True),
       current=st.frozensets(st.sampled_from(sorted(ids.values())), max_size=5),
       policy=st.sampled_from(["keep", "fallback"]), unresolvable=st.frozensets(emails, max_size=3),
       lookup_failed=st.frozensets(emails, max_size=2))
def test_planner_properties(read, static, current, policy, unresolvable, lookup_failed) -> None:  # type: ignore[no-untyped-def]
    sync = GroupSync(usergroup="oncall", schedules=["A"], users=static, when_empty=policy,
                     fallback=["p7@x.io"] if policy == "fallback" else [])
    desired = desired_for(sync, {K("A"): read}, {})
    resolutions = {e: res(e, None, "ratelimited", transient=True) if e in lookup_failed
                   else res(e, None, "gone") if e in unresolvable else res(e, uid) for e, uid in ids.items()}
    plan = plan_group(sync, desired, resolutions, group(*current))
    if desired.identities & lookup_failed and not desired.errors:
        assert plan.action is Action.FAILED  # a failed lookup never shrinks a group

    # Never an empty write; never a write from an untrustworthy read.
    if plan.action is Action.UPDATE:
        assert plan.desired
        assert not isinstance(read, ReadFailure)
        assert plan.desired != current
    else:
        assert plan.add == plan.remove == frozenset()
    if isinstance(read, ReadFailure):
        assert plan.action is Action.FAILED
    # Applying the plan converges: planning again against the result changes nothing.
    after = plan_group(sync, desired, resolutions, group(*plan.desired)) if plan.action is Action.UPDATE else plan
    assert after.action is not Action.UPDATE
    # Everyone who is added resolved to a usable account; nobody unresolvable is added.
    assert all(uid in {ids[e] for e in ids if e not in unresolvable | lookup_failed} for uid in plan.add)


def test_gaps_are_what_no_interval_covers() -> None:
    from datetime import datetime, timedelta, timezone

    from slackgenie.core.shifts import gaps

    t0 = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)

    def h(n: float) -> datetime:
        return t0 + timedelta(hours=n)

    assert gaps([], h(0), h(10)) == [(h(0), h(10))]
    assert gaps([(h(0), h(10))], h(0), h(10)) == []
    # overlapping, unordered, spilling past both ends
    assert gaps([(h(6), h(12)), (h(-2), h(3)), (h(2), h(4))], h(0), h(10)) == [(h(4), h(6))]
    assert gaps([(h(1), h(2)), (h(2), h(3))], h(0), h(5)) == [(h(0), h(1)), (h(3), h(5))]  # touching: no hole
