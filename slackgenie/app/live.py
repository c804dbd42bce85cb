"""Live answers for names the snapshot knows but holds no on-call answer for (run in a lazy listener)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from slackgenie.app.answers import Message, NeedsLookup, Query, answer
from slackgenie.app.snapshot import ScheduleState, Snapshot
from slackgenie.model import OnCall, ReadFailure, split_key
from slackgenie.plan import map_identity
from slackgenie.slack.directory import Directory
from slackgenie.sources.base import OnCallSource


class LiveLookup:
    def __init__(self, source: OnCallSource, directory: Directory, user_map: dict[str, str]):
        self.source = source
        self.directory = directory
        self.user_map = user_map

    def answer(self, need: NeedsLookup, snapshot: Snapshot, now: datetime) -> Message:
        schedules = dict(snapshot.schedules)
        for ref in need.match.schedules:
            state = schedules.get(ref) or ScheduleState(ref, split_key(ref)[1], configured=False)
            read = self.source.on_calls([state.ref]).get(state.ref) or ReadFailure(ref, "no answer")
            if isinstance(read, OnCall):
                state = replace(state, on_call=tuple(sorted(read.usernames)), as_of=now, error=None, configured=True)
            else:
                state = replace(state, error=read.error, configured=True)
            schedules[ref] = state
        slack_ids = dict(snapshot.slack_ids)
        for username in {u for ref in need.match.schedules for u in schedules[ref].on_call or ()} - set(slack_ids):
            resolution = self.directory.resolve(map_identity(username, self.user_map))
            if resolution.user is not None:
                slack_ids[username] = resolution.user.id
        live = replace(snapshot, schedules=schedules, slack_ids=slack_ids)
        result = answer(Query(need.query.kind, need.match.key, need.query.public), live, now)
        assert isinstance(result, Message)
        return result
