"""Serving the app: one process, or N worker processes sharing one listening socket.

Each worker is a whole, stateless server (its own event loop, database pool and, if
configured, Redis client); the kernel hands each new connection to whichever worker accepts
it first, so a busy worker takes fewer. The supervisor only binds the socket, starts the
workers, replaces one that dies, and passes SIGTERM on.

Shutdown is graceful in every worker: on SIGTERM it stops accepting connections, lets the
requests in flight finish (up to ``COMPAX_SHUTDOWN_TIMEOUT_SECONDS``, after which they are
cancelled and their transactions roll back), then closes its database pool.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web

from compax_server.app import create_app
from compax_server.connection import AppRunner
from compax_server.logs import configure_logging
from compax_server.metrics import MULTIPROCESS_DIR
from compax_server.settings import Settings

log = logging.getLogger("compax.server")

#: Workers that die this soon after starting count towards giving up.
QUICK_DEATH_SECONDS = 10.0
#: After this many quick deaths in a row the supervisor stops instead of restarting forever.
QUICK_DEATHS_ALLOWED = 5
#: Extra time the supervisor gives workers beyond their own shutdown timeout.
STOP_GRACE_SECONDS = 10.0


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 or newer) when a certificate is configured."""
    if settings.certfile is None or settings.keyfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.certfile, settings.keyfile)
    return context


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, ready to be shared by workers."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(settings: Settings) -> int:
    """Serve until stopped; the exit status (0 after a graceful stop)."""
    tls_context(settings)  # a bad certificate or key stops here, before anything starts
    sock = listening_socket(settings.host, settings.port)
    if settings.workers == 1:
        with sock:
            serve_worker(settings, sock, supervised=False)
        return 0
    return Supervisor(settings, sock).run()


def serve_worker(settings: Settings, sock: socket.socket, *, supervised: bool = True) -> None:
    """Run one server process on ``sock`` until SIGTERM (or Ctrl+C when not supervised)."""
    configure_logging(settings.log_format, settings.log_level)
    if supervised:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor turns Ctrl+C into SIGTERM
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_serve(settings, sock, supervised=supervised))


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (everywhere but Windows): the same server on a
    loop whose sockets and callbacks cost less CPU per request (docs/benchmarks.md); else
    asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _freeze_startup_objects() -> None:
    """Leave the objects made at start-up (modules, models, compiled statements: most of the
    heap, and kept for the process's life) out of every later garbage collection, which would
    otherwise walk them all on each full collection: several per cent of the CPU under load."""
    gc.collect()
    gc.freeze()


async def _serve(settings: Settings, sock: socket.socket, *, supervised: bool) -> None:
    runner = AppRunner(
        create_app(settings),
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )
    await runner.setup()
    _freeze_startup_objects()
    try:
        await web.SockSite(runner, sock, ssl_context=tls_context(settings)).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if not supervised:
            loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        if not supervised:
            # A second Ctrl+C stops at once (KeyboardInterrupt), without waiting for requests.
            loop.remove_signal_handler(signal.SIGINT)
        log.info(
            "process %d stopping: no new connections; finishing requests in flight (up to %s s)",
            os.getpid(),
            settings.shutdown_timeout_seconds,
        )
    finally:
        await runner.cleanup()
    log.info("process %d stopped", os.getpid())


class Supervisor:
    """Starts ``settings.workers`` worker processes on one socket and keeps that many running.

    SIGTERM or SIGINT closes the supervisor's copy of the socket and sends SIGTERM to every
    worker, which then finishes its requests and exits; a second signal kills them at once.
    """

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.workers: dict[int, BaseProcess] = {}
        self._context = multiprocessing.get_context("spawn")
        self._started: dict[int, float] = {}
        self._signals = 0

    def run(self) -> int:
        """Run the workers until a signal stops them; the exit status."""
        configure_logging(self.settings.log_format, self.settings.log_level)
        metrics_dir = None
        if not os.environ.get(MULTIPROCESS_DIR):
            # The workers' metrics go to files here, so that any worker can report them all.
            metrics_dir = tempfile.mkdtemp(prefix="compax-metrics-")
            os.environ[MULTIPROCESS_DIR] = metrics_dir
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            for slot in range(self.settings.workers):
                self._start(slot)
            status = self._watch()
            self._stop_all()
        finally:
            self.sock.close()
            if metrics_dir is not None:
                os.environ.pop(MULTIPROCESS_DIR, None)
                shutil.rmtree(metrics_dir, ignore_errors=True)
        return status

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            for process in self.workers.values():
                process.kill()

    def _start(self, slot: int) -> None:
        process = self._context.Process(
            target=serve_worker, args=(self.settings, self.sock), name=f"compax-worker-{slot}"
        )
        process.start()
        self.workers[slot] = process
        self._started[slot] = time.monotonic()
        log.info("worker %d started (pid %s)", slot, process.pid)

    def _watch(self) -> int:
        """Replace workers that die until a signal arrives; 1 if workers keep dying at once."""
        quick_deaths = 0
        while not self._signals:
            ended = set(wait([process.sentinel for process in self.workers.values()], 0.5))
            for slot, process in list(self.workers.items()):
                if self._signals or process.sentinel not in ended:
                    continue
                process.join()
                _forget_metrics_of(process.pid)
                lived = time.monotonic() - self._started[slot]
                quick_deaths = quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
                if quick_deaths >= QUICK_DEATHS_ALLOWED:
                    log.error("workers keep exiting right after they start; stopping")
                    return 1
                log.error(
                    "worker %d (pid %s) exited with status %s; starting another",
                    slot,
                    process.pid,
                    process.exitcode,
                )
                self._start(slot)
        return 0

    def _stop_all(self) -> None:
        self.sock.close()  # connections the workers will no longer accept are refused
        for process in self.workers.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + self.settings.shutdown_timeout_seconds + STOP_GRACE_SECONDS
        for slot, process in self.workers.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker %d did not stop in time; killing it", slot)
                process.kill()
                process.join()
            _forget_metrics_of(process.pid)


def _forget_metrics_of(pid: int | None) -> None:
    """Drop a dead worker's live gauges (pool connections) from the shared metrics."""
    if pid is not None and os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
