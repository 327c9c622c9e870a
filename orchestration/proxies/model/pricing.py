"""Anthropic's list prices and the cost of an answer's usage record, per task.

Costs are counted in the worker from what the API reports, so a task's budget holds however
the agent spends it; a model the table does not know is charged at the dearest entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

WEB_SEARCH_USD = 0.01  # $10 per 1,000 server-side web searches
ONE_HOUR_WRITE_FACTOR = 2.0  # 1-hour cache writes cost twice the base input price
US_ONLY_FACTOR = 1.1  # inference pinned to the US (usage.inference_geo == "us") costs 10% more


class ModelPricing(BaseModel):
    """USD per million tokens of one model family."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float
    cache_write_per_mtok: float


def _price(inp: float, out: float, read: float, write: float) -> ModelPricing:
    """Build a pricing entry from its four figures."""
    return ModelPricing(
        input_per_mtok=inp,
        output_per_mtok=out,
        cache_read_per_mtok=read,
        cache_write_per_mtok=write,
    )


# Keyed by model-name prefix; the longest matching prefix wins. Figures: Anthropic's list prices
# in USD per million tokens as baked into Claude Code 2.1.330's model catalog (November 2026),
# which match platform.claude.com/docs/en/about-claude/pricing as of October 2026 (including the
# Sonnet 5.5 cache-read cut of 2026-10-07); Claude 3 Opus and Haiku from that page's older rows.
# Cache writes are the 5-minute price; 1-hour writes are charged at twice the input price when
# the answer says so. Haiku 5.5 always uses its dearer band (prompts over 100K tokens). Not
# modelled: fast mode, the Sonnet 4/4.5 long-context premium, batch discounts. A model that
# matches no prefix is charged at the dearest entry, so an unknown model errs on the safe side.
DEFAULT_PRICING: dict[str, ModelPricing] = {
    "claude-fable-5": _price(10.0, 50.0, 1.0, 12.5),
    "claude-fable-5-1": _price(10.0, 50.0, 0.25, 12.5),
    "claude-fable-5-2": _price(8.0, 40.0, 0.2, 10.0),
    "claude-mythos-5": _price(10.0, 50.0, 1.0, 12.5),
    "claude-mythos-5-1": _price(10.0, 50.0, 0.25, 12.5),
    "claude-mythos-5-2": _price(8.0, 40.0, 0.2, 10.0),
    "claude-opus-5": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-5-5": _price(4.0, 20.0, 0.2, 5.0),
    "claude-opus-4": _price(15.0, 75.0, 1.5, 18.75),  # Opus 4 and 4.1
    "claude-opus-4-5": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-6": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-7": _price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-8": _price(5.0, 25.0, 0.5, 6.25),
    "claude-3-opus": _price(15.0, 75.0, 1.5, 18.75),
    "claude-sonnet-5": _price(2.0, 10.0, 0.2, 2.5),
    "claude-sonnet-5-5": _price(2.0, 10.0, 0.1, 2.5),
    "claude-sonnet-4": _price(3.0, 15.0, 0.3, 3.75),  # Sonnet 4, 4.5 and 4.6
    "claude-3-7-sonnet": _price(3.0, 15.0, 0.3, 3.75),
    "claude-3-5-sonnet": _price(3.0, 15.0, 0.3, 3.75),
    "claude-haiku-5-5": _price(0.5, 2.5, 0.05, 0.625),
    "claude-haiku-4-5": _price(1.0, 5.0, 0.1, 1.25),
    "claude-3-5-haiku": _price(0.8, 4.0, 0.08, 1.0),
    "claude-3-haiku": _price(0.25, 1.25, 0.03, 0.3),
}


class TaskUsage(BaseModel):
    """What one task's model traffic used so far."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    refused: int = 0
    cut_short: int = 0  # answers that broke off before their last usage: charged in full

    def add(self, usage: Mapping[str, Any], pricing: ModelPricing) -> None:
        """Add one answer's usage record: its token counts and its cost."""
        self.input_tokens += token_count(usage, "input_tokens")
        self.output_tokens += token_count(usage, "output_tokens")
        self.cache_read_input_tokens += token_count(usage, "cache_read_input_tokens")
        self.cache_creation_input_tokens += token_count(usage, "cache_creation_input_tokens")
        self.cost_usd += usage_cost(usage, pricing)


def pricing_for(model: str | None, table: Mapping[str, ModelPricing]) -> ModelPricing:
    """The entry with the longest prefix of ``model``, else the dearest one in the table."""
    matches = [prefix for prefix in table if model and model.startswith(prefix)]
    if matches:
        return table[max(matches, key=len)]
    return max(table.values(), key=_dearness)


def _dearness(pricing: ModelPricing) -> tuple[float, float, float, float]:
    """Sort key putting the most expensive pricing last."""
    return (
        pricing.output_per_mtok,
        pricing.input_per_mtok,
        pricing.cache_write_per_mtok,
        pricing.cache_read_per_mtok,
    )


def token_count(usage: Mapping[str, Any], key: str) -> int:
    """A non-negative token count from a usage record (0 when absent or not a number)."""
    value = usage.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def _one_hour_writes(usage: Mapping[str, Any]) -> int:
    """Cache-creation tokens the answer attributes to the 1-hour cache."""
    detail = usage.get("cache_creation")
    return token_count(detail, "ephemeral_1h_input_tokens") if isinstance(detail, dict) else 0


def _web_searches(usage: Mapping[str, Any]) -> int:
    """Server-side web searches the answer reports."""
    detail = usage.get("server_tool_use")
    return token_count(detail, "web_search_requests") if isinstance(detail, dict) else 0


def usage_cost(usage: Mapping[str, Any], pricing: ModelPricing) -> float:
    """The USD cost of one answer's usage record."""
    writes = token_count(usage, "cache_creation_input_tokens")
    hour = min(writes, _one_hour_writes(usage))
    hour_price = max(pricing.cache_write_per_mtok, ONE_HOUR_WRITE_FACTOR * pricing.input_per_mtok)
    per_mtok = (
        token_count(usage, "input_tokens") * pricing.input_per_mtok
        + token_count(usage, "output_tokens") * pricing.output_per_mtok
        + token_count(usage, "cache_read_input_tokens") * pricing.cache_read_per_mtok
        + (writes - hour) * pricing.cache_write_per_mtok
        + hour * hour_price
    )
    geo = US_ONLY_FACTOR if usage.get("inference_geo") == "us" else 1.0
    return per_mtok * geo / 1_000_000 + _web_searches(usage) * WEB_SEARCH_USD


def dollars(amount: float) -> str:
    """Format an amount as ``$1.50`` or, below a cent, with up to four decimals."""
    whole, _, frac = f"{amount:.4f}".partition(".")
    return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"
