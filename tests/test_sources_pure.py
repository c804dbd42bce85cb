"""The shared pieces of sources/ on their own, no server: paging, "fits or fails the read", the
Retry-After reading and hold (retry.py), ApiClient's retries and deadlines over an in-process
httpx.MockTransport, the time-limited caches on a fake clock, the catalog, who a user is, and the
one pool a source reads with. Every expected value is written out by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import StrictStr, ValidationError

from slackgenie.core.model import ReadFailure
from slackgenie.retry import MAX_THROTTLE, Holds, RetryPolicy, Stop, retry_after
from slackgenie.sources.caches import Kept, TimedMap
from slackgenie.sources.catalog import Catalog
from slackgenie.sources.http import (ApiClient, Dialect, SourceAuthError, SourceError, SourceNotFound,
                                     SourceUnavailable)
from slackgenie.sources.identity import UserKeys, is_email
from slackgenie.sources.paging import Listing, Page, PartialAnswer, every, start_named
from slackgenie.sources.reads import read
from slackgenie.sources.validate import Malformed, Text, Wire, fit, fit_at, fits, fitting
from slackgenie.sources.workers import Workers


class FakeClock:
    def __init__(self, at: float = 1000.0):
        self.at = at

    def __call__(self) -> float:
        return self.at


# --- paging ----------------------------------------------------------------------------------------
USERS = Listing("Jira user API", "user/bulk", "users", limit=3, link="nextPage")


def pager(pages: dict[int, Page[str]], asked: list[int]) -> Callable[[int], Page[str]]:
    def fetch(start: int) -> Page[str]:
        asked.append(start)
        return pages[start]
    return fetch


def test_offset_pages_are_read_to_the_last() -> None:
    asked: list[int] = []
    pages = {0: Page(["a", "b"], True), 2: Page(["c", "d"], True), 4: Page(["e"], False)}
    assert every(Listing("PagerDuty", "the schedule list", "schedules", 10), pager(pages, asked)) == \
        ["a", "b", "c", "d", "e"]
    assert asked == [0, 2, 4]


def test_a_link_names_where_the_next_page_starts() -> None:
    asked: list[int] = []
    # the server answers fewer than asked: the link, not the page's length, says where to go on
    pages = {0: Page(["a"], True, next_start=5), 5: Page(["b"], False)}
    assert every(USERS, pager(pages, asked)) == ["a", "b"]
    assert asked == [0, 5]
    assert start_named("https://acme.atlassian.net/rest/api/3/user/bulk?startAt=5&maxResults=5", "startAt") == 5
    assert start_named("/v1/schedules?size=50&offset=100", "offset") == 100
    assert start_named("/v1/schedules?size=50", "offset") is None
    assert start_named("/v1/schedules?offset=ten", "offset") is None
    assert start_named(None, "offset") is None


def test_a_list_that_never_ends_fails_within_its_bound_of_pages() -> None:
    asked: list[int] = []

    def endless(start: int) -> Page[str]:
        asked.append(start)
        return Page([f"p{start}"], True)

    got: list[str] = []
    with pytest.raises(PartialAnswer, match=r"^Jira user API: user/bulk did not end within 3 pages$"):
        got = every(USERS, endless)
    assert asked == [0, 1, 2] and got == []  # three pages read, none of them taken for the whole


@pytest.mark.parametrize("pages, error", [
    ({0: Page(["a"], True), 1: Page([], True)}, "Jira user API: an empty page of users says more follow"),
    ({0: Page(["a"], True, next_start=0)}, "Jira user API: user/bulk's nextPage does not move on"),
])
def test_a_partial_answer_fails_the_read(pages: dict[int, Page[str]], error: str) -> None:
    with pytest.raises(PartialAnswer) as caught:
        every(USERS, pager(pages, []))
    assert str(caught.value) == error
    assert isinstance(caught.value, SourceError)  # a failed read like any other


def test_a_page_repeating_the_one_before_is_stuck_where_that_is_looked_for() -> None:
    same = {0: Page(["a", "b"], True), 2: Page(["a", "b"], False)}
    stuck = Listing("PagerDuty", "the on-call answer", "on-calls", 10, stuck="the on-call pages do not move on")
    with pytest.raises(PartialAnswer, match="^PagerDuty: the on-call pages do not move on$"):
        every(stuck, pager(same, []))
    assert every(Listing("JSM Ops", "the schedule list", "schedules", 10), pager(same, [])) == ["a", "b", "a", "b"]


# --- "fits, or the read fails as malformed" ---------------------------------------------------------
class Person(Wire):
    name: Text
    email: StrictStr | None = None


class People(Wire):
    values: list[Person]


class Final(Wire):
    entries: list[Person]


def test_an_answer_that_fits_is_read_and_unknown_fields_are_ignored() -> None:
    got = fit(People, {"values": [{"name": "Ann", "extra": 1}], "total": 1}, "X: the list is")
    assert got == People(values=[Person(name="Ann")])


def test_an_answer_that_does_not_fit_names_what_and_where() -> None:
    with pytest.raises(Malformed) as caught:
        fit(People, {"values": [{"name": "Ann"}, {"name": 7}]}, "X: the list is")
    assert str(caught.value) == "X: the list is malformed at values.1.name: Input should be a valid string"
    assert isinstance(caught.value, SourceError)
    with pytest.raises(Malformed) as whole:
        fit(People, ["not", "an", "object"], "X: the list is", at="data.")
    assert str(whole.value).startswith("X: the list is malformed at data.(answer): ")


@pytest.mark.parametrize("name", ["", "line\nbreak", "nul\x00", "x" * 513])
def test_a_name_with_control_characters_or_no_length_is_not_a_name(name: str) -> None:
    assert fits(Person, {"name": name}) is None


def test_the_envelopes_around_what_is_read_are_named_in_the_error() -> None:
    raw = {"schedule": {"final_schedule": {"entries": [{"name": "Ann"}]}}}
    assert fit_at(("schedule", "final_schedule"), Final, raw, "P: it is") == Final(entries=[Person(name="Ann")])
    with pytest.raises(Malformed, match=r"^P: it is malformed at schedule\.final_schedule\.entries\.0\.name: "):
        fit_at(("schedule", "final_schedule"), Final, {"schedule": {"final_schedule": {"entries": [{}]}}}, "P: it is")
    with pytest.raises(Malformed, match=r"^P: it is malformed at schedule: Field required$"):
        fit_at(("schedule", "final_schedule"), Final, {}, "P: it is")


def test_a_list_read_item_by_item_leaves_out_only_the_odd_ones() -> None:
    assert fitting(Person, [{"name": "Ann"}, {"name": None}, "x", {"name": "Bo"}], "test.unreadable") == \
        [Person(name="Ann"), Person(name="Bo")]
    with pytest.raises(ValidationError):  # fits/fitting never hide what fit raises for
        Person.model_validate({"name": None})


# --- Retry-After, and the hold after a 429 -----------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("12", 12.0), (" 7 ", 7.0), ("0.5", 0.5), ("0", 0.0), (["3"], 3.0),
    ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # 100 s after the epoch, read at 40 s after it
    ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # already past
    ("Sat, 01 Jan 2000 00:00:00 GMT", MAX_THROTTLE),  # decades ahead of 40 s: capped
    ("-5", 0.0), ("1e9", 300.0), ("inf", 300.0),
    ("soon", None), ("", None), ("nan", None), (None, None), ([], None), ("12 seconds", None),
])
def test_retry_after_reads_seconds_or_a_date_within_bounds(value: object, expected: float | None) -> None:
    assert retry_after(value, now=40.0) == expected


def test_a_hold_lasts_its_seconds_on_its_clock_and_is_never_cut_short() -> None:
    clock = FakeClock(1000.0)
    holds = Holds(clock)
    assert holds.left("users.update") == 0.0
    holds.hold("users.update", 10)
    assert holds.left("users.update") == 10.0 and holds.left("setTopic") == 0.0
    clock.at = 1004.0
    assert holds.left("users.update") == 6.0
    holds.hold("users.update", 2)  # a shorter hold does not shorten the one under way
    assert holds.left("users.update") == 6.0
    holds.hold("setTopic", 1e9)
    assert holds.left("setTopic") == 300.0
    holds.hold("other", -5)
    assert holds.left("other") == 0.0
    clock.at = 1010.0
    assert holds.left("users.update") == 0.0


# --- ApiClient against an in-process transport -------------------------------------------------------
DIALECT = Dialect(api="test", title="Test API", auth_fix="check TEST_KEY",
                  message=lambda body: body.get("message") if isinstance(body, dict) else None)
FAST = RetryPolicy(timeout=2, attempts=3, budget=5, backoff=0, max_backoff=0)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | int | None]] = []
        self.retries: list[tuple[str, str, float]] = []

    def api_request(self, api: str, method: str, status: str | int | None) -> None:
        self.requests.append((api, method, status))

    def api_retry(self, api: str, reason: str, wait: float) -> None:
        self.retries.append((api, reason, wait))


def client(answers: list[Any], policy: RetryPolicy = FAST, stop: Stop | None = None,
           observer: Recorder | None = None) -> tuple[ApiClient, list[httpx.Request]]:
    """A client whose n-th request gets ``answers[n]`` (a response, or an exception to raise)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    api = ApiClient("https://api.test.invalid", DIALECT, {"Authorization": "Key k"}, policy,
                    transport=httpx.MockTransport(handle), observer=observer, stop=stop)
    return api, seen


