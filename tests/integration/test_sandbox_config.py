"""The sandbox's pure parts: config mapping, size parsing, create arguments, output capture."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from rustyclaw.adapters.sandbox.container_options import (
    KEEPER_COMMAND,
    create_kwargs,
    exec_argv,
    parse_tmpfs,
    spec_fingerprint,
)
from rustyclaw.adapters.sandbox.output import CappedBuffer, pump_frames
from rustyclaw.adapters.sandbox.settings import parse_bytes, spec_from_config
from rustyclaw.config.sandbox import SandboxConfig
from rustyclaw.domain.errors import SandboxError
from rustyclaw.ports.sandbox import SandboxSpec, sandbox_scope_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1g", 1024**3),
        ("512m", 512 * 1024**2),
        ("1.5g", int(1.5 * 1024**3)),
        ("65536", 65536),
        ("64k", 65536),
        ("2GB", 2 * 1024**3),
        ("-1", -1),
        (1000, 1000),
    ],
)
def test_parse_bytes(text: str | int, expected: int) -> None:
    assert parse_bytes(text) == expected


def test_parse_bytes_refuses_nonsense() -> None:
    with pytest.raises(SandboxError, match="not a size"):
        parse_bytes("lots")


def test_spec_from_the_config_section(tmp_path: Path) -> None:
    section = SandboxConfig.model_validate(
        {
            "mode": "all",
            "scope": "agent",
            "workspaceAccess": "rw",
            "docker": {
                "image": "img:1",
                "network": "bridge",
                "memory": "512m",
                "memorySwap": "1g",
                "cpus": 0.5,
                "pidsLimit": 64,
                "tmpfs": ["/tmp", "/run:size=1m"],
                "env": {"TOKEN": "s3cret"},
                "setupCommand": "echo hi",
                "timeoutSeconds": 12,
                "maxOutputBytes": 1000,
                "readOnlyRoot": False,
            },
        }
    )
    spec = spec_from_config(section, tmp_path)
    assert spec == SandboxSpec(
        image="img:1",
        network="bridge",
        memory=512 * 1024**2,
        memory_swap=1024**3,
        cpus=0.5,
        pids_limit=64,
        read_only_root=False,
        tmpfs=("/tmp", "/run:size=1m"),
        env={"TOKEN": "s3cret"},
        workspace=str(tmp_path),
        workspace_access="rw",
        timeout=12.0,
        max_output_bytes=1000,
        setup_command="echo hi",
    )
    defaults = spec_from_config(SandboxConfig.model_validate({}), tmp_path)
    assert defaults.workspace is None and defaults.network == "none" and defaults.memory == 1024**3
    assert defaults.user == "1000:1000" and defaults.cap_drop == ("ALL",) and defaults.pids_limit == 256


def test_create_arguments_pass_every_limit(tmp_path: Path) -> None:
    spec = SandboxSpec(
        memory=256 * 1024**2,
        cpus=1.5,
        pids_limit=32,
        workspace=str(tmp_path),
        workspace_access="ro",
        tmpfs=("/tmp", "/run:size=1m"),
    )
    kwargs = create_kwargs(spec, name="n", labels={"a": "b"})
    assert kwargs["network_mode"] == "none"
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 256 * 1024**2
    assert kwargs["nano_cpus"] == 1_500_000_000 and kwargs["pids_limit"] == 32
    assert kwargs["user"] == "1000:1000" and kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges"] and kwargs["read_only"] is True
    assert kwargs["tmpfs"] == {"/tmp": "rw,nosuid,nodev,mode=1777", "/run": "size=1m"}
    assert kwargs["volumes"] == {str(tmp_path): {"bind": "/workspace", "mode": "ro"}}
    assert kwargs["working_dir"] == "/workspace" and kwargs["command"] == KEEPER_COMMAND


def test_spec_refusals(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="'host' is refused"):
        SandboxSpec(network="host")
    with pytest.raises(SandboxError, match="needs a workspace"):
        SandboxSpec(workspace_access="rw")
    with pytest.raises(SandboxError, match="not a folder"):
        create_kwargs(SandboxSpec(workspace=str(tmp_path / "missing"), workspace_access="rw"), name="n", labels={})
    with pytest.raises(SandboxError, match="absolute path"):
        parse_tmpfs(("tmp",))
    with pytest.raises(SandboxError, match="empty"):
        exec_argv([])


def test_fingerprint_ignores_per_command_limits() -> None:
    base = SandboxSpec()
    assert spec_fingerprint(base) == spec_fingerprint(SandboxSpec(timeout=5, max_output_bytes=10))
    assert spec_fingerprint(base) != spec_fingerprint(SandboxSpec(memory=2 * 1024**3))


def test_scope_keys() -> None:
    assert sandbox_scope_key("session", "main", "agent:main:telegram:direct:42") == "agent:main:telegram:direct:42"
    assert sandbox_scope_key("agent", "main", "agent:main:x") == "agent:main"
    assert sandbox_scope_key("shared", "main", "agent:main:x") == "shared"
    with pytest.raises(SandboxError):
        sandbox_scope_key("global", "main", "x")


def _frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(data)) + data


def test_frames_are_split_per_stream_and_capped() -> None:
    stream = io.BytesIO(_frame(1, b"out1 ") + _frame(2, b"err") + _frame(1, b"out2-long") + _frame(2, b"!"))
    out, err = CappedBuffer(8), CappedBuffer(100)
    pump_frames(stream, out, err)
    assert out.text() == "out1 out\n[... 6 bytes truncated]" and out.truncated
    assert err.text() == "err!" and not err.truncated


def test_a_cut_stream_keeps_what_arrived() -> None:
    stream = io.BytesIO(_frame(1, b"whole") + _frame(1, b"partial")[:-3])
    out, err = CappedBuffer(100), CappedBuffer(100)
    pump_frames(stream, out, err)
    assert out.text() == "whole"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    buf = CappedBuffer(10)
    buf.write("é".encode() * 3)
    buf.write(b"\xff")
    assert buf.text() == "ééé\ufffd"
