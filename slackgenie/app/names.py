"""The names a person may ask for (groups, schedules, teams) and the one they meant: case, '@'
and small typos forgiven, close rivals offered instead of a guess. Pure, bounded per question."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from slackgenie.app.snapshot import Snapshot, remembered


@dataclass(frozen=True)
class Match:
    kind: str  # group | schedule | team
    key: str
    schedules: tuple[str, ...]  # schedule refs or names in the snapshot


@dataclass(frozen=True)
class Unknown:
    """No single name matched: ``names`` are the close ones (``ambiguous``) or all there are."""

    names: list[str]
    ambiguous: bool = False


CLOSE = 0.75  # difflib's ratio a name needs to be taken for the one asked
RIVALS = 0.05  # names scoring within this of the best are equally likely: ask, don't guess
# A mention is matched on its first MENTION_WORDS words once the small ones ("who", "is", "on"…)
# are dropped: "who is on call for payments?" needs one, a question about two teams a few. A
# pasted essay then costs what a question costs: at most 2 * MENTION_WORDS - 1 spans (a word, or
# two side by side), each scored against each name once.
MENTION_WORDS = 12
_WORD = re.compile(r"[@\w.-]+")
_SMALL_WORDS = frozenset({"who", "is", "on", "call", "for", "the", "next", "now", "oncall", "on-call", "whos", "s",
                          "right", "in"})
# A name scoring below this can neither win (CLOSE is needed) nor rival the winner (within RIVALS),
# so difflib's full ratio is computed only where its cheap upper bounds reach it.
_RELEVANT = 0.7


def normalised(name: str) -> str:
    """``@Delivery-Support`` -> ``deliverysupport``: the form names are compared in."""
    return re.sub(r"[^a-z0-9]+", "", name.lower().lstrip("@"))


def names_in(snapshot: Snapshot) -> dict[str, Match]:
    """Every name a person may ask for, normalised, with what it stands for (made once per snapshot)."""
    table: dict[str, Match] = remembered(snapshot, "names", lambda: _names(snapshot))
    return table


def _names(snapshot: Snapshot) -> dict[str, Match]:
    out: dict[str, Match] = {}
    for team, schedules in snapshot.teams.items():
        out[normalised(team)] = Match("team", team, schedules)
    for ref, s in snapshot.schedules.items():
        out.setdefault(normalised(s.name), Match("schedule", s.name, (ref,)))
        out.setdefault(normalised(s.name.removesuffix("_schedule")), Match("schedule", s.name, (ref,)))
    for g in snapshot.groups:
        out[normalised(g.handle)] = Match("group", g.handle, g.schedules)
    return out


def find(name: str, snapshot: Snapshot) -> Match | Unknown:
    """The best match for a name (case, '@' and small typos forgiven), or suggestions."""
    table = names_in(snapshot)
    key = normalised(name)
    if key in table:
        return table[key]
    found: Match | Unknown = remembered(snapshot, ("find", key), lambda: _closest(key, table))
    return found


def _label(m: Match) -> str:
    return "@" + m.key if m.kind == "group" else m.key


def _closest(key: str, table: dict[str, Match]) -> Match | Unknown:
    # difflib's own quick bounds first (get_close_matches): only the few close names are scored
    # in full, not thousands of them.
    candidates = difflib.get_close_matches(key, table, n=10, cutoff=CLOSE)
    scored = sorted(((difflib.SequenceMatcher(None, key, k).ratio(), k) for k in candidates), reverse=True)
    close = [k for score, k in scored if score >= CLOSE and scored[0][0] - score < RIVALS]
    if close:
        if len({table[k].key for k in close}) == 1:
            return table[close[0]]
        return Unknown(sorted({_label(table[k]) for k in close}), True)
    prefixed = {table[k].key: table[k] for k in table if len(key) >= 3 and (k.startswith(key) or key.startswith(k))}
    if len(prefixed) == 1:
        return next(iter(prefixed.values()))
    if prefixed:
        return Unknown(sorted(_label(m) for m in prefixed.values()), True)
    return Unknown(sorted({_label(m) for m in table.values()}))


def _similarity(key: str, name: str) -> float:
    """difflib's ratio of ``key`` to ``name``, or 0.0 where its upper bounds show it is below
    ``_RELEVANT`` (the length bound costs nothing; ``quick_ratio`` is linear)."""
    if key == name:
        return 1.0
    if 2.0 * min(len(key), len(name)) < _RELEVANT * (len(key) + len(name)):  # real_quick_ratio
        return 0.0
    matcher = difflib.SequenceMatcher(None, key, name)
    return matcher.ratio() if matcher.quick_ratio() >= _RELEVANT else 0.0


def mention_words(text: str) -> list[str]:
    """The words of a mention that are matched against the names: the first ``MENTION_WORDS``
    that are not small words, lower-cased. Reads no further into ``text`` than it needs."""
    out: list[str] = []
    for found in _WORD.finditer(text):
        word = found.group().lower()
        if word not in _SMALL_WORDS:
            out.append(word)
            if len(out) == MENTION_WORDS:
                break
    return out


def find_in_sentence(text: str, snapshot: Snapshot) -> Match | None:
    """For mentions: the name in "who is on call for payments?" (among its first words, see
    ``MENTION_WORDS``)."""
    candidates = mention_words(text)
    spans = [" ".join(candidates[i:i + 2]) for i in range(len(candidates) - 1)] + candidates  # longer first
    table = names_in(snapshot)
    best: tuple[float, Match | None] = (0.0, None)
    runner_up = 0.0
    for key in filter(None, (normalised(span) for span in spans)):
        for name, match in table.items():
            score = _similarity(key, name)
            if name.startswith(key) and len(key) >= 4 and name != key:
                score = max(score, 0.9)
            if score > best[0]:
                if best[1] is not None and best[1].key != match.key:
                    runner_up = best[0]
                best = (score, match)
            elif best[1] is not None and match.key != best[1].key:
                runner_up = max(runner_up, score)
    if best[0] < CLOSE or (best[0] < 1.0 and best[0] - runner_up < RIVALS):
        return None  # nothing, or two names equally likely: better to show everything than guess
    return best[1]
