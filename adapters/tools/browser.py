"""`browser`: OpenClaw's browser tool on a real Chromium (Playwright), one profile per agent or session.

Actions (OpenClaw's names): status, start, stop, tabs, open (targetUrl, a new tab), focus / close
(targetId), navigate (targetUrl), snapshot (the page as text with refs), screenshot (an image
attachment on the reply; fullPage, ref), and act with `request: {kind, ref, text, ...}` where kind
is click, type, press, hover, select, fill, scroll or wait. The act kinds are also accepted as
actions themselves (`{"action": "click", "ref": "e3"}`). Every action is bounded by
`browser.actionTimeoutSeconds`; what the page's requests were refused by the SSRF guard is said.
`evaluate` (`fn`, optional `ref`; also an act kind) runs JavaScript in the page, only with
`browser.evaluateEnabled` (OpenClaw's setting, off by default).
Also OpenClaw's: `profiles`, act kind `close`, click `doubleClick` / `button` / `modifiers`, type
`slowly`, screenshot `type` (png, jpeg), `timeoutMs` (an act's own bound, within the action timeout),
and the aliases `url` (for targetUrl) and `inputRef` (for upload's ref).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal

import anyio

from rustyclaw.adapters.tools.browser_pool import BrowserPool, Profile, quietly
from rustyclaw.adapters.tools.browser_snapshot import SNAPSHOT_JS, ref_selector
from rustyclaw.adapters.tools.paths import confine
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import Attachment
from rustyclaw.domain.reply_media import ReplyMedia
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

ACTIONS = ("status", "start", "stop", "profiles", "tabs", "open", "focus", "close", "navigate", "snapshot",
           "screenshot", "act", "console", "dialog", "pdf", "upload")
ACT_KINDS = ("click", "type", "press", "hover", "select", "fill", "scroll", "wait", "drag", "resize", "evaluate",
             "close")
# Every name `action` takes: the actions, then the act kinds that are not also actions (`close` is both).
ALL_ACTIONS = tuple(dict.fromkeys((*ACTIONS, *ACT_KINDS)))
# OpenClaw's spellings accepted for ours (its newer `url`; upload's `inputRef`), so its prompts work unchanged.
ALIASES = {"url": "targetUrl", "inputRef": "ref"}
Button = Literal["left", "middle", "right"]
Modifier = Literal["Alt", "Control", "ControlOrMeta", "Meta", "Shift"]
MOUSE_BUTTONS: dict[str, Button] = {"left": "left", "right": "right", "middle": "middle"}
MODIFIERS: dict[str, Modifier] = {"Alt": "Alt", "Control": "Control", "ControlOrMeta": "ControlOrMeta",
                                  "Meta": "Meta", "Shift": "Shift"}
IMAGE_TYPES: dict[str, Literal["png", "jpeg"]] = {"png": "png", "jpeg": "jpeg"}
# `type` with slowly: a delay between keys, for pages that react to each keystroke (search-as-you-type).
SLOW_KEY_DELAY_MS = 75
# Channels whose replies carry image attachments to the user (their adapters upload OutboundMessage images).
IMAGE_CHANNELS = frozenset({"web", "telegram", "discord", "whatsapp"})
_REF = re.compile(r"^(?:e)?(\d{1,6})$")

SPEC = ToolSpec(
    name="browser",
    # Kept short: every prompt carries it. The refs come from 'snapshot'; act kinds are in the enum.
    description="Drive a web browser: open, snapshot (refs), act, screenshot.",
    parameters={
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(ALL_ACTIONS)},
            "targetUrl": {"type": "string"},
            "targetId": {"type": "string", "description": "tab"},
            "ref": {"type": "string", "description": "from snapshot, e.g. e3"},
            "text": {"type": "string"},
            "submit": {"type": "boolean"},
            "key": {"type": "string"},
            "values": {"type": "array", "items": {"type": "string"}},
            "fields": {"type": "array", "items": {"type": "object"}, "description": "[{ref, value}]"},
            "timeMs": {"type": "integer"},
            "textGone": {"type": "string"},
            "direction": {"type": "string", "enum": ["up", "down"]},
            "fullPage": {"type": "boolean"},
            "maxChars": {"type": "integer"},
            "request": {"type": "object", "description": "act: {kind, ref, text, ...}"},
            "startRef": {"type": "string"},
            "endRef": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "level": {"type": "string", "description": "console: error, warning, info, log, debug"},
            "accept": {"type": "boolean", "description": "dialog: accept (true) or dismiss the next one"},
            "promptText": {"type": "string"},
            "paths": {"type": "array", "items": {"type": "string"}, "description": "upload: workspace files"},
            "fn": {"type": "string", "description": "evaluate: JS function, e.g. () => document.title"},
            "doubleClick": {"type": "boolean"},
            "button": {"type": "string", "enum": list(MOUSE_BUTTONS)},
            "modifiers": {"type": "array", "items": {"type": "string", "enum": list(MODIFIERS)}},
            "slowly": {"type": "boolean"},
            "type": {"type": "string", "enum": ["png", "jpeg"], "description": "screenshot format"},
            "timeoutMs": {"type": "integer"},
        },
        "required": ["action"],
    },
)


class BrowserTool:
    spec = SPEC

    def __init__(self, pool: BrowserPool, media: ReplyMedia | None, *, scope: str = "agent",
                 image_channels: frozenset[str] = IMAGE_CHANNELS) -> None:
        self.pool = pool
        self._media = media
        self._scope = scope
        self._image_channels = image_channels

    def _key(self, context: ToolContext) -> str:
        return f"session:{context.session_key}" if self._scope == "session" else f"agent:{context.agent_id}"

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        arguments = _unalias(arguments)
        action = arguments.get("action")
        if action not in ALL_ACTIONS:
            raise ToolError(f"'action' must be one of {', '.join(ALL_ACTIONS)}, not {action!r}")
        key = self._key(context)
        if action == "profiles":
            # One profile per agent or session (browser.scope), not OpenClaw's named profiles: say which.
            names = ", ".join(self.pool.profiles()) or "none"
            return f"this conversation's profile: {key} (browser.scope: {self._scope}); open profiles: {names}"
        if action == "status":
            open_ = self.pool.peek(key)
            tabs = len(open_.tabs) if open_ else 0
            return f"browser {'running' if self.pool.running else 'stopped'}; this profile has {tabs} tab(s)"
        if action == "stop":
            return "browser profile closed" if await self.pool.close_profile(key) else "browser was not running"
        limit = self.pool.settings.action_timeout_seconds
        try:
            # Starting Chromium has its own bound (the launch timeout), then the action gets the whole limit.
            profile = await self.pool.profile(key, context.agent_id)
            # Playwright's own timeouts fire first with a precise message; this bounds everything else.
            try:
                with anyio.fail_after(limit + 2):
                    return await self._dispatch(str(action), arguments, context, profile)
            finally:
                self.pool.release(profile)
        except TimeoutError:
            raise ToolError(f"browser action {action!r} did not finish within {limit:g} s "
                            "(browser.actionTimeoutSeconds)") from None

    async def _dispatch(self, action: str, args: dict[str, Any], context: ToolContext, profile: Profile) -> str:
        if action == "start":
            return "browser running"
        if action == "tabs":
            return await _tabs(profile)
        if action == "open":
            return await self._open(profile, args)
        if action == "focus":
            target = _text(args, "targetId")
            profile.page(target)
            profile.current = target
            await profile.page().bring_to_front()
            return f"focused tab {target}"
        if action == "close":
            page = profile.page(args.get("targetId") or None)
            target = profile.target_of(page)
            await page.close()
            return f"closed tab {target}; {len(profile.tabs)} tab(s) left"
        if action == "navigate":
            page = profile.page(args.get("targetId") or None)
            return await self._goto(profile, page, _text(args, "targetUrl"))
        if action == "snapshot":
            return await self._snapshot(profile, args)
        if action == "screenshot":
            return await self._screenshot(profile, args, context)
        if action == "console":
            return _console(profile, args)
        if action == "pdf":
            return await _pdf(profile, args)
        if action == "upload":
            return await self._upload(profile, args)
        if action == "dialog":
            # Armed before the click that opens the dialog: it is answered the moment it appears.
            accept = bool(args.get("accept"))
            prompt = args.get("promptText")
            profile.dialog = (accept, str(prompt) if prompt is not None else None)
            return f"the next dialog will be {'accepted' if accept else 'dismissed'}"
        request = args.get("request") if action == "act" else {**args, "kind": action}
        if not isinstance(request, dict):
            raise ToolError("action 'act' needs 'request': {kind, ref, ...}")
        merged = {**args, **_unalias(request)}
        if merged.get("kind") == "close":  # OpenClaw's act kind for closing a tab
            return await self._dispatch("close", merged, context, profile)
        return await self._act(profile, merged)

    async def _open(self, profile: Profile, args: dict[str, Any]) -> str:
        url = _text(args, "targetUrl")
        if len(profile.tabs) >= self.pool.settings.max_tabs:
            raise ToolError(f"{len(profile.tabs)} tabs are open (browser.maxTabs); close one first")
        page = await profile.context.new_page()
        target = self.pool.adopt(profile, page)
        return f"tab {target}: " + await self._goto(profile, page, url)

    async def _goto(self, profile: Profile, page: Page, url: str) -> str:
        await self.pool.check(url)  # a clear refusal before the browser even tries
        profile.refused.clear()
        try:
            response = await page.goto(url, wait_until="load")
        except Exception as exc:
            # A load still pending would end later as an error page over the next navigation: drop it.
            await quietly(page.goto("about:blank", wait_until="commit"))
            raise ToolError(self._explain(profile, f"opening {url} failed", exc)) from exc
        status = f" (HTTP {response.status})" if response is not None else ""
        return f"opened {page.url}{status}: {await page.title()!r}{self._refusals(profile)}"

    async def _snapshot(self, profile: Profile, args: dict[str, Any]) -> str:
        page = profile.page(args.get("targetId") or None)
        cap = min(int(args.get("maxChars") or self.pool.settings.snapshot_max_chars),
                  self.pool.settings.snapshot_max_chars)
        result = await page.evaluate(SNAPSHOT_JS, cap)
        lines = [f"page: {result['title']!r} {result['url']} (tab {profile.target_of(page)})", *result["lines"]]
        if result["truncated"]:
            lines.append(f"[... truncated at {cap} characters]")
        return "\n".join(lines) + self._refusals(profile)

    async def _screenshot(self, profile: Profile, args: dict[str, Any], context: ToolContext) -> str:
        page = profile.page(args.get("targetId") or None)
        kind = IMAGE_TYPES.get(str(args.get("type") or "png"))
        if kind is None:
            raise ToolError(f"screenshot 'type' must be png or jpeg, not {args.get('type')!r}")
        if args.get("ref"):
            data = await self._locate(page, args["ref"]).screenshot(type=kind)
        else:
            data = await page.screenshot(type=kind, full_page=bool(args.get("fullPage")))
        if self._media is None or context.channel not in self._image_channels:
            return (f"screenshot taken ({len(data)} bytes) but not sent: the {context.channel} channel does not "
                    "deliver images yet; describe the page from a snapshot instead")
        self._media.add(context.session_key, Attachment(
            kind="image", mime=f"image/{kind}", name=f"screenshot.{'jpg' if kind == 'jpeg' else 'png'}", data=data,
            size=len(data)))
        return f"screenshot of {page.url} ({len(data)} bytes) attached to the reply"

    async def _upload(self, profile: Profile, args: dict[str, Any]) -> str:
        """Sets a file input (`ref`) to workspace files; a path outside the workspace is refused."""
        paths = args.get("paths")
        if not isinstance(paths, list) or not paths:
            raise ToolError("upload needs 'paths': [workspace file, ...] and the file input's 'ref'")
        files = [confine(profile.downloads, p) for p in paths]
        missing = [str(p) for p, f in zip(paths, files, strict=True) if not f.is_file()]
        if missing:
            raise ToolError(f"upload: no such file in the workspace: {', '.join(missing)}")
        page = profile.page(args.get("targetId") or None)
        timeout = self.pool.settings.action_timeout_seconds * 1000
        try:
            await self._locate(page, args.get("ref")).set_input_files(files, timeout=timeout)
        except Exception as exc:
            raise ToolError(self._explain(profile, "upload failed", exc)) from exc
        return f"set {args['ref']} to {len(files)} file(s): {', '.join(map(str, paths))}"

    async def _evaluate(self, profile: Profile, req: dict[str, Any]) -> str:
        """Runs `fn` in the page (or on the element `ref`), its result as JSON, cut at evaluateMaxChars."""
        settings = self.pool.settings
        if not settings.evaluate_enabled:
            raise ToolError("action 'evaluate' is off: it runs model-written JavaScript in the page; set "
                            "browser.evaluateEnabled: true to allow it (use snapshot and act otherwise)")
        source = _text(req, "fn")
        page = profile.page(req.get("targetId") or None)
        profile.refused.clear()
        # A session of its own, opened before the script runs: a busy page's main thread cannot take a
        # new session, but Runtime.terminateExecution on an open one interrupts even `while (true) {}`.
        cdp = await profile.context.new_cdp_session(page)
        try:
            with anyio.move_on_after(settings.action_timeout_seconds) as bound:
                try:
                    if req.get("ref"):
                        result = await self._locate(page, req["ref"]).evaluate(
                            source, timeout=settings.action_timeout_seconds * 1000)
                    else:
                        result = await page.evaluate(source)
                except Exception as exc:
                    raise ToolError(self._explain(profile, "evaluate failed", exc)) from exc
            if bound.cancelled_caught:
                await quietly(cdp.send("Runtime.terminateExecution"))
                raise ToolError(f"evaluate did not finish within {settings.action_timeout_seconds:g} s "
                                "(browser.actionTimeoutSeconds); the script was stopped")
        finally:
            await quietly(cdp.detach())
        text = json.dumps(result, ensure_ascii=False, default=str)
        cap = settings.evaluate_max_chars
        if len(text) > cap:
            text = f"{text[:cap]}\n[... truncated at {cap} of {len(text)} characters]"
        return f"result: {text}{self._refusals(profile)}"

    async def _act(self, profile: Profile, req: dict[str, Any]) -> str:
        kind = req.get("kind")
        if kind == "evaluate":  # no load wait after it: a script that navigates says so in its own result
            return await self._evaluate(profile, req)
        page = profile.page(req.get("targetId") or None)
        profile.refused.clear()
        timeout = _timeout_ms(req, self.pool.settings.action_timeout_seconds * 1000)
        try:
            if kind == "click":
                button, modifiers = _click_options(req)
                target = self._locate(page, req.get("ref"))
                if req.get("doubleClick"):
                    await target.dblclick(button=button, modifiers=modifiers, timeout=timeout)
                else:
                    await target.click(button=button, modifiers=modifiers, timeout=timeout)
                done = f"{'double-' if req.get('doubleClick') else ''}clicked {req['ref']}"
            elif kind == "type":
                target = self._locate(page, req.get("ref"))
                text = _text(req, "text", empty=True)
                if req.get("slowly"):
                    await target.fill("", timeout=timeout)
                    await target.press_sequentially(text, delay=SLOW_KEY_DELAY_MS, timeout=timeout)
                else:
                    await target.fill(text, timeout=timeout)
                if req.get("submit"):
                    await _enter(page, target.press("Enter", timeout=timeout))
                done = f"typed into {req['ref']}" + (" and submitted" if req.get("submit") else "")
            elif kind == "fill":
                fields = req.get("fields")
                if not isinstance(fields, list) or not fields:
                    raise ToolError("fill needs 'fields': [{ref, value}]")
                for item in fields:
                    if not isinstance(item, dict):
                        raise ToolError("each of 'fields' must be {ref, value}")
                    await self._locate(page, item.get("ref")).fill(str(item.get("value", "")), timeout=timeout)
                done = f"filled {len(fields)} field(s)"
            elif kind == "press":
                key = _text(req, "key")
                pressing = (self._locate(page, req["ref"]).press(key, timeout=timeout) if req.get("ref")
                            else page.keyboard.press(key))
                await (_enter(page, pressing) if key == "Enter" else pressing)
                done = f"pressed {key}"
            elif kind == "hover":
                await self._locate(page, req.get("ref")).hover(timeout=timeout)
                done = f"hovering {req['ref']}"
            elif kind == "select":
                values = req.get("values")
                if not isinstance(values, list) or not values:
                    raise ToolError("select needs 'values': [option, ...]")
                await self._locate(page, req.get("ref")).select_option([str(v) for v in values], timeout=timeout)
                done = f"selected {', '.join(map(str, values))} in {req['ref']}"
            elif kind == "scroll":
                if req.get("ref"):
                    await self._locate(page, req["ref"]).scroll_into_view_if_needed(timeout=timeout)
                    done = f"scrolled {req['ref']} into view"
                else:
                    up = req.get("direction") == "up"
                    await page.mouse.wheel(0, -600 if up else 600)
                    done = f"scrolled {'up' if up else 'down'}"
            elif kind == "wait":
                done = await self._wait(page, req, timeout)
            elif kind == "drag":
                start, end = _text(req, "startRef"), _text(req, "endRef")
                await self._locate(page, start).drag_to(self._locate(page, end), timeout=timeout)
                done = f"dragged {start} to {end}"
            elif kind == "resize":
                width, height = req.get("width"), req.get("height")
                if not (isinstance(width, int) and isinstance(height, int) and 100 <= width <= 8000
                        and 100 <= height <= 8000):
                    raise ToolError("resize needs 'width' and 'height' in pixels (100 to 8000)")
                await page.set_viewport_size({"width": width, "height": height})
                done = f"resized to {width}x{height}"
            else:
                raise ToolError(f"request kind must be one of {', '.join(ACT_KINDS)}, not {kind!r}")
            # Give a navigation the click or Enter started a chance to land before the model looks again.
            await page.wait_for_load_state("load", timeout=timeout)
        except ToolError:
            raise
        except Exception as exc:
            bound = timeout if req.get("timeoutMs") is not None else None
            raise ToolError(self._explain(profile, f"{kind} failed", exc, timeout_ms=bound)) from exc
        return f"{done}; now at {page.url}{self._refusals(profile)}"

    async def _wait(self, page: Page, req: dict[str, Any], limit_ms: float) -> str:
        timeout = limit_ms
        if req.get("text"):
            await page.get_by_text(str(req["text"])).first.wait_for(state="visible", timeout=timeout)
            return f"{req['text']!r} is on the page"
        if req.get("textGone"):
            await page.get_by_text(str(req["textGone"])).first.wait_for(state="hidden", timeout=timeout)
            return f"{req['textGone']!r} is gone"
        ms = req.get("timeMs")
        if not isinstance(ms, int) or ms < 0:
            raise ToolError("wait needs 'text', 'textGone' or 'timeMs' (milliseconds)")
        if ms > timeout:
            raise ToolError(f"timeMs {ms} is longer than the action timeout ({timeout:g} ms)")
        await page.wait_for_timeout(ms)
        return f"waited {ms} ms"

    @staticmethod
    def _locate(page: Page, ref: object) -> Locator:
        match = _REF.match(str(ref or "").strip())
        if match is None:
            raise ToolError(f"'ref' must be a reference from the latest snapshot, like e3 (got {ref!r})")
        return page.locator(ref_selector("e" + match.group(1)))

    def _refusals(self, profile: Profile) -> str:
        if not profile.refused:
            return ""
        shown = "; ".join(dict.fromkeys(profile.refused))
        return f"\nblocked requests: {shown}"

    def _explain(self, profile: Profile, what: str, exc: Exception, *, timeout_ms: float | None = None) -> str:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if "Timeout" in exc.__class__.__name__ or "Timeout" in first:
            first = (f"it did not finish within {timeout_ms:g} ms (timeoutMs)" if timeout_ms is not None else
                     f"it did not finish within {self.pool.settings.action_timeout_seconds:g} s "
                     "(browser.actionTimeoutSeconds)")
        if profile.refused:
            first = "; ".join(dict.fromkeys(profile.refused))
        return f"{what}: {first}"


# Enter may submit a form; unlike a click, Playwright's key press does not wait for the navigation it starts.
ENTER_NAVIGATION_MS = 1500


async def _enter(page: Page, pressing: Awaitable[None]) -> None:
    """Presses Enter and waits (briefly) for a navigation it starts to commit; none is fine too."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        async with page.expect_navigation(wait_until="commit", timeout=ENTER_NAVIGATION_MS):
            await pressing
    except PlaywrightTimeout:
        pass  # the key did not navigate (a search box, a script that handles it)


