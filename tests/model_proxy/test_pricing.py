"""Pricing lookup, cost arithmetic, the SSE usage reader and the key masker."""

from __future__ import annotations

import pytest

from orchestration.proxies.model.pricing import (
    DEFAULT_PRICING,
    ModelPricing,
    dollars,
    pricing_for,
    usage_cost,
)
from orchestration.proxies.model.providers.anthropic import UsageMeter
from orchestration.proxies.model.redaction import Redactor, _partial_suffix
from tests.model_proxy.upstream import SSE_BODY


def test_longest_prefix_wins() -> None:
    """Dated and newer model names find their family's entry by the longest prefix."""
    assert pricing_for("claude-opus-4-1-20250805", DEFAULT_PRICING).input_per_mtok == 15.0
    assert pricing_for("claude-opus-4-5-20251101", DEFAULT_PRICING).input_per_mtok == 5.0
    assert pricing_for("claude-opus-5-5", DEFAULT_PRICING).output_per_mtok == 20.0
    assert pricing_for("claude-sonnet-4-5-20250929", DEFAULT_PRICING).input_per_mtok == 3.0
    assert pricing_for("claude-haiku-4-5-20251001", DEFAULT_PRICING).output_per_mtok == 5.0


@pytest.mark.parametrize("model", [None, "", "claude-unknown-9", "gpt-x"])
def test_unknown_model_is_priced_at_the_dearest_entry(model: str | None) -> None:
    """A model no prefix matches is charged at the most expensive known price."""
    dearest = max(DEFAULT_PRICING.values(), key=lambda p: p.output_per_mtok)
    assert pricing_for(model, DEFAULT_PRICING) == dearest
    assert dearest.output_per_mtok == 75.0


def test_cost_counts_every_kind_of_token() -> None:
    """Input, output, cache reads, 5-minute and 1-hour cache writes and web searches add up."""
    pricing = ModelPricing(
        input_per_mtok=3.0, output_per_mtok=15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75
    )
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
        "cache_creation_input_tokens": 2_000_000,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 1_000_000,
            "ephemeral_1h_input_tokens": 1_000_000,
        },
        "server_tool_use": {"web_search_requests": 3},
    }
    assert usage_cost(usage, pricing) == pytest.approx(3 + 15 + 0.3 + 3.75 + 6 + 0.03)
    assert usage_cost({**usage, "inference_geo": "us"}, pricing) == pytest.approx(
        (3 + 15 + 0.3 + 3.75 + 6) * 1.1 + 0.03
    )
    assert usage_cost({"input_tokens": None, "output_tokens": -5}, pricing) == 0


def test_meter_reads_sse_usage_across_odd_chunk_boundaries() -> None:
    """Usage is read from message_start and message_delta however the stream is cut up."""
    meter = UsageMeter("text/event-stream; charset=utf-8")
    for start in range(0, len(SSE_BODY), 5):
        meter.feed(SSE_BODY[start : start + 5])
    meter.finish()
    assert meter.model == "claude-test-1"
    assert meter.usage["input_tokens"] == 100 and meter.usage["output_tokens"] == 20
    assert meter.usage["cache_read_input_tokens"] == 1000


def test_meter_ignores_bodies_it_cannot_read() -> None:
    """Broken JSON or an error body leaves no usage behind."""
    for content_type, body in [("application/json", b"{not json"), ("text/plain", b"usage")]:
        meter = UsageMeter(content_type)
        meter.feed(body)
        meter.finish()
        assert meter.usage == {} and meter.model is None


def test_redactor_masks_a_secret_split_over_chunks() -> None:
    """The secret is masked with the same length wherever the chunks split it."""
    secret = b"sk-ant-secret-123"
    stream = b"a" + secret + b"b sk-ant-" + b"c" + secret
    for size in range(1, len(stream) + 1):
        redactor = Redactor(secret)
        out = b"".join(redactor.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        out += redactor.flush()
        assert out == stream.replace(secret, b"*" * len(secret))


def test_redactor_holds_back_only_a_possible_start_of_the_secret() -> None:
    """Bytes that cannot begin the secret are passed on at once."""
    assert _partial_suffix(b"data: {}\n\n", b"sk-ant-x") == 0
    assert _partial_suffix(b"value sk-a", b"sk-ant-x") == 4
    assert Redactor(b"").feed(b"anything") == b"anything"


@pytest.mark.parametrize(
    ("amount", "shown"), [(5, "$5.00"), (0.5, "$0.50"), (0.0001, "$0.0001"), (0, "$0.00")]
)
def test_dollars(amount: float, shown: str) -> None:
    """Budgets are shown with cents, or more decimals below a cent."""
    assert dollars(amount) == shown