def test_5xx_are_retried_until_an_answer() -> None:
    recorder = Recorder()
    api, seen = client([httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": 1})],
                       observer=recorder)
    assert api.get("getThing", "/thing", {"a": "1"}) == {"ok": 1}
    assert len(seen) == 3 and seen[0].url.params["a"] == "1" and seen[0].headers["Authorization"] == "Key k"
    assert [r[2] for r in recorder.requests] == [503, 502, 200]
    assert [r[1] for r in recorder.retries] == ["server_error", "server_error"]


def test_retries_end_after_the_policy_s_attempts() -> None:
    api, seen = client([httpx.Response(500, json={"message": "boom"})])
    with pytest.raises(SourceUnavailable, match=r"^Test API: HTTP 500: boom \(gave up after retries\)$"):
        api.get("getThing", "/thing")
    assert len(seen) == 3


@pytest.mark.parametrize("status, error", [(401, SourceAuthError), (403, SourceAuthError), (404, SourceNotFound),
                                           (400, SourceError)])
def test_refusals_are_typed_and_not_retried(status: int, error: type[SourceError]) -> None:
    api, seen = client([httpx.Response(status, json={"message": "no"}, headers={"X-Request-ID": "r-1"})])
    with pytest.raises(error) as caught:
        api.get("getThing", "/thing")
    assert len(seen) == 1 and caught.value.status == status and caught.value.request_id == "r-1"
    assert str(caught.value).startswith(f"Test API: HTTP {status}: no")
    if status in (401, 403):
        assert str(caught.value).endswith("(check TEST_KEY)")


def test_a_write_sent_once_is_not_retried() -> None:
    api, seen = client([httpx.Response(503)])
    with pytest.raises(SourceUnavailable):
        api.call("create", "POST", "/things", body={"x": 1}, retry=False)
    assert len(seen) == 1 and seen[0].content == b'{"x":1}'


def test_a_retry_after_within_the_budget_is_waited_for() -> None:
    recorder = Recorder()
    api, seen = client([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json=[])],
                       observer=recorder)
    assert api.get("getThing", "/thing") == []
    assert len(seen) == 2 and recorder.retries == [("test", "rate_limited", 0.0)]
    assert api.throttled_for() == 0.0


