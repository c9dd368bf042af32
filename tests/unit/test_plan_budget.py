"""The planner's page budget: a resolution asks for at most MAX_PAGES project pages
(the attack: one release requiring 20,000 projects; benchmarks/attacks.py measures
the whole run: 1,002 requests, 76 MB, 3 s)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from pipfresh.planning import _IndexSource
from pipfresh.resolve import MAX_PAGES, BudgetExceeded


def test_a_page_past_the_budget_is_not_fetched() -> None:
    loop = asyncio.new_event_loop()
    try:
        source = _IndexSource(cast(Any, None), loop, {})  # no client: nothing may be fetched
        source.page_fetches = MAX_PAGES
        with pytest.raises(BudgetExceeded, match=f"more than {MAX_PAGES} project pages"):
            source.releases("dep01000")
        assert source.page_fetches == MAX_PAGES
    finally:
        loop.close()
