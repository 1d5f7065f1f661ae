"""The lean hikari import (adapters/channels/hikari_lean.py).

Each case runs in a fresh interpreter: the import hook only acts on the first import of hikari,
and a module loaded by another test in this process would hide what the lean import loads.
The Discord flows (test_discord_flows.py) drive the channel itself on the lean import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.channels import hikari_lean

REPO = Path(__file__).resolve().parents[2]

# What GatewayBot, its cache and event machinery, the interaction server and voice bring in; the
# channel drives one shard and the REST client itself and uses none of it.
UNUSED = (
    "hikari.impl.gateway_bot", "hikari.impl.cache", "hikari.impl.event_manager",
    "hikari.impl.event_factory", "hikari.impl.interaction_server", "hikari.impl.rest_bot",
    "hikari.impl.voice", "hikari.api.cache", "hikari.api.event_manager", "hikari.api.voice",
    "hikari.api.interaction_server", "hikari.events", "aiohttp.web",
)

_REPORT = """
import json, linecache, sys
from rustyclaw.adapters.channels import hikari_lean

def report(hikari):
    return {
        "lean": {name: hikari_lean.is_lean(sys.modules[name]) for name in hikari_lean.LEAN_PACKAGES},
        "loaded": sorted(name for name in sys.modules if name.startswith(("hikari", "aiohttp"))),
        "attrs_source_cached": sum(1 for key in linecache.cache if str(key).startswith("<attrs generated")),
    }
"""


def run(body: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs `body` (after `_REPORT`) in a fresh interpreter; it prints one JSON object."""
    environ = {k: v for k, v in os.environ.items() if k != hikari_lean.EAGER_ENV}
    environ.update(env or {})
    code = textwrap.dedent(_REPORT) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env=environ)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_lean_import_loads_the_channels_modules_and_not_the_bots() -> None:
    out = run("""
        hikari = hikari_lean.import_hikari()
        print(json.dumps(report(hikari)))
    """)
    assert out["lean"] == {"hikari": True, "hikari.api": True, "hikari.impl": True}
    loaded = set(out["loaded"])
    assert set(hikari_lean.CHANNEL_MODULES) <= loaded
    assert "hikari.impl.entity_factory" in loaded  # the REST client builds messages with it
    assert sorted(loaded & set(UNUSED)) == []
    assert out["attrs_source_cached"] == 0


def test_the_channels_names_do_not_run_the_full_init() -> None:
    # What the channel reads of hikari, reached the way it reaches it: from the submodules.
    out = run("""
        hikari = hikari_lean.import_hikari()
        from hikari import errors
        from hikari.applications import TokenType, get_token_id
        from hikari.files import Bytes
        from hikari.impl.config import HTTPSettings, ProxySettings
        from hikari.impl.rest import RESTApp
        from hikari.impl.shard import GatewayShardImpl
        from hikari.intents import Intents
        from hikari.undefined import UNDEFINED
        assert hikari.impl.shard is sys.modules["hikari.impl.shard"]
        assert hikari.errors is errors
        result = report(hikari)
        result["intents"] = int(Intents.DM_MESSAGES | Intents.GUILD_MESSAGES | Intents.MESSAGE_CONTENT)
        result["error"] = errors.UnauthorizedError.__mro__[1].__name__
        print(json.dumps(result))
    """)
    assert out["lean"] == {"hikari": True, "hikari.api": True, "hikari.impl": True}
    assert sorted(set(out["loaded"]) & set(UNUSED)) == []
    assert out["intents"] == (1 << 12) | (1 << 9) | (1 << 15)
    assert out["error"] == "ClientHTTPResponseError"


