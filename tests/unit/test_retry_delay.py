"""How long the client waits before retrying."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from pipfresh.index.client import MAX_RETRY_AFTER, _retry_delay


def http_date(seconds_from_now: float) -> str:
    return format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), usegmt=True
    )


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        ("3", 3.0, 3.0),
        ("0", 0.0, 0.0),
        ("-5", 0.0, 0.0),  # never negative
        ("3600", MAX_RETRY_AFTER, MAX_RETRY_AFTER),  # capped: the user is waiting
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, 0.0),  # a date in the past: now
    ],
)
def test_retry_after_is_obeyed_within_bounds(retry_after: str, low: float, high: float) -> None:
    assert low <= _retry_delay(1, retry_after) <= high


def test_retry_after_as_a_future_http_date() -> None:
    assert 2.0 <= _retry_delay(1, http_date(4)) <= 4.0


def test_a_refusal_without_retry_after_waits_longer_than_a_transient_fault() -> None:
    for attempt in (1, 2, 3):
        transient = _retry_delay(attempt, None)
        refused = _retry_delay(attempt, None, refused=True)
        assert transient <= 0.1 * 2**attempt
        assert 0.5 * 2 ** (attempt - 1) <= refused <= min(2 ** (attempt - 1), MAX_RETRY_AFTER)


def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    assert 0.05 <= _retry_delay(1, "soon") <= 0.2
