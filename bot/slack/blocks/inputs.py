"""Input blocks and their elements for modals, within Slack's limits."""

from __future__ import annotations

from bot.slack import ids
from bot.slack.blocks import limits
from bot.slack.blocks.elements import Block, option, plain


def input_block(
    block_id: str, label: str, element: Block, *, optional: bool = False, hint: str = ""
) -> Block:
    """An input block whose element's action id is `ids.input_id(block_id)`."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, limits.INPUT_LABEL),
        "element": {**element, "action_id": ids.input_id(block_id)},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, limits.INPUT_HINT)
    return block


def text_input(
    *, max_length: int, multiline: bool = False, initial: str = "", placeholder: str = ""
) -> Block:
    """A plain_text_input, its initial value cut to fit its max_length."""
    length = min(max_length, limits.INPUT_MAX_LENGTH)
    element: Block = {"type": "plain_text_input", "multiline": multiline, "max_length": length}
    if initial:
        element["initial_value"] = limits.truncate_plain(initial, length)
    if placeholder:
        element["placeholder"] = plain(placeholder, limits.PLACEHOLDER)
    return element


def multi_select(options: list[Block], initial: list[Block], placeholder: str) -> Block:
    """A multi_static_select of at most 100 options."""
    element: Block = {
        "type": "multi_static_select",
        "options": options[: limits.OPTIONS],
        "placeholder": plain(placeholder, limits.PLACEHOLDER),
    }
    if initial:
        element["initial_options"] = initial
    return element


def checkbox(text: str, value: str, *, checked: bool) -> Block:
    """A single checkbox, ticked or not."""
    choice = option(text, value)
    element: Block = {"type": "checkboxes", "options": [choice]}
    if checked:
        element["initial_options"] = [choice]
    return element


def number_input(*, minimum: str, maximum: str, placeholder: str) -> Block:
    """A decimal number input between `minimum` and `maximum`."""
    return {
        "type": "number_input",
        "is_decimal_allowed": True,
        "min_value": minimum,
        "max_value": maximum,
        "placeholder": plain(placeholder, limits.PLACEHOLDER),
    }
