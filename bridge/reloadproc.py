"""A reload reads and validates the files in a child process.

Reading 10,000 account rows is most of a second of Python. In a thread of the serving
process it would hold the GIL the event loop needs: each time the loop wakes it waits for
the thread to hand the GIL back, and on a busy machine the thread may not even be on a CPU
to do so; a login, a dozen wake-ups, then takes tens or hundreds of milliseconds. A child
process has its own interpreter. It hands over what the files say (runtime.Files) as
pickled frames on its stdout: the account rows (already in MySQL's search order) and the
credentials in slices of ROWS_PER_FRAME, then the rest. The event loop takes in one slice
at a time (about half a millisecond) and serves sessions in between.

The child is this package run by the same interpreter, with the same module path,
environment, working directory and privileges, so it reads exactly what the process itself
would read; isolated (-I) from the environment's Python settings (PYTHONPATH, user site
packages), which the serving process's own module path already reflects. Two guards:
- the code: the child must run the code the serving process started with (its package
  files unchanged since; an upgrade without a restart would otherwise hand over objects
  of one version to the classes of another): if not, the reload fails and says to restart;
- time: a child that has not answered within CHILD_DEADLINE (a file on a hung network
  mount, a FIFO) is killed and the reload fails, keeping the running configuration, so
  that later reloads are not queued behind it for ever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import bridge
from bridge.config import ConfigError
from bridge.mapping.accounts import AccountTable, TableBuilder
from bridge.runtime import Files, read_files, reading

ROWS_PER_FRAME = 250  # about half a millisecond of the event loop's time to take in
# Between slices the event loop waits for I/O: it stays a thread that sleeps and wakes,
# which the kernel schedules promptly on a busy machine, rather than one that runs flat out.
SLICE_PAUSE = 0.001  # seconds
_LENGTH = struct.Struct(">I")
_ROOT = str(Path(bridge.__file__).resolve().parent.parent)
_CHILD = "from bridge.reloadproc import child; sys.exit(child(sys.argv[1], sys.argv[2]))"
CHILD_NICE = 10  # the child yields the CPU to the serving process on a busy machine
CHILD_DEADLINE = 120.0  # seconds for the child to read and hand over everything


def code_stamp() -> str:
    """A digest of this package's files as they are on disk now (names, sizes, times)."""
    digest = hashlib.sha256()
    for path in sorted(Path(bridge.__file__).resolve().parent.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


STARTED_WITH = code_stamp()  # imported when the server starts: the code it runs


class ChildUnavailable(Exception):
    """No child process could be started (the caller reads the files itself)."""


async def read_apart(config_path: Path) -> tuple[Files, AccountTable]:
    """What the files say, read by a child process; ConfigError as build_runtime raises
    it, also when the child ends without an answer; ChildUnavailable when none starts."""
    command = [sys.executable, "-I", "-c", _program(), str(config_path), STARTED_WITH]
    try:  # in a thread: Popen's vfork does not stop the loop, as copying its pages would
        proc = await asyncio.to_thread(
            subprocess.Popen, command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise ChildUnavailable(f"cannot start a process to read the files: {exc}") from None
    try:
        async with asyncio.timeout(CHILD_DEADLINE):
            return await _talk(proc, config_path)
    except TimeoutError:
        raise ConfigError(
            f"{config_path}: the process reading the files did not finish in "
            f"{CHILD_DEADLINE:.0f} s (a file on a mount that does not answer?); stopped"
        ) from None
    finally:
        if proc.poll() is None:  # cancelled (shutdown) or a broken frame
            proc.kill()
        await asyncio.to_thread(proc.wait)


def _program() -> str:
    """The child's program: this process's module path (without the working directory
    that `-c` would put first: -I), then `child`."""
    path = [_ROOT, *(os.path.abspath(p) for p in sys.path if p)]
    return f"import sys; sys.path[:] = {path!r}; {_CHILD}"


async def _talk(proc: subprocess.Popen[bytes], config_path: Path) -> tuple[Files, AccountTable]:
    assert proc.stdout is not None and proc.stderr is not None
    frames, frames_pipe = await _reader(proc.stdout)
    said, said_pipe = await _reader(proc.stderr)
    errors = asyncio.ensure_future(said.read())  # drained, so the child never blocks on it
    try:
        return await _receive(frames)
    except asyncio.IncompleteReadError:
        code = await asyncio.to_thread(proc.wait)
        last = (await errors).decode(errors="replace").strip().splitlines()[-1:]
        detail = f": {last[0]}" if last else ""
        raise ConfigError(
            f"{config_path}: the process reading the files ended (exit code {code}){detail}"
        ) from None
    finally:
        errors.cancel()
        frames_pipe.close()
        said_pipe.close()


async def _reader(pipe: IO[bytes]) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader, transport


async def _receive(stream: asyncio.StreamReader) -> tuple[Files, AccountTable]:
    builder = TableBuilder()
    credentials: dict[str, bytes] = {}
    while True:
        # Our own child, over a pipe only the two processes hold: trusted as our own code.
        kind, value = pickle.loads(await _frame(stream))  # noqa: S301
        if kind == "rows":
            builder.add(value)
        elif kind == "credentials":
            credentials.update(value)
        elif kind == "error":
            raise ConfigError(value)
        else:
            table = builder.table()
            files: Files = dataclasses.replace(value, rows=table.rows, credentials=credentials)
            return files, table
        await asyncio.sleep(SLICE_PAUSE)  # the loop serves sessions between slices


async def _frame(stream: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    return await stream.readexactly(length)


def child(config_path: str, stamp: str) -> int:
    """In the child: read the files and write the frames. A problem with the files is an
    answer too (an 'error' frame with the message build_runtime would raise)."""
    os.nice(CHILD_NICE)
    out = sys.stdout.buffer
    path = Path(config_path)
    if stamp != STARTED_WITH:
        _write(
            out,
            (
                "error",
                f"{path}: the bridge's code changed since it started "
                "(an upgrade?): restart it to load the new configuration",
            ),
        )
        return 0
    try:
        with reading(path):
            files = read_files(path)
    except ConfigError as exc:
        _write(out, ("error", str(exc)))
        return 0
    for frame in _frames(files):
        _write(out, frame)
    out.flush()
    return 0


def _frames(files: Files) -> Iterator[tuple[str, Any]]:
    rows, step = files.rows, ROWS_PER_FRAME
    for start in range(0, len(rows), step):
        yield "rows", rows[start : start + step]
    names = list(files.credentials)
    for start in range(0, len(names), step):
        yield "credentials", {name: files.credentials[name] for name in names[start : start + step]}
    yield "files", dataclasses.replace(files, rows=(), credentials={})


def _write(out: BinaryIO, frame: tuple[str, Any]) -> None:
    data = pickle.dumps(frame, pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