async def _tabs(profile: Profile) -> str:
    await profile.settle()
    saved = f"\ndownloads saved in the workspace: {', '.join(profile.saved)}" if profile.saved else ""
    if not profile.tabs:
        return "no tabs open" + saved
    rows = []
    for target, page in profile.tabs.items():
        mark = "*" if target == profile.current else " "
        rows.append(f"{mark} {target}: {await page.title()!r} {page.url}")
    return "\n".join(rows) + saved


def _unalias(args: dict[str, Any]) -> dict[str, Any]:
    """OpenClaw's alternative names mapped to ours; ours win when both are given."""
    found = {ours: args[theirs] for theirs, ours in ALIASES.items() if theirs in args and ours not in args}
    return {**args, **found} if found else args


def _timeout_ms(req: dict[str, Any], limit_ms: float) -> float:
    """OpenClaw's `timeoutMs` for one act, never past browser.actionTimeoutSeconds (the whole call's bound)."""
    wanted = req.get("timeoutMs")
    if wanted is None:
        return limit_ms
    if not isinstance(wanted, int | float) or isinstance(wanted, bool) or wanted <= 0:
        raise ToolError(f"'timeoutMs' must be a positive number of milliseconds, not {wanted!r}")
    return min(float(wanted), limit_ms)


def _click_options(req: dict[str, Any]) -> tuple[Button, list[Modifier]]:
    button = MOUSE_BUTTONS.get(str(req.get("button") or "left"))
    if button is None:
        raise ToolError(f"'button' must be one of {', '.join(MOUSE_BUTTONS)}, not {req.get('button')!r}")
    modifiers = req.get("modifiers") or []
    if not isinstance(modifiers, list) or any(str(m) not in MODIFIERS for m in modifiers):
        raise ToolError(f"'modifiers' must be a list of {', '.join(MODIFIERS)}")
    return button, [MODIFIERS[str(m)] for m in modifiers]


