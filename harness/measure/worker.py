"""Measuring processes: one fresh process per model and cell, driven one window at a time.

:class:`Contestant` is the parent's handle on one model's measuring process
(:func:`harness.measure.session.serve`). Processes come from a fork server
that has imported torch and the measuring code and done nothing else: each
starts in milliseconds yet inherits no allocator state, caches or threads
from the run that trained the models. The parent waits for every reply by
blocking on the pipe with a timeout (never a polling loop), so it takes no
CPU from the process being timed; a crash or a hang in a child becomes an
error of that model, not of the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import time
from typing import Any

from harness.measure.batch import BatchResult
from harness.measure.loadgen import LoadRun
from harness.measure.session import CellRequest, serve
from harness.signals import deferred


def start_server() -> multiprocessing.context.ForkServerContext:
    """Start the fork server now (it imports torch in the background) and return its context.

    The runner calls this before it loads data and trains, so that the
    server's start-up overlaps that work instead of delaying the first measurement.
    """
    context: multiprocessing.context.ForkServerContext = multiprocessing.get_context("forkserver")
    # torch._dynamo is what the first TorchDispatchMode of a process imports (about 1-2 s): once, in the server
    context.set_forkserver_preload(["torch", "torch._dynamo", "harness.measure.session", __name__])
    multiprocessing.forkserver.ensure_running()
    return context


class WorkerFailed(Exception):
    """The measuring process crashed, timed out or raised; the message says which."""


class Contestant:
    """One model's measuring process in one cell: :meth:`start` it, ask for windows, :meth:`close` it.

    ``request.timeout`` (seconds, or None) bounds the time this process works
    for, set-up and every window added up (the time others' windows take is
    not counted); past it the process is killed and :class:`WorkerFailed` raised.
    """

    def __init__(self, label: str, payload: tuple[str, bytes], request: CellRequest):
        self.label, self.payload, self.request = label, payload, request
        self._process: Any = None
        self._conn: Any = None
        self._stopping = False
        self._worked = 0.0  # seconds spent waiting for this process's replies

    def start(self) -> tuple[int | None, dict[int, BatchResult]]:
        """Start the process and wait for its set-up: (threads used, what set-up measured per batch size)."""
        context = start_server()
        self._conn, child = context.Pipe(duplex=True)
        self._process = context.Process(target=serve, args=(child, self.payload, self.request), daemon=True)
        with deferred():  # Ctrl-C inside start() would leave a child this process does not know to kill
            self._process.start()
        child.close()
        _, threads, results = self._reply("ready")
        return threads, results

    def round(self, batch_size: int) -> tuple[str, Any]:
        """One window at ``batch_size``: ``("ok", window)`` or ``("failed", (status, reason))``."""
        return self._ask(batch_size)

    def load(self, run: LoadRun) -> tuple[str, Any]:
        """One serving run: ``("ok", LoadOutcome)`` or ``("failed", (status, reason))``."""
        return self._ask(run)

    def _ask(self, command: int | LoadRun) -> tuple[str, Any]:
        self._send(command)
        reply = self._reply("ok", "failed")
        return ("ok", reply[1]) if reply[0] == "ok" else ("failed", reply[1:])

    def _send(self, message: Any) -> None:
        try:
            self._conn.send(message)
        except OSError:
            raise WorkerFailed(self._death()) from None

    def _reply(self, *expected: str) -> Any:
        limit = self.request.timeout
        started = time.monotonic()
        ready = self._conn.poll(None if limit is None else max(0.0, limit - self._worked))
        self._worked += time.monotonic() - started
        if not ready:  # one blocking wait: no polling loop competes with the child for a core
            self.close(kill=True)
            raise WorkerFailed(f"timed out after {limit:g} s (measure.timeout_seconds); the process was killed")
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            raise WorkerFailed(self._death()) from None
        if reply[0] not in expected:
            self.close(kill=True)
            raise WorkerFailed(reply[1])
        return reply

    def _death(self) -> str:
        self._process.join()
        return f"the measuring process died (exit code {self._process.exitcode})"

    def close(self, kill: bool = False) -> None:
        """Stop the process (told to stop when it is idle, killed when ``kill`` or when it does not) and wait."""
        process, conn = self._process, self._conn
        if process is None:
            return
        if process.is_alive() and kill:
            process.kill()
        self.stop()
        process.join(timeout=1.0)
        if process.is_alive():
            process.kill()
            process.join()
        conn.close()
        self._process = None

    def stop(self) -> None:
        """Tell an idle process to end, without waiting: :meth:`close` then waits for all at once."""
        if self._process is not None and self._process.is_alive() and not self._stopping:
            self._stopping = True
            with contextlib.suppress(OSError):
                self._conn.send(None)
