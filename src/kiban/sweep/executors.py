"""Where runs execute: local worker processes (default) or a ``dask.distributed`` cluster.

An executor takes the runs still to do and yields one :class:`RunOutcome` per run as runs
finish, in any order. ``close()`` stops what the executor started (local worker processes, or a
Dask ``LocalCluster``); on a cluster the user gave (``dask://HOST:PORT``) it only cancels this
sweep's tasks and leaves the cluster running.

Worker processes that die (killed, out of memory) do not lose runs: the local executor starts a
fresh pool and resubmits what had not finished; Dask's scheduler reruns the task on another
worker. A run whose workers keep dying comes back as ``lost`` and is not recorded, so the next
``kiban sweep`` retries it.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import secrets
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from kiban.errors import ConfigError
from kiban.sweep.worker import (
    STATUS_LOST,
    RunOutcome,
    RunTask,
    SharedTrace,
    execute_run,
    init_local_worker,
)

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

logger = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 3
"""A local pool whose workers died this many times gives up on the runs it still had."""
DASK_ALLOWED_FAILURES = 3
"""Dask reruns a task whose worker died this many times before reporting it lost."""


class Executor(Protocol):
    """Runs tasks somewhere and yields their outcomes as they finish."""

    name: str
    workers: int

    def run(self, tasks: list[RunTask], trace: SharedTrace | None) -> Iterator[RunOutcome]:
        """Yield one outcome per task, in completion order."""
        ...

    def close(self) -> None:
        """Stop everything this executor started; cancel what is still queued."""
        ...


def _mp_context() -> Any:
    # forkserver: workers fork from a clean server process (no threads of ours, fast start);
    # spawn where it does not exist. Never plain fork from a process that runs a progress thread.
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


class LocalExecutor:
    """Worker processes on this machine (all cores by default), no extra install."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: cf.ProcessPoolExecutor | None = None

    def _kill_pool(self) -> None:
        pool = self._pool
        self._pool = None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()

    def run(self, tasks: list[RunTask], trace: SharedTrace | None) -> Iterator[RunOutcome]:
        """Run ``tasks`` in a process pool; restart the pool if a worker dies."""
        pending = {t.run_id: t for t in tasks}
        restarts = 0
        while pending:
            pool = cf.ProcessPoolExecutor(
                max_workers=min(self.workers, len(pending)),
                mp_context=_mp_context(),
                initializer=init_local_worker,
                initargs=(trace,),
            )
            self._pool = pool
            futures = {pool.submit(execute_run, t): rid for rid, t in pending.items()}
            broken = False
            for fut in cf.as_completed(futures):
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken = True
                    break
                pending.pop(futures[fut], None)
                yield outcome
            self._kill_pool()
            if not broken:
                break
            restarts += 1
            logger.warning("a worker process died; %d runs to resubmit", len(pending))
            if restarts >= MAX_POOL_RESTARTS:
                for rid in list(pending):
                    yield RunOutcome(
                        run_id=rid,
                        status=STATUS_LOST,
                        error=f"worker processes died {restarts} times; not recorded, the next "
                        "kiban sweep retries it",
                    )
                pending.clear()

    def close(self) -> None:
        """Terminate the worker processes."""
        self._kill_pool()


def _dask() -> Any:
    try:
        import distributed  # noqa: PLC0415
    except ImportError:
        msg = (
            "--executor dask: dask.distributed is not installed; "
            "install it with: pip install 'kiban[dask]'"
        )
        raise ConfigError(msg) from None
    return distributed


class DaskExecutor:
    """A ``dask.distributed`` cluster: one the user runs (address), or a LocalCluster we start.

    Args:
        address: Scheduler address (``tcp://HOST:PORT``), or None to start a LocalCluster with
            ``workers`` single-threaded worker processes (stopped again by :meth:`close`).
        workers: Worker processes of a LocalCluster (default: all cores).
        connect_timeout_s: How long to wait for the scheduler.
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, workers: int | None = None, connect_timeout_s: float = 20
    ) -> None:
        distributed = _dask()
        self.address = address
        self._cluster: Any = None
        self._futures: list[Any] = []
        if address is None:
            n = max(1, workers if workers is not None else (os.cpu_count() or 1))
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            target: Any = self._cluster
        else:
            target = address
        try:
            self.client = distributed.Client(target, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError) as err:
            self.close()
            msg = f"--cluster {address}: cannot reach the Dask scheduler ({err})"
            raise ConfigError(msg) from None
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))

    def run(self, tasks: list[RunTask], trace: SharedTrace | None) -> Iterator[RunOutcome]:
        """Submit every task; the trace is scattered once to every worker."""
        distributed = _dask()
        shared = self.client.scatter(trace, broadcast=True, hash=True) if trace else None
        token = secrets.token_hex(4)
        by_key: dict[str, str] = {}
        futures = []
        for task in tasks:
            key = f"kiban-sweep-{task.run_id}-{token}"
            by_key[key] = task.run_id
            futures.append(self.client.submit(execute_run, task, shared, key=key, pure=False))
        self._futures = futures
        for fut in distributed.as_completed(futures):
            run_id = by_key[fut.key]
            try:
                outcome = fut.result()
            except distributed.KilledWorker as err:
                outcome = RunOutcome(
                    run_id=run_id,
                    status=STATUS_LOST,
                    error=f"KilledWorker: {err}; not recorded, the next kiban sweep retries it",
                )
            except Exception as err:  # e.g. a worker could not unpickle the task
                outcome = RunOutcome(
                    run_id=run_id, status=STATUS_LOST, error=f"{type(err).__name__}: {err}"
                )
            fut.release()
            yield outcome
        self._futures = []

    def close(self) -> None:
        """Cancel this sweep's tasks; stop the LocalCluster if this executor started it."""
        client = getattr(self, "client", None)
        if client is not None:
            if self._futures:
                try:
                    client.cancel(self._futures, force=True)
                except Exception:
                    logger.debug("cancel failed", exc_info=True)
            client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(kind: str, *, workers: int | None = None, cluster: str | None = None) -> Executor:
    """Build the executor the CLI names.

    Args:
        kind: ``local`` or ``dask``.
        workers: Worker processes (local, or a Dask LocalCluster).
        cluster: ``dask://HOST:PORT`` or ``tcp://HOST:PORT`` of a running Dask scheduler
            (implies ``dask``).

    Raises:
        ConfigError: unknown kind, malformed address, or Dask not installed.
    """
    if workers is not None and workers < 1:
        msg = f"--workers = {workers}: must be ≥ 1"
        raise ConfigError(msg)
    if cluster is not None:
        scheme, sep, rest = cluster.partition("://")
        if not sep or scheme not in ("dask", "tcp", "tls") or ":" not in rest:
            msg = f"--cluster = {cluster!r}: expected dask://HOST:PORT (a Dask scheduler)"
            raise ConfigError(msg)
        if kind not in ("dask", "local"):
            msg = f"--executor = {kind!r}: allowed local, dask"
            raise ConfigError(msg)
        address = f"{'tcp' if scheme == 'dask' else scheme}://{rest}"
        return DaskExecutor(address)
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(None, workers)
    msg = f"--executor = {kind!r}: allowed local, dask"
    raise ConfigError(msg)
