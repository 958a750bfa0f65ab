"""The session boundary: whatever escapes the steps of a connection ends in one log line
(no traceback at INFO, no exception text that might hold a secret), a clean close, an
audit record, and the connection's slot given back. Fault injection, in process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from bridge.runtime import build_runtime
from bridge.server import BridgeServer
from bridge.session import Session
from sandbox.ports import free_port


def write_config(tmp_path: Path, port: int) -> Path:
    (tmp_path / "creds.yaml").write_text("{}\n")
    os.chmod(tmp_path / "creds.yaml", 0o600)
    (tmp_path / "bridge.yaml").write_text(
        f"listen: {{tcp: ['127.0.0.1:{port}']}}\n"
        f"upstream: {{credentials: creds.yaml, address: '127.0.0.1:{free_port()}'}}\n"
        "audit_log: audit.jsonl\n"
    )
    return tmp_path / "bridge.yaml"


async def test_an_unexpected_error_is_one_line_and_a_clean_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(self: Session) -> None:
        self.start_attempt("login", "someone")
        raise RuntimeError("details that could hold a secret")

    monkeypatch.setattr(Session, "_handshake", boom)
    port = free_port()
    server = BridgeServer(build_runtime(write_config(tmp_path, port)))
    await server.start()
    try:
        with caplog.at_level(logging.INFO):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing sent
            writer.close()
            await asyncio.sleep(0.1)
        lines = [r for r in caplog.records if r.name == "bridge.session"]
        assert [r.getMessage() for r in lines] == [
            "conn=1 internal error, connection closed: RuntimeError"
        ]
        assert all(r.exc_info is None for r in lines)
        assert "could hold a secret" not in caplog.text
        record = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
        assert (record["result"], record["reason"]) == ("error", "internal error: RuntimeError")
        assert (server.slots.handshakes, server.slots.by_source) == (0, {})
    finally:
        server.stop()
        await server.drain()