def test_a_retry_after_beyond_the_budget_fails_at_once_and_holds_the_api_back() -> None:
    api, seen = client([httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(200, json={})])
    with pytest.raises(SourceUnavailable, match=r"HTTP 429.*\(gave up after retries\)"):
        api.get("getThing", "/thing")
    assert len(seen) == 1
    assert 4.0 < api.throttled_for() <= 5.0  # held for the window, but no longer than the retry budget (5 s)
    with pytest.raises(SourceUnavailable, match=r"^Test API: HTTP 429: rate-limited for 5 s more \(not sent\)$"):
        api.get("getThing", "/other")
    assert len(seen) == 1  # not sent


@pytest.mark.parametrize("failure, error", [
    (httpx.ReadTimeout("slow"), r"^Test API: timed out after retries \(2s per attempt\)$"),
    (httpx.ConnectError("refused"), r"^Test API: connection failed after retries: ConnectError$"),
])
def test_a_call_without_an_answer_is_retried_then_unavailable(failure: Exception, error: str) -> None:
    recorder = Recorder()
    api, seen = client([failure], observer=recorder)
    with pytest.raises(SourceUnavailable, match=error):
        api.get("getThing", "/thing")
    assert len(seen) == 3 and [r[1] for r in recorder.retries] == ["connection", "connection"]
    assert [r[2] for r in recorder.requests] == [None, None, None]