def test_other_names_fall_back_to_the_full_package() -> None:
    out = run("""
        import base64
        hikari = hikari_lean.import_hikari()
        bot_class = hikari.GatewayBot
        from hikari import Intents, Snowflake
        from hikari.impl import CacheImpl
        from hikari.api import EventManager
        from hikari.impl.gateway_bot import GatewayBot
        token = base64.b64encode(b"800000000000000000").decode() + ".x.y"  # the bot id, as GatewayBot checks
        bot = bot_class(token, intents=Intents.DM_MESSAGES, banner=None)
        result = report(hikari)
        result["same"] = bot_class is GatewayBot and hikari.impl.GatewayBot is GatewayBot
        result["names"] = [CacheImpl.__module__, EventManager.__module__, Snowflake.__name__,
                           type(bot).__name__]
        result["missing"] = hasattr(hikari, "NoSuchName")
        print(json.dumps(result))
    """)
    assert out["same"] is True
    assert out["names"] == ["hikari.impl.cache", "hikari.api.event_manager", "Snowflake", "GatewayBot"]
    assert out["missing"] is False  # still an AttributeError, after the full __init__ ran
    assert out["lean"] == {"hikari": False, "hikari.api": False, "hikari.impl": False}
    assert {"hikari.impl.gateway_bot", "hikari.impl.cache", "hikari.events"} <= set(out["loaded"])


def test_a_plain_import_after_the_lean_one_still_gets_the_whole_api() -> None:
    # Another plugin doing `import hikari` later finds the lean module in sys.modules; its first
    # non-submodule name completes it.
    out = run("""
        hikari_lean.import_hikari()
        import hikari
        result = {"message_create": hikari.MessageCreateEvent.__module__, "names": len(dir(hikari))}
        result.update(report(hikari))
        print(json.dumps(result))
    """)
    assert out["message_create"] == "hikari.events.message_events"
    assert out["names"] > 300  # the star imports of every module
    assert out["lean"]["hikari"] is False


def test_the_eager_switch_imports_hikari_unchanged() -> None:
    out = run("""
        hikari = hikari_lean.import_hikari()
        print(json.dumps(report(hikari)))
    """, env={hikari_lean.EAGER_ENV: "1"})
    assert out["lean"] == {"hikari": False, "hikari.api": False, "hikari.impl": False}
    assert set(UNUSED) <= set(out["loaded"])
    assert set(hikari_lean.CHANNEL_MODULES) <= set(out["loaded"])


@pytest.mark.parametrize("version", [(2, 6, 9), (2, 8, 0), (3, 0, 0)])
def test_an_untested_version_imports_hikari_unchanged(version: tuple[int, int, int]) -> None:
    out = run(f"""
        hikari_lean.hikari_version = lambda: {version!r}
        hikari = hikari_lean.import_hikari()
        print(json.dumps(report(hikari)))
    """)
    assert out["lean"] == {"hikari": False, "hikari.api": False, "hikari.impl": False}
    assert set(UNUSED) <= set(out["loaded"])


def test_the_installed_version_is_the_tested_one() -> None:
    # The flows run on the installed hikari; if it left the range they would test the eager path.
    assert hikari_lean.is_tested(hikari_lean.hikari_version())


def test_the_tested_range() -> None:
    assert hikari_lean.is_tested((2, 7, 0)) and hikari_lean.is_tested((2, 7, 12))
    assert not hikari_lean.is_tested((2, 6, 99)) and not hikari_lean.is_tested((2, 8, 0))


def test_a_failed_lean_import_leaves_no_half_package() -> None:
    out = run("""
        import importlib
        real = importlib.import_module

        def failing(name, package=None):
            if name == "hikari.impl.shard":
                raise ImportError("simulated")
            return real(name, package)

        hikari_lean.importlib.import_module = failing
        try:
            hikari_lean.import_hikari()
        except ImportError as exc:
            refused = str(exc)
        hikari_lean.importlib.import_module = real
        left = sorted(name for name in sys.modules if name.startswith("hikari"))
        hikari = hikari_lean.import_hikari()  # a second try starts afresh
        result = report(hikari)
        result.update(refused=refused, left=left)
        print(json.dumps(result))
    """)
    assert out["refused"] == "simulated"
    assert out["left"] == []
    assert out["lean"] == {"hikari": True, "hikari.api": True, "hikari.impl": True}
    assert "hikari.impl.shard" in out["loaded"]
