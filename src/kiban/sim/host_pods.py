"""CPU-only pods as tenants of the nodes' CPU and memory (issue 15).

A trace such as openb has pods that ask for no GPU, only host CPU and memory
(:class:`~kiban.sim.jobs.HostPods`, riding with the job table). In the real cluster they take
a node's CPU and memory and so can keep GPU pods off that node; :class:`HostTenants` replays
them that way in the event simulator:

* **arrival** (``EventKind.HOST_ARRIVAL``, at the pod's ``submit_time_s``): the run's placement
  policy picks a node (``policy.place_host(view, cpu_milli, memory_b)``, the same placement
  layer that places the GPU pods: first-fit, best-fit, random-fit, fgd; a policy without one
  gets the lowest-numbered node that fits). The pod takes the node's CPU and memory through
  :meth:`~kiban.sim.cluster.ClusterState.hold_host` (which moves the fragmentation measure) and
  its end is queued at ``start + duration_s``. A pod no up node can take waits, in arrival
  order; a pod larger than every node is unschedulable (counted, never placed).
* **end** (``EventKind.HOST_END``): the CPU and memory return; waiting pods are tried again,
  in arrival order, and the policy is called again (the freed CPU may let a GPU pod start).
* Waiting pods are also tried at every settle after host resources came free elsewhere (a GPU
  job's end, a node's repair), before the policy decides (ASSUMED order: CPU-only pods that
  wait go before GPU pods; the trace does not rank them).
* A node failure evicts its pods: they wait again and, placed again, run for what was left of
  their duration (a pod's life is fixed by its deletion time).

They book no GPU time: the ledger is the GPUs' alone and still sums to capacity.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError
from kiban.sim.events import EventKind

if TYPE_CHECKING:
    from collections.abc import Callable

    from kiban.sim.cluster import ClusterState
    from kiban.sim.events import EventQueue
    from kiban.sim.flags import Dirty
    from kiban.sim.jobs import HostPods
    from kiban.sim.layout import ClusterLayout

__all__ = ["HOST_DONE", "HOST_FUTURE", "HOST_RUNNING", "HOST_WAITING", "HostTenants"]

HOST_FUTURE, HOST_WAITING, HOST_RUNNING, HOST_DONE, HOST_UNSCHEDULABLE = 0, 1, 2, 3, 4


class HostTenants:
    """The CPU-only pods of a run (see the module docstring).

    Args:
        pods: The pods.
        layout: The cluster (its nodes' CPU and memory).
        state: The allocation component (node CPU and memory free, nodes up).
        queue: The run's event queue.
        dirty: The run's dirty flags (``policy`` is set when CPU or memory comes free).
        place: ``place(cpu_milli, memory_b)`` → the node the policy chooses, -1 when none
            fits, or None to leave it to first-fit.
        policy_name: For error messages.
    """

    def __init__(  # noqa: PLR0917 - one component, its inputs
        self,
        pods: HostPods,
        layout: ClusterLayout,
        state: ClusterState,
        queue: EventQueue,
        dirty: Dirty,
        place: Callable[[int, float], int | None],
        policy_name: str,
    ) -> None:
        self.pods = pods
        self._state, self._queue, self._dirty = state, queue, dirty
        self._place, self._policy_name = place, policy_name
        n = pods.n_pods
        self.pod_state = np.zeros(n, dtype=np.int8)
        self.pod_node = np.full(n, -1, dtype=np.int64)
        self.first_start_s = np.full(n, math.nan)
        self.end_s = np.full(n, math.nan)
        self.left_s = pods.duration_s.copy()
        """Time each pod still has to run (s), as of its last start or eviction."""
        self.evictions = 0
        self._cpu: list[int] = pods.cpu_milli.tolist()
        self._mem: list[float] = pods.memory_b.tolist()
        self._waiting: list[int] = []  # pod indices in arrival order
        self._next = 0
        self._running = 0
        self._done = 0
        self._seen_version = -1
        # a pod larger than every node never fits
        cpu_max = math.inf if layout.node_cpu_milli is None else float(layout.node_cpu_milli.max())
        mem_max = math.inf if layout.node_memory_b is None else float(layout.node_memory_b.max())
        self._too_big = (pods.cpu_milli > cpu_max) | (pods.memory_b > mem_max)
        self._n_nodes = layout.n_nodes

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Queue the first arrival."""
        if self.pods.n_pods:
            self._queue.schedule(float(self.pods.submit_time_s[0]), EventKind.HOST_ARRIVAL, 0)

    @property
    def finished(self) -> bool:
        """Every pod has arrived and none is running (waiting ones may be left)."""
        return self._next >= self.pods.n_pods and self._running == 0 and not self._waiting

    @property
    def busy(self) -> bool:
        """Pods still to arrive or running (their events are queued)."""
        return self._next < self.pods.n_pods or self._running > 0

    @property
    def n_waiting(self) -> int:
        """Pods waiting for a node."""
        return len(self._waiting)

    def on_arrival(self, p: int, t_s: float) -> None:
        """Pod ``p`` arrives: place it or let it wait; queue the next arrival."""
        self._next = p + 1
        if self._next < self.pods.n_pods:
            self._queue.schedule(
                float(self.pods.submit_time_s[self._next]), EventKind.HOST_ARRIVAL, self._next
            )
        if self._too_big[p]:
            self.pod_state[p] = HOST_UNSCHEDULABLE
            return
        self.pod_state[p] = HOST_WAITING
        if not self._try(p, t_s):
            bisect.insort(self._waiting, p)

    def on_end(self, p: int, t_s: float) -> None:
        """Pod ``p``'s end event (stale if it was evicted since)."""
        if self.pod_state[p] != HOST_RUNNING or self.end_s[p] != t_s:
            return
        self._release(p)
        self.pod_state[p] = HOST_DONE
        self.left_s[p] = 0.0
        self._done += 1
        self.retry(t_s)

    def retry(self, t_s: float) -> None:
        """Try the waiting pods again, in arrival order."""
        self._seen_version = self._state.host_version
        if not self._waiting:
            return
        still: list[int] = []
        for p in self._waiting:
            if not self._try(p, t_s):
                still.append(p)
        self._waiting = still

    def retry_if_freed(self, t_s: float) -> None:
        """:meth:`retry` if host resources came free since the last try."""
        if self._waiting and self._state.host_version != self._seen_version:
            self.retry(t_s)

    def node_down(self, node: int, t_s: float) -> None:
        """Node ``node`` fails or loses power: its pods wait again with what they have left."""
        on = np.flatnonzero((self.pod_node == node) & (self.pod_state == HOST_RUNNING))
        for p in on.tolist():
            self._release(p)
            self.left_s[p] = max(float(self.end_s[p]) - t_s, 0.0)
            self.end_s[p] = math.nan
            self.pod_state[p] = HOST_WAITING
            self.evictions += 1
            bisect.insort(self._waiting, p)

    # --- placing ------------------------------------------------------------------------------
    def _try(self, p: int, t_s: float) -> bool:
        cpu, mem = self._cpu[p], self._mem[p]
        node = self._place(cpu, mem)
        if node is None:
            node = self._first_fit(cpu, mem)
        if node < 0:
            return False
        self._check(p, node)
        self._state.hold_host(node, cpu, mem)
        self.pod_state[p] = HOST_RUNNING
        self.pod_node[p] = node
        if math.isnan(self.first_start_s[p]):
            self.first_start_s[p] = t_s
        end = t_s + float(self.left_s[p])
        self.end_s[p] = end
        self._running += 1
        self._queue.schedule(end, EventKind.HOST_END, p)
        return True

    def _release(self, p: int) -> None:
        node = int(self.pod_node[p])
        self._state.hold_host(node, self._cpu[p], self._mem[p], -1)
        self._running -= 1
        self._dirty.policy = True

    def _first_fit(self, cpu: int, mem: float) -> int:
        st = self._state
        ok = st.node_up.copy()
        if st.node_cpu_free_milli is not None:
            ok &= st.node_cpu_free_milli >= cpu
        if st.node_memory_free_b is not None:
            ok &= st.node_memory_free_b >= mem
        node = int(np.argmax(ok))
        return node if ok[node] else -1

    def _check(self, p: int, node: object) -> None:
        st = self._state
        label = f"CPU-only pod {self.pods.job_id[p]!r}"
        if not isinstance(node, (int, np.integer)) or not 0 <= int(node) < self._n_nodes:
            msg = f"policy {self._policy_name!r}: place_host for {label}: {node!r} is not a node"
            raise PolicyError(msg)
        n = int(node)
        cpu_free, mem_free = st.node_cpu_free_milli, st.node_memory_free_b
        if (
            not st.node_up[n]
            or (cpu_free is not None and cpu_free[n] < self._cpu[p])
            or (mem_free is not None and mem_free[n] < self._mem[p])
        ):
            msg = (
                f"policy {self._policy_name!r}: place_host for {label}: node {n} is down or "
                f"lacks its {self._cpu[p]} milli-CPU / {self._mem[p]:.0f} B of memory"
            )
            raise PolicyError(msg)

    # --- results ------------------------------------------------------------------------------
    def figures(self) -> dict[str, float | int | None]:
        """Counts and waits of the pods (summary keys ``cpu_pods*``)."""
        st = self.pod_state
        started = np.isfinite(self.first_start_s)
        wait = self.first_start_s[started] - self.pods.submit_time_s[started]
        return {
            "cpu_pods": int(self.pods.n_pods),
            "cpu_pods_completed": int((st == HOST_DONE).sum()),
            "cpu_pods_running_at_end": int((st == HOST_RUNNING).sum()),
            "cpu_pods_waiting_at_end": int((st == HOST_WAITING).sum()),
            "cpu_pods_unschedulable": int((st == HOST_UNSCHEDULABLE).sum()),
            "cpu_pods_evictions": int(self.evictions),
            "cpu_pods_wait_mean_s": float(wait.mean()) if wait.size else None,
        }
