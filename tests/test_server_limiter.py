"""ServerLimiter: express-rate-limit's fixed windows on a fake clock (no sleeping)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peertube_async.testing import DEFAULT_LIMITS, ServerLimiter, client_key


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_documented_defaults() -> None:
    assert dict(DEFAULT_LIMITS) == {
        "api": (50, 10.0),
        "login": (15, 300.0),
        "signup": (2, 300.0),
        "ask_send_email": (3, 300.0),
    }


def test_first_hit_opens_a_window_at_that_request() -> None:
    clock = FakeClock(1_795_713_027.5)
    limiter = ServerLimiter(50, 10, clock)

    decision = limiter.hit("1.2.3.4")

    assert decision.limit == 50
    assert decision.remaining == 49
    assert decision.hits == 1
    assert decision.exceeded is False
    assert decision.retry_after is None
    assert decision.reset_at == pytest.approx(1_795_713_037.5)
    # X-RateLimit-Reset is the window end in whole seconds, rounded up.
    assert decision.reset == 1_795_713_038


def test_counts_down_then_rejects_with_retry_after() -> None:
    clock = FakeClock(100.0)
    limiter = ServerLimiter(3, 10, clock)

    remaining = []
    for _ in range(3):
        remaining.append(limiter.hit("k").remaining)
        clock.advance(0.5)
    assert remaining == [2, 1, 0]

    clock.now = 101.2
    over = limiter.hit("k")
    assert over.exceeded is True
    assert over.remaining == 0
    assert over.hits == 4
    assert over.reset == 110
    # ceil(110.0 - 101.2) = 9: whole seconds until the window ends, rounded up.
    assert over.retry_after == 9


def test_rejected_requests_still_count() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(2, 10, clock)
    decisions = [limiter.hit("k") for _ in range(6)]

    assert [d.hits for d in decisions] == [1, 2, 3, 4, 5, 6]
    assert [d.exceeded for d in decisions] == [False, False, True, True, True, True]
    assert {d.reset_at for d in decisions} == {1_010.0}


def test_window_rolls_over_at_its_end_not_before() -> None:
    clock = FakeClock(500.0)
    limiter = ServerLimiter(1, 10, clock)
    limiter.hit("k")

    clock.now = 509.999
    assert limiter.hit("k").exceeded is True

    clock.now = 510.0
    fresh = limiter.hit("k")
    assert fresh.exceeded is False
    assert fresh.hits == 1
    assert fresh.remaining == 0
    assert fresh.reset_at == 520.0


def test_new_window_starts_at_the_next_request_not_at_the_old_end() -> None:
    clock = FakeClock(0.0)
    limiter = ServerLimiter(5, 10, clock)
    limiter.hit("k")

    clock.now = 37.25
    decision = limiter.hit("k")
    assert decision.reset_at == 47.25
    assert decision.reset == 48


def test_keys_have_separate_windows() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(1, 10, clock)
    assert limiter.hit("a").exceeded is False
    assert limiter.hit("a").exceeded is True
    assert limiter.hit("b").exceeded is False


def test_undo_hands_a_hit_back_and_never_goes_negative() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(2, 300, clock)

    limiter.hit("k")
    limiter.undo("k")
    limiter.undo("k")
    limiter.undo("unknown")
    assert limiter.hit("k").remaining == 1

    limiter.hit("k")
    assert limiter.hit("k").exceeded is True
    limiter.undo("k")
    # Back to two hits: the next request is the third again.
    assert limiter.hit("k").hits == 3


def test_undo_on_failures_only_counts_successes() -> None:
    """skipFailedRequests: a 429 is a failure too, so it hands its own hit back."""
    clock = FakeClock()
    limiter = ServerLimiter(2, 300, clock)
    statuses = []
    for succeeds in [False, True, False, True, True, False]:
        decision = limiter.hit("k")
        status = 429 if decision.exceeded else (204 if succeeds else 403)
        if status >= 400:
            limiter.undo("k")
        statuses.append(status)
    assert statuses == [403, 204, 403, 204, 429, 429]


def test_fractional_window_rounds_retry_after_up() -> None:
    clock = FakeClock(10.0)
    limiter = ServerLimiter(1, 0.5, clock)
    limiter.hit("k")
    clock.advance(0.3)
    over = limiter.hit("k")
    assert over.retry_after == 1
    assert over.reset == 11


def test_peek_does_not_count() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(3, 10, clock)
    assert limiter.peek("k") is None
    limiter.hit("k")
    peeked = limiter.peek("k")
    assert peeked is not None
    assert peeked.hits == 1
    assert limiter.hit("k").hits == 2
    clock.advance(10)
    assert limiter.peek("k") is None


def test_reset_forgets_windows() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(1, 10, clock)
    limiter.hit("a")
    limiter.hit("b")
    limiter.reset("a")
    assert limiter.hit("a").exceeded is False
    assert limiter.hit("b").exceeded is True
    limiter.reset()
    assert len(limiter) == 0


def test_expired_keys_are_dropped_lazily() -> None:
    clock = FakeClock()
    limiter = ServerLimiter(5, 10, clock)
    for number in range(1_000):
        limiter.hit(f"10.0.{number // 256}.{number % 256}")
    assert len(limiter) == 1_000

    clock.advance(10)
    limiter.hit("192.0.2.1")
    assert len(limiter) == 1

    # Sweeps happen at most once per window: live keys are never dropped.
    clock.advance(3)
    limiter.hit("192.0.2.2")
    assert len(limiter) == 2


def test_max_zero_rejects_everything() -> None:
    limiter = ServerLimiter(0, 10, FakeClock())
    decision = limiter.hit("k")
    assert decision.exceeded is True
    assert decision.remaining == 0
    assert decision.retry_after == 10


@pytest.mark.parametrize(("maximum", "window"), [(-1, 10), (1, 0), (1, -5)])
def test_rejects_invalid_configuration(maximum: int, window: float) -> None:
    with pytest.raises(ValueError):
        ServerLimiter(maximum, window)


@settings(max_examples=200, deadline=None)
@given(
    maximum=st.integers(min_value=0, max_value=6),
    window=st.sampled_from([0.3, 1.0, 10.0]),
    steps=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0, max_value=2.5)),
        max_size=80,
    ),
)
def test_never_more_than_max_per_window(
    maximum: int, window: float, steps: list[tuple[str, float]]
) -> None:
    clock = FakeClock(1_700_000_000.0)
    limiter = ServerLimiter(maximum, window, clock)
    allowed: dict[tuple[str, float], int] = {}
    for key, delay in steps:
        clock.advance(delay)
        decision = limiter.hit(key)
        assert decision.remaining == max(0, maximum - decision.hits)
        assert decision.reset == math.ceil(decision.reset_at)
        assert clock.now < decision.reset_at <= clock.now + window
        if decision.exceeded:
            assert decision.retry_after is not None
            assert 1 <= decision.retry_after <= math.ceil(window)
        else:
            assert decision.retry_after is None
            allowed[key, decision.reset_at] = allowed.get((key, decision.reset_at), 0) + 1
    assert all(count <= maximum for count in allowed.values())


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # A non-loopback peer is not a trusted proxy: its X-Forwarded-For is ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", " 198.51.100.1 ", "198.51.100.1"),
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
        # Trusted hops are skipped from the right: the first untrusted one is the client.
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),
        ("127.0.0.1", "192.0.2.7, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "127.0.0.2", "127.0.0.2"),
        ("127.0.0.1", "", "127.0.0.1"),
        (None, None, ""),
    ],
)
def test_client_key(remote: str | None, forwarded: str | None, expected: str) -> None:
    assert client_key(remote, forwarded) == expected