def test_nothing_is_retried_once_a_stop_is_asked() -> None:
    stop = Stop()
    stop.set()
    api, seen = client([httpx.Response(503)], stop=stop)
    with pytest.raises(SourceUnavailable):
        api.get("getThing", "/thing")
    assert len(seen) == 1


def test_retries_end_with_the_budget_whatever_the_attempts() -> None:
    api, seen = client([httpx.Response(503)], RetryPolicy(timeout=1, attempts=20, budget=0.5, backoff=0.2,
                                                          max_backoff=0.2))
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        api.get("getThing", "/thing")
    took = time.monotonic() - started
    assert 2 <= len(seen) <= 4 and took < 2.0  # waits of 0.2-0.4 s within a 0.5 s budget, not 20 attempts


def test_an_answer_that_drips_is_cut_at_the_attempt_s_timeout() -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(50):  # bounded: 50 chunks, 0.1 s apart
            time.sleep(0.1)
            yield b" "

    api, seen = client([httpx.Response(200, content=drip())], RetryPolicy(timeout=0.3, attempts=1, budget=1))
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="timed out"):
        api.get("getThing", "/thing")
    assert time.monotonic() - started < 1.5 and len(seen) == 1


# --- the time-limited caches, on a fake clock ----------------------------------------------------------
def test_a_kept_value_is_read_again_once_its_age_has_passed() -> None:
    clock, reads = FakeClock(), []

    def fetch() -> list[str]:
        reads.append(clock.at)
        return [f"list read at {clock.at}"]

    kept = Kept(fetch, age=10, timer=clock)
    assert kept.get() == ["list read at 1000.0"]
    clock.at = 1009.9
    assert kept.get() == ["list read at 1000.0"] and reads == [1000.0]
    clock.at = 1010.0  # exactly its age: read again
    assert kept.get() == ["list read at 1010.0"]
    clock.at = 1014.0
    assert kept.get(refresh_if_older=5) == ["list read at 1010.0"]  # 4 s old
    clock.at = 1015.0
    assert kept.get(refresh_if_older=5) == ["list read at 1015.0"]  # 5 s old
    assert reads == [1000.0, 1010.0, 1015.0]


def test_a_failed_read_is_not_kept() -> None:
    calls: list[int] = []

    def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise SourceUnavailable("down")
        return "up"

    kept = Kept(fetch, age=3600, timer=FakeClock())
    with pytest.raises(SourceUnavailable):
        kept.get()
    assert kept.get() == "up" and kept.get() == "up" and len(calls) == 2


