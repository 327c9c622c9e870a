"""An independent checker of Slack's Block Kit limits and shapes, for the tests to walk payloads.

The limits are written out here again on purpose: a wrong constant in the code under test
must not make its own check pass.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BLOCK_TYPES = {"header", "section", "context", "actions", "divider", "input"}
ELEMENT_TYPES = {
    "button",
    "plain_text_input",
    "multi_static_select",
    "checkboxes",
    "number_input",
}
TEXT_LIMITS = {  # (parent key, kind of parent) → limit for its text
    ("text", "section"): 3000,
    ("text", "header"): 150,
    ("text", "button"): 75,
    ("text", "option"): 75,
    ("label", "input"): 2000,
    ("hint", "input"): 2000,
    ("placeholder", "element"): 150,
    ("title", "confirm"): 100,
    ("text", "confirm"): 300,
    ("confirm", "confirm"): 30,
    ("deny", "confirm"): 30,
    ("title", "modal"): 24,
    ("submit", "modal"): 24,
    ("close", "modal"): 24,
}


def message_problems(message: dict[str, Any]) -> list[str]:
    """Every way a chat.postMessage payload breaks Slack's limits (empty when fine)."""
    problems: list[str] = []
    text = message.get("text")
    if not isinstance(text, str) or not text or len(text) > 4000:
        problems.append(f"fallback text missing or too long: {len(text or '')}")
    blocks = message.get("blocks", [])
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks in a message")
    for block in blocks:
        problems += block_problems(block)
    return problems


def modal_problems(view: dict[str, Any]) -> list[str]:
    """Every way a modal view breaks Slack's limits (empty when fine)."""
    problems: list[str] = []
    if view.get("type") != "modal":
        problems.append("not a modal")
    for key in ("title", "submit", "close"):
        problems += _plain(view.get(key), 24, f"modal {key}")
    if len(view.get("private_metadata", "")) > 3000:
        problems.append("private_metadata over 3000")
    if len(view.get("callback_id", "")) > 255:
        problems.append("callback_id over 255")
    if len(view["blocks"]) > 100:
        problems.append(f"{len(view['blocks'])} blocks in a modal")
    for block in view["blocks"]:
        problems += block_problems(block)
    try:
        View(**view).validate_json()
    except Exception as exc:  # slack_sdk's own validation, as a second opinion
        problems.append(f"slack_sdk: {exc}")
    return problems


def block_problems(block: dict[str, Any]) -> list[str]:
    """One block's problems: its type, ids, texts and elements."""
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"unknown block type {kind!r}"]
    problems = _id_problems(block, "block_id")
    problems += _CHECKS[kind](block)
    try:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    except Exception as exc:
        problems.append(f"slack_sdk: {exc}")
    return problems


def _header(block: dict[str, Any]) -> list[str]:
    return _plain(block.get("text"), 150, "header")


def _section(block: dict[str, Any]) -> list[str]:
    return _text(block.get("text"), 3000, "section")


def _context(block: dict[str, Any]) -> list[str]:
    elements = block.get("elements", [])
    problems = [f"{len(elements)} context elements"] if not 0 < len(elements) <= 10 else []
    for element in elements:
        problems += _text(element, 2000, "context element")
    return problems


def _actions(block: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for element in block.get("elements", []):
        problems += _button(element)
    return problems


def _divider(block: dict[str, Any]) -> list[str]:
    return []


def _input(block: dict[str, Any]) -> list[str]:
    problems = [f"input without {k}" for k in ("block_id", "label", "element") if k not in block]
    problems += _plain(block.get("label"), 2000, "label")
    if "hint" in block:
        problems += _plain(block["hint"], 2000, "hint")
    element = block.get("element", {})
    if element.get("type") not in ELEMENT_TYPES:
        problems.append(f"unknown element type {element.get('type')!r}")
    problems += _id_problems(element, "action_id")
    if "placeholder" in element:
        problems += _plain(element["placeholder"], 150, "placeholder")
    problems += _options(element)
    if element.get("type") == "plain_text_input":
        length = element.get("max_length", 3000)
        if length > 3000 or len(element.get("initial_value", "")) > length:
            problems.append("plain_text_input max_length or initial_value too long")
    return problems


def _options(element: dict[str, Any]) -> list[str]:
    options = element.get("options", [])
    problems = [f"{len(options)} options"] if len(options) > 100 else []
    for option in options + element.get("initial_options", []):
        problems += _plain(option.get("text"), 75, "option text")
        if len(option.get("value", "")) > 150:
            problems.append("option value over 150")
    values = {o["value"] for o in options}
    if any(o["value"] not in values for o in element.get("initial_options", [])):
        problems.append("an initial option is not among the options")
    return problems


def _button(element: dict[str, Any]) -> list[str]:
    if element.get("type") != "button":
        return [f"unexpected action element {element.get('type')!r}"]
    problems = _plain(element.get("text"), 75, "button")
    problems += _id_problems(element, "action_id")
    if len(element.get("value", "")) > 2000 or len(element.get("url", "")) > 3000:
        problems.append("button value or url too long")
    if "confirm" in element:
        dialog = element["confirm"]
        problems += _plain(dialog.get("title"), 100, "confirm title")
        problems += _plain(dialog.get("text"), 300, "confirm text")
        problems += _plain(dialog.get("confirm"), 30, "confirm button")
        problems += _plain(dialog.get("deny"), 30, "deny button")
    return problems


def _id_problems(thing: dict[str, Any], key: str) -> list[str]:
    value = thing.get(key)
    if value is not None and not 0 < len(value) <= 255:
        return [f"{key} {value[:30]!r} too long"]
    return []


def _plain(obj: Any, limit: int, where: str) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        return [f"{where}: not a plain_text object"]
    return _text(obj, limit, where)


def _text(obj: Any, limit: int, where: str) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: not a text object"]
    text = obj.get("text", "")
    if not text or len(text) > limit:
        return [f"{where}: {len(text)} characters, limit {limit}"]
    return []


_CHECKS = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "input": _input,
}


def all_texts(payload: Any) -> list[str]:
    """Every string anywhere in a payload."""
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict):
        return [t for value in payload.values() for t in all_texts(value)]
    if isinstance(payload, list):
        return [t for item in payload for t in all_texts(item)]
    return []


def mrkdwn_texts(payload: Any) -> list[str]:
    """The texts Slack parses as mrkdwn: mrkdwn objects and the message's fallback."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" or ("blocks" in payload and "text" in payload):
            found.append(payload["text"] if isinstance(payload["text"], str) else "")
        for value in payload.values():
            found += mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            found += mrkdwn_texts(item)
    return found


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button in a message's actions blocks."""
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
