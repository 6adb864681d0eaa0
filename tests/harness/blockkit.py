"""Block Kit limits as Slack enforces them, and a plain-text rendering of blocks.

The stand-in Slack rejects what real Slack rejects, so a message that passes the tests
cannot fail in production with ``invalid_blocks``. Error strings follow Slack's own format,
``"<reason> [json-pointer:/blocks/0/text/text]"``, so code that parses them works on both.

Limits come from Slack's Block Kit reference (blocks, block elements, composition objects).
The plain-text rendering lives in `tests.harness.blocktext` and is re-exported here.
"""

from __future__ import annotations

from typing import Any

from .blocktext import RULE, TEXT_TYPES, blocks_to_text, mrkdwn_to_text

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_ID = 255

KNOWN_BLOCK_TYPES = frozenset(
    {"section", "header", "divider", "context", "actions", "image", "rich_text", "input",
     "markdown"}
)

_SELECTS = frozenset(
    {
        "static_select", "external_select", "users_select", "conversations_select",
        "channels_select", "multi_static_select", "multi_external_select",
        "multi_users_select", "multi_conversations_select", "multi_channels_select",
    }
)
_PICKERS = frozenset({"datepicker", "timepicker", "datetimepicker"})
_CHOICES = frozenset({"checkboxes", "radio_buttons"})
_TEXT_INPUTS = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input",
     "rich_text_input", "file_input"}
)
ACTIONS_ELEMENTS = frozenset({"button", "overflow"} | _SELECTS | _PICKERS | _CHOICES)
ACCESSORY_ELEMENTS = ACTIONS_ELEMENTS | {"image"}
INPUT_ELEMENTS = _SELECTS | _PICKERS | _CHOICES | _TEXT_INPUTS


def _err(reason: str, path: str) -> str:
    return f"{reason} [json-pointer:{path}]"