def _text(args: dict[str, Any], name: str, *, empty: bool = False) -> str:
    value = args.get(name)
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ToolError(f"'{name}' must be a non-empty string")
    return value if empty else value.strip()


_CONSOLE_LEVELS = ("error", "warning", "info", "log", "debug")


def _console(profile: Profile, args: dict[str, Any]) -> str:
    """The profile's recent console messages (and dialogs answered), at `level` or more severe."""
    level = str(args.get("level") or "debug")
    if level not in _CONSOLE_LEVELS:
        raise ToolError(f"'level' must be one of {', '.join(_CONSOLE_LEVELS)}, not {level!r}")
    wanted = {f"[{name}]" for name in _CONSOLE_LEVELS[: _CONSOLE_LEVELS.index(level) + 1]}
    lines = [line for line in profile.console if line.split(" ", 1)[0] in wanted]
    lines += [f"[dialog] {entry}" for entry in profile.dialogs]
    return "\n".join(lines) if lines else "no console messages"


async def _pdf(profile: Profile, args: dict[str, Any]) -> str:
    """The page printed to PDF, saved in the workspace under downloads/ (like a download)."""
    page = profile.page(args.get("targetId") or None)
    data = await page.pdf()
    target = confine(profile.downloads, f"downloads/page-{profile.target_of(page)}-{len(profile.saved) + 1}.pdf")
    target.parent.mkdir(parents=True, exist_ok=True)
    await anyio.Path(target).write_bytes(data)
    relative = str(target.relative_to(profile.downloads))
    profile.saved.append(relative)
    return f"saved {page.url} as PDF to {relative} ({len(data)} bytes) in the workspace"
