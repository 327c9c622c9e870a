"""The task's budget as a ceiling: each request reserves its worst case before it is sent.

A check of "spent so far" lets every concurrent request through before any is counted, and
a stream cut before its last event would never be counted at all. So each Messages request
first reserves what it can cost at most: its output limit (`max_tokens`) at the output price,
plus its input at the dearest input price (a cache write; at the one-hour price when the
request asks for one-hour caching). Input tokens are bounded
by the body's size, divided by the fewest bytes per token this task's answers have shown
(1.0 until one has). When the remaining budget cannot hold the request, `max_tokens` is
lowered to what it can hold; when not even a small answer fits, the request is refused.
A complete answer settles at its reported usage; an answer cut short is charged in full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.proxies.model.pricing import ONE_HOUR_WRITE_FACTOR, ModelPricing, token_count

MIN_OUTPUT_TOKENS = 1024  # below this an answer is too short to be worth sending
MIN_THINKING_TOKENS = 1024  # the API's smallest thinking budget
MIN_BYTES_PER_TOKEN = 1.0  # an assumption for the first request (text tokens are bytes or more)
_INPUT_KEYS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass(frozen=True)
class Plan:
    """What one request may cost at most, and the output limit that keeps it so (None: the
    request has none to keep, like token counting)."""

    reserve_usd: float
    max_tokens: int | None


def input_price(pricing: ModelPricing, *, one_hour_cache: bool = True) -> float:
    """The dearest a prompt token can be, in USD: a cache write, at the one-hour price when
    the request asks for one-hour caching."""
    writes = pricing.input_per_mtok * ONE_HOUR_WRITE_FACTOR if one_hour_cache else 0.0
    per_mtok = max(pricing.input_per_mtok, pricing.cache_write_per_mtok, writes)
    return per_mtok / 1_000_000


def asks_one_hour_cache(body: bytes) -> bool:
    """Whether any cache_control in the body asks for the one-hour TTL (a byte search: a
    false positive only reserves more)."""
    return b'"1h"' in body


def plan(
    request: Mapping[str, Any],
    body_bytes: int,
    *,
    remaining_usd: float,
    pricing: ModelPricing,
    bytes_per_token: float,
    one_hour_cache: bool = True,
) -> Plan | None:
    """The reservation of a request with a positive `max_tokens` (request_policy checks it),
    that limit lowered to fit `remaining_usd`; None when not even MIN_OUTPUT_TOKENS fit.
    `bytes_per_token` must be positive."""
    asked = int(request["max_tokens"])
    price = input_price(pricing, one_hour_cache=one_hour_cache)
    input_usd = math.ceil(body_bytes / bytes_per_token) * price
    output_price = pricing.output_per_mtok / 1_000_000
    affordable = math.floor((remaining_usd - input_usd) / output_price) if output_price else asked
    max_tokens = min(asked, affordable)
    if max_tokens < min(asked, MIN_OUTPUT_TOKENS):
        return None
    return Plan(reserve_usd=input_usd + max_tokens * output_price, max_tokens=max_tokens)


def with_max_tokens(request: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """The request with a lower output limit. An explicit thinking budget keeps at most half
    of it, and at least the API's minimum; when that leaves no room, thinking is dropped."""
    lowered = {**request, "max_tokens": max_tokens}
    thinking = request.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
        if max_tokens < 2 * MIN_THINKING_TOKENS:
            del lowered["thinking"]
        else:
            budget = min(thinking["budget_tokens"], max_tokens // 2)
            lowered["thinking"] = {**thinking, "budget_tokens": max(budget, MIN_THINKING_TOKENS)}
    return lowered


def prompt_tokens(usage: Mapping[str, Any]) -> int:
    """All prompt tokens an answer reports (plain, read from cache, written to cache)."""
    return sum(token_count(usage, key) for key in _INPUT_KEYS)
