"""Races run for real: many pairs of requests or job steps at once, each pair's two sides at
nearly the same moment, on PostgreSQL through the app's pool (a connection each)."""

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable
from typing import Any


async def timed(work: Awaitable[Any], took: list[float]) -> Any:
    """`work`'s answer, its duration added to `took`."""
    started = time.perf_counter()
    answer = await work
    took.append(time.perf_counter() - started)
    return answer


def head_start(took: list[float], pairs: int) -> float:
    """A spread for `race` when one side reaches the order's lock a few queries later than the
    other: with every pair at once each query waits its turn behind all the others, so what
    evens that out grows with the number of pairs and this machine's speed (`took`: how long
    such a request takes alone here; `pairs`: how many race at once)."""
    return statistics.median(took) * pairs


async def after(delay: float, work: Awaitable[Any]) -> Any:
    await asyncio.sleep(delay)
    return await work


async def race(
    pairs: list[tuple[Awaitable[Any], Awaitable[Any]]], spread: float = 0.004
) -> list[tuple[Any, Any]]:
    """Run every pair's two sides at once, all pairs at once, one side of each pair a random
    moment behind the other (up to `spread` seconds, either side): two paths that take unlike
    time to reach the lock then still meet in either order across the pairs."""
    started = []
    for first, second in pairs:
        lead = random.uniform(-spread, spread)
        started += [after(max(0.0, -lead), first), after(max(0.0, lead), second)]
    finished = await asyncio.gather(*started)
    return list(zip(finished[0::2], finished[1::2], strict=True))