class _Checker:
    """Walks one block list and collects errors; holds the per-message uniqueness sets."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.block_ids: set[str] = set()

    def add(self, reason: str, path: str) -> None:
        self.errors.append(_err(reason, path))

    # -- composition objects -------------------------------------------------------------

    def text(
        self,
        obj: Any,
        path: str,
        max_len: int,
        *,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        """A text object: type plain_text|mrkdwn and a non-empty string within max_len."""
        if obj is None:
            if required:
                self.add("must provide an object", path)
            return
        if not isinstance(obj, dict):
            self.add("must provide an object", path)
            return
        kind = obj.get("type")
        if kind not in TEXT_TYPES or (plain_only and kind != "plain_text"):
            self.add("must be a valid enum value", f"{path}/type")
        self.string(obj.get("text"), f"{path}/text", max_len, min_len=1)

    def string(
        self, value: Any, path: str, max_len: int, *, min_len: int = 0, required: bool = True
    ) -> None:
        if value is None:
            if required:
                self.add("must provide a string", path)
            return
        if not isinstance(value, str):
            self.add("must provide a string", path)
            return
        if len(value) < min_len:
            self.add(f"must be more than {min_len - 1} characters", path)
        if len(value) > max_len:
            self.add(f"must be less than {max_len + 1} characters", path)

    def items(self, value: Any, path: str, max_items: int, *, min_items: int = 0) -> list[Any]:
        """An array within [min_items, max_items]; returns it (or [] when it is not one)."""
        if not isinstance(value, list):
            self.add("must provide an array", path)
            return []
        if len(value) > max_items:
            self.add(f"no more than {max_items} items allowed", path)
        if len(value) < min_items:
            self.add(f"must provide at least {min_items} items", path)
        return value

    def confirm(self, obj: Any, path: str) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            self.add("must provide an object", path)
            return
        self.text(obj.get("title"), f"{path}/title", 100, plain_only=True)
        self.text(obj.get("text"), f"{path}/text", 300)
        self.text(obj.get("confirm"), f"{path}/confirm", 30, plain_only=True)
        self.text(obj.get("deny"), f"{path}/deny", 30, plain_only=True)
        if obj.get("style") not in (None, "primary", "danger"):
            self.add("must be a valid enum value", f"{path}/style")

    def option(self, obj: Any, path: str, *, plain_only: bool = True) -> None:
        if not isinstance(obj, dict):
            self.add("must provide an object", path)
            return
        self.text(obj.get("text"), f"{path}/text", 75, plain_only=plain_only)
        self.string(obj.get("value"), f"{path}/value", 150, min_len=1)
        self.text(obj.get("description"), f"{path}/description", 75, required=False)
        self.string(obj.get("url"), f"{path}/url", 3000, required=False)

    def options(self, el: dict[str, Any], path: str, max_items: int, *, plain: bool) -> None:
        if "option_groups" in el and el.get("type") in _SELECTS:
            groups = self.items(el["option_groups"], f"{path}/option_groups", 100, min_items=1)
            for i, group in enumerate(groups):
                gpath = f"{path}/option_groups/{i}"
                if not isinstance(group, dict):
                    self.add("must provide an object", gpath)
                    continue
                self.text(group.get("label"), f"{gpath}/label", 75, plain_only=True)
                opts = self.items(group.get("options"), f"{gpath}/options", 100, min_items=1)
                for j, opt in enumerate(opts):
                    self.option(opt, f"{gpath}/options/{j}", plain_only=plain)
            return
        opts = self.items(el.get("options"), f"{path}/options", max_items, min_items=1)
        for i, opt in enumerate(opts):
            self.option(opt, f"{path}/options/{i}", plain_only=plain)

    # -- elements -----------------------------------------------------------------------

    def element(
        self, el: Any, path: str, allowed: frozenset[str], action_ids: set[str]
    ) -> None:
        """One block element; action_ids collects ids of the containing block."""
        if not isinstance(el, dict):
            self.add("must provide an object", path)
            return
        kind = el.get("type")
        if kind not in allowed:
            self.add(f"unsupported type: {kind!r}", f"{path}/type")
            return
        if kind == "image":
            self.image_element(el, path)
            return
        action_id = el.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{path}/action_id", MAX_ID, min_len=1)
            if isinstance(action_id, str):
                if action_id in action_ids:
                    self.add(f"duplicate action_id: {action_id}", f"{path}/action_id")
                action_ids.add(action_id)
        self.confirm(el.get("confirm"), f"{path}/confirm")
        if "placeholder" in el:
            self.text(el["placeholder"], f"{path}/placeholder", 150, plain_only=True)
        if kind == "button":
            self.text(el.get("text"), f"{path}/text", 75, plain_only=True)
            self.string(el.get("value"), f"{path}/value", 2000, required=False)
            self.string(el.get("url"), f"{path}/url", 3000, required=False)
            self.string(
                el.get("accessibility_label"), f"{path}/accessibility_label", 75, required=False
            )
            if el.get("style") not in (None, "primary", "danger"):
                self.add("must be a valid enum value", f"{path}/style")
        elif kind in ("static_select", "multi_static_select"):
            self.options(el, path, 100, plain=True)
            if "initial_option" in el:
                self.option(el["initial_option"], f"{path}/initial_option")
        elif kind == "overflow":
            self.options(el, path, 5, plain=True)
        elif kind in _CHOICES:
            self.options(el, path, 10, plain=False)

    def image_element(self, el: dict[str, Any], path: str) -> None:
        if "slack_file" not in el:
            self.string(el.get("image_url"), f"{path}/image_url", 3000, min_len=1)
        self.string(el.get("alt_text"), f"{path}/alt_text", 2000, min_len=1)

    # -- blocks -------------------------------------------------------------------------

    def block(self, block: Any, path: str) -> None:
        if not isinstance(block, dict):
            self.add("must provide an object", path)
            return
        kind = block.get("type")
        if kind not in KNOWN_BLOCK_TYPES:
            self.add(f"unsupported type: {kind!r}", f"{path}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.string(block_id, f"{path}/block_id", MAX_ID, min_len=1)
            if isinstance(block_id, str):
                if block_id in self.block_ids:
                    self.add(f"duplicate block_id: {block_id}", f"{path}/block_id")
                self.block_ids.add(block_id)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.add("must provide text or fields", path)
            if "text" in block:
                self.text(block["text"], f"{path}/text", 3000)
            if "fields" in block:
                fields = self.items(block["fields"], f"{path}/fields", 10, min_items=1)
                for i, field in enumerate(fields):
                    self.text(field, f"{path}/fields/{i}", 2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{path}/accessory", ACCESSORY_ELEMENTS,
                             action_ids)
        elif kind == "header":
            self.text(block.get("text"), f"{path}/text", 150, plain_only=True)
        elif kind == "context":
            elements = self.items(block.get("elements"), f"{path}/elements", 10, min_items=1)
            for i, el in enumerate(elements):
                epath = f"{path}/elements/{i}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self.image_element(el, epath)
                else:
                    self.text(el, epath, 3000)
        elif kind == "actions":
            elements = self.items(block.get("elements"), f"{path}/elements", 25, min_items=1)
            for i, el in enumerate(elements):
                self.element(el, f"{path}/elements/{i}", ACTIONS_ELEMENTS, action_ids)
        elif kind == "image":
            self.image_element(block, path)
            self.text(block.get("title"), f"{path}/title", 2000, plain_only=True,
                      required=False)
        elif kind == "rich_text":
            self.items(block.get("elements"), f"{path}/elements", 10_000)
        elif kind == "input":
            self.text(block.get("label"), f"{path}/label", 2000, plain_only=True)
            self.text(block.get("hint"), f"{path}/hint", 2000, plain_only=True, required=False)
            self.element(block.get("element"), f"{path}/element", INPUT_ELEMENTS, action_ids)
        elif kind == "markdown":
            self.string(block.get("text"), f"{path}/text", 12_000, min_len=1)


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, path: str = "/blocks"
) -> list[str]:
    """Return Slack-style error strings for ``blocks``; an empty list means Slack accepts it.

    ``max_blocks`` is 50 for messages and 100 for modals and Home tabs.
    """
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.add("must provide an array", path)
        return checker.errors
    if len(blocks) > max_blocks:
        checker.add(f"no more than {max_blocks} items allowed", path)
    for i, block in enumerate(blocks):
        checker.block(block, f"{path}/{i}")
    return checker.errors


def validate_view(view: Any) -> list[str]:
    """Errors for a modal or Home tab view, as ``views.open``/``views.update`` check it."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.add("must provide an object", "/view")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.add("must be a valid enum value", "/view/type")
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", 24, plain_only=True)
        checker.text(view.get("close"), "/view/close", 24, plain_only=True, required=False)
        checker.text(view.get("submit"), "/view/submit", 24, plain_only=True, required=False)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and "submit" not in view:
            checker.add("must provide submit when the view has input blocks", "/view/submit")
    checker.string(view.get("private_metadata"), "/view/private_metadata", 3000, required=False)
    checker.string(view.get("callback_id"), "/view/callback_id", MAX_ID, required=False)
    checker.string(view.get("external_id"), "/view/external_id", MAX_ID, required=False)
    errors = checker.errors
    errors += validate_blocks(view.get("blocks"), max_blocks=MAX_MODAL_BLOCKS, path="/view/blocks")
    return errors


def validate_attachments(attachments: Any) -> list[str]:
    """Errors for the ``blocks`` nested in legacy attachments (Alertmanager sends these)."""
    if not isinstance(attachments, list):
        return [_err("must provide an array", "/attachments")]
    errors: list[str] = []
    if len(attachments) > 100:
        errors.append(_err("no more than 100 items allowed", "/attachments"))
    for i, att in enumerate(attachments):
        if not isinstance(att, dict):
            errors.append(_err("must provide an object", f"/attachments/{i}"))
        elif "blocks" in att:
            errors += validate_blocks(att["blocks"], path=f"/attachments/{i}/blocks")
    return errors


__all__ = [
    "ACCESSORY_ELEMENTS",
    "ACTIONS_ELEMENTS",
    "INPUT_ELEMENTS",
    "KNOWN_BLOCK_TYPES",
    "MAX_ID",
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_MODAL_BLOCKS",
    "RULE",
    "TEXT_TYPES",
    "blocks_to_text",
    "mrkdwn_to_text",
    "validate_attachments",
    "validate_blocks",
    "validate_view",
]