def test_a_kept_value_is_read_once_however_many_ask_at_once() -> None:
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.2)
        return "list"

    kept = Kept(slow, age=60)
    threads = [threading.Thread(target=kept.get) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(calls) == 1


def test_a_timed_map_forgets_each_value_at_its_age() -> None:
    clock = FakeClock()
    kept: TimedMap[str, str] = TimedMap(age=300, timer=clock)
    kept.put("acc-1", "ann@example.com")
    clock.at = 1100.0
    kept.put("acc-2", "bo@example.com")
    clock.at = 1299.9
    assert kept.get("acc-1") == "ann@example.com"
    clock.at = 1300.0
    assert kept.get("acc-1") is None and kept.get("acc-2") == "bo@example.com"
    kept.drop_where(lambda email: email.startswith("bo"))
    assert kept.get("acc-2") is None
    never: TimedMap[str, str] = TimedMap(age=0, timer=clock)  # jsm.recheck: 0, read every pass
    never.put("ref", "answer")
    assert never.get("ref") is None


# --- the catalog, who a user is, one schedule's read -------------------------------------------------
def test_the_catalog_finds_by_id_first_then_by_a_unique_name() -> None:
    clock, reads = FakeClock(), []
    schedules = [("S1", "Payments"), ("S2", "Dup"), ("S3", "Dup"), ("Ops", "Named like an id"), ("S5", "Ops")]

    def fetch() -> list[tuple[str, str]]:
        reads.append(clock.at)
        return list(schedules)

    catalog = Catalog(fetch, lambda s: s[0], lambda s: s[1], "Test API", "no such schedule", timer=clock)
    assert catalog.resolve("S1") == ("S1", "Payments")
    assert catalog.resolve("Payments") == ("S1", "Payments")
    assert catalog.resolve("Ops") == ("Ops", "Named like an id")  # an id wins over a name
    assert catalog.resolve("Dup") == ReadFailure("Dup", "Test API has 2 schedules named 'Dup': name it by id")
    assert reads == [1000.0]
    schedules.append(("S6", "Created since"))
    clock.at = 1030.0  # a name the kept list lacks: looked for in a list at most a minute old (this one)
    assert catalog.resolve("Created since") == ReadFailure("Created since", "no such schedule")
    assert reads == [1000.0]
    clock.at = 1060.0  # now a minute old: read again
    assert catalog.resolve("Created since") == ("S6", "Created since")
    assert catalog.resolve("Gone") == ReadFailure("Gone", "no such schedule")
    assert reads == [1000.0, 1060.0]


def test_a_catalog_that_cannot_be_read_fails_every_reference_with_one_read() -> None:
    reads: list[int] = []

    def down() -> list[str]:
        reads.append(1)
        raise SourceUnavailable("Test API: HTTP 503: down (gave up after retries)", 503)

    catalog = Catalog(down, str, str, "Test API", "no such schedule", timer=FakeClock())
    failure = "Test API: HTTP 503: down (gave up after retries)"
    assert catalog.resolve_all(["a", "b", "c"]) == {r: ReadFailure(r, failure) for r in "abc"}
    assert len(reads) == 1


def test_a_user_is_their_users_key_then_their_e_mail() -> None:
    keys = UserKeys(["PABC123", "desk@example.com", " 5b10ac8d82e05b22cc7d4ef5 "])
    assert keys.person("pabc123", "shared@example.com") == "PABC123"  # the operator's word first
    assert keys.person("5B10AC8D82E05B22CC7D4EF5", None) == "5b10ac8d82e05b22cc7d4ef5"
    assert keys.person("P2", " Bob@Example.COM ") == "bob@example.com"
    assert keys.person("P3", "not an e-mail") is None
    assert keys.person("P4", None) is None and keys.mapped("P4") is None
    assert is_email("a.b@example.com") and not is_email("<@U123>") and not is_email("a@b\n@c")


def test_one_schedule_s_read_ends_in_an_answer_or_a_failed_read() -> None:
    def raises(exc: Exception) -> Callable[[], str]:
        def call() -> str:
            raise exc
        return call

    assert read("S1", lambda: "answer") == "answer"
    assert read("S1", raises(SourceNotFound("HTTP 404", 404)), "no such schedule") == \
        ReadFailure("S1", "no such schedule")
    assert read("S1", raises(SourceNotFound("Test API: HTTP 404", 404))) == ReadFailure("S1", "Test API: HTTP 404")
    assert read("S1", raises(SourceUnavailable("Test API: timed out"))) == ReadFailure("S1", "Test API: timed out")
    assert read("S1", raises(KeyError("x"))) == ReadFailure("S1", "unexpected answer: KeyError")


def test_a_source_s_pool_runs_in_order_and_one_item_in_the_caller() -> None:
    workers = Workers(3, "test")
    try:
        here = threading.get_ident()
        assert workers.map(lambda n: n * n, range(7)) == [0, 1, 4, 9, 16, 25, 36]
        assert workers.map(lambda _: threading.get_ident(), ["one"]) == [here]
        assert workers.map(lambda n: n, []) == []
    finally:
        workers.close()
    with pytest.raises(RuntimeError):  # closed: no more tasks
        workers.map(lambda n: n, [1, 2])
