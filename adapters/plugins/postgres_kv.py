"""Plugin key-value storage in PostgreSQL (table `plugin_kv` of migration 003): one row per key,
so every gateway replica on the database reads what a plugin wrote on any of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from rustyclaw.adapters.storage.pg_locks import lock_id
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.domain.plugins import PluginError
from rustyclaw.ports.plugins import PluginKV

if TYPE_CHECKING:
    from rustyclaw.adapters.storage.pg_pool import Conn

_UPSERT = (
    "INSERT INTO plugin_kv (plugin, key, value) VALUES (%s, %s, %s) "
    "ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value"
)
# What the plugin's other keys take in the file store's encoding ({"key": value, ...}): the key's
# quotes, the colon and the comma are 4 bytes; escapes inside keys are not counted.
_OTHERS_SIZE = (
    "SELECT COALESCE(SUM(octet_length(key) + octet_length(value) + 4), 0) FROM plugin_kv "
    "WHERE plugin = %s AND key <> %s"
)


class PostgresPluginStorage:
    """A PluginKV in PostgreSQL, with the file store's per-plugin size limit (about `max_bytes`)."""

    def __init__(self, pool: PgPool, max_bytes: int = 1_000_000) -> None:
        self._pool = pool
        self.max_bytes = max_bytes

    async def get(self, plugin: str, key: str) -> Any:
        rows = await self._pool.fetch(
            "read plugin storage from", "SELECT value FROM plugin_kv WHERE plugin = %s AND key = %s", (plugin, key)
        )
        return msgspec.json.decode(str(rows[0][0])) if rows else None

    async def keys(self, plugin: str) -> list[str]:
        rows = await self._pool.fetch(
            "list plugin storage keys in", "SELECT key FROM plugin_kv WHERE plugin = %s ORDER BY key", (plugin,)
        )
        return [str(row[0]) for row in rows]

    async def set(self, plugin: str, key: str, value: Any) -> None:
        try:
            raw = msgspec.json.encode(value).decode()
        except (TypeError, msgspec.EncodeError) as exc:
            raise PluginError(f"storage of plugin {plugin!r}: the value is not JSON: {exc}") from exc
        entry = len(msgspec.json.encode(key)) + 2 + len(raw.encode())

        async def work(conn: Conn) -> None:
            async with conn.transaction():
                # One writer per plugin at a time, on every replica: the size check and the write
                # must see the same rows.
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id("plugin_kv", plugin),))
                cursor = await conn.execute(_OTHERS_SIZE, (plugin, key))
                row = await cursor.fetchone()
                total = 2 + int(row[0] if row else 0) + entry
                if total > self.max_bytes:
                    raise PluginError(
                        f"storage of plugin {plugin!r} would be {total} bytes; the limit is {self.max_bytes}"
                    )
                await conn.execute(_UPSERT, (plugin, key, raw))

        await self._pool.run("write plugin storage in", work)

    async def delete(self, plugin: str, key: str) -> bool:
        deleted = await self._pool.execute(
            "delete from plugin storage in", "DELETE FROM plugin_kv WHERE plugin = %s AND key = %s", (plugin, key)
        )
        return deleted > 0


if TYPE_CHECKING:
    _conforms: type[PluginKV] = PostgresPluginStorage
