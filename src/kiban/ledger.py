"""The lost-GPU-hour ledger: every GPU-second of capacity in exactly one bucket.

Buckets (DESIGN.md): ``productive`` (useful work at full speed), ``idle_no_demand`` (free, no job
waiting), ``queue_blocked`` (free while jobs wait), ``io_stall`` (allocated, waiting on data),
``thermal_throttle`` and ``power_cap`` (allocated time lost to lower clocks, by cause),
``failure`` (down or recovering, including redone work) and ``checkpoint`` (writing and
restoring checkpoints). They add up to the capacity; :meth:`Ledger.check` verifies it.
``fragmentation`` is reported beside them: the part of ``queue_blocked`` during which a waiting
job fitted the free GPU count but not the free shape.

The simulator fills the ledger from a run (:meth:`Ledger.from_run`); ``kiban.diagnose`` will fill
the same structure from telemetry and scheduler logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiban.errors import SimulationError
from kiban.units import PERCENT_PER_FRAC, S_PER_H
from kiban.vocabulary import LEDGER_BUCKETS, LOST_BUCKETS

if TYPE_CHECKING:
    from kiban.sim.settings import RunOutput

__all__ = ["LEDGER_BUCKETS", "LOST_BUCKETS", "Ledger"]

_WORDS_EN: dict[str, str] = {
    "productive": "did useful work at full speed",
    "idle_no_demand": "sat idle with no job waiting",
    "queue_blocked": "sat free while jobs waited (scheduling order, gang and shape constraints)",
    "io_stall": "waited on input data from shared storage",
    "thermal_throttle": "ran slower because chips hit their temperature limit",
    "power_cap": "ran slower under a power cap",
    "failure": "were down for repair or redid work lost to failures",
    "checkpoint": "wrote or restored checkpoints (including preemptions)",
}
_WORDS_JA: dict[str, str] = {
    "productive": "全速で有効な計算をした",
    "idle_no_demand": "待ちジョブがなく空いていた",
    "queue_blocked": "ジョブが待っているのに空いていた（順序・ギャング・形状の制約）",
    "io_stall": "共有ストレージからのデータ待ちだった",
    "thermal_throttle": "チップ温度の上限でクロックが下がった",
    "power_cap": "電力キャップでクロックが下がった",
    "failure": "故障で停止、または失われた計算をやり直した",
    "checkpoint": "チェックポイントの書き込み・復元をした（プリエンプションを含む）",
}


@dataclass(frozen=True)
class Ledger:
    """GPU-seconds of capacity split into buckets.

    Attributes:
        capacity_gpu_s: GPUs × time window (GPU·s).
        buckets_gpu_s: Bucket → GPU·s, for every name in :data:`LEDGER_BUCKETS`.
        fragmentation_gpu_s: The part of ``queue_blocked`` caused by shape fragmentation.
    """

    capacity_gpu_s: float
    buckets_gpu_s: Mapping[str, float]
    fragmentation_gpu_s: float = 0.0

    @classmethod
    def from_run(cls, run: RunOutput) -> Ledger:
        """The ledger of a simulation run."""
        return cls(
            capacity_gpu_s=float(run.capacity_gpu_s),
            buckets_gpu_s={k: float(run.ledger_gpu_s[k]) for k in LEDGER_BUCKETS},
            fragmentation_gpu_s=float(run.fragmentation_gpu_s),
        )

    @property
    def productive_gpu_s(self) -> float:
        """Productive GPU·s."""
        return float(self.buckets_gpu_s["productive"])

    @property
    def lost_gpu_s(self) -> float:
        """Capacity minus productive (GPU·s)."""
        return self.capacity_gpu_s - self.productive_gpu_s

    def total_gpu_s(self) -> float:
        """Sum of all buckets (GPU·s); equals the capacity for a consistent ledger."""
        return float(sum(self.buckets_gpu_s[k] for k in LEDGER_BUCKETS))

    def gpu_hours(self) -> dict[str, float]:
        """Bucket → GPU-hours."""
        return {k: float(self.buckets_gpu_s[k]) / S_PER_H for k in LEDGER_BUCKETS}

    def fractions(self) -> dict[str, float]:
        """Bucket → share of capacity (0–1)."""
        cap = self.capacity_gpu_s
        return {k: float(self.buckets_gpu_s[k]) / cap if cap > 0 else 0.0 for k in LEDGER_BUCKETS}

    def check(self, rel_tol: float = 1e-9) -> None:
        """Raise if the buckets do not add up to the capacity or one is negative.

        Args:
            rel_tol: Allowed relative error of the sum (and of a negative bucket).

        Raises:
            SimulationError: naming the mismatch.
        """
        cap = self.capacity_gpu_s
        total = self.total_gpu_s()
        scale = max(abs(cap), 1.0)
        if abs(total - cap) > rel_tol * scale:
            msg = (
                f"ledger buckets sum to {total!r} GPU·s but the capacity is {cap!r} GPU·s "
                f"(relative error {(total - cap) / scale:.3e} > {rel_tol:g})"
            )
            raise SimulationError(msg)
        for name in LEDGER_BUCKETS:
            if self.buckets_gpu_s[name] < -rel_tol * scale:
                msg = f"ledger bucket {name} = {self.buckets_gpu_s[name]!r} GPU·s is negative"
                raise SimulationError(msg)
        if (
            not -rel_tol * scale
            <= self.fragmentation_gpu_s
            <= self.buckets_gpu_s["queue_blocked"] + rel_tol * scale
        ):
            msg = (
                f"fragmentation {self.fragmentation_gpu_s!r} GPU·s is not within queue_blocked "
                f"{self.buckets_gpu_s['queue_blocked']!r} GPU·s"
            )
            raise SimulationError(msg)

    def waterfall(self) -> list[tuple[str, float]]:
        """Steps from capacity down to productive work (GPU-hours).

        Returns:
            ("capacity", h), then (bucket, −h) for each loss, then ("productive", h).
        """
        hours = self.gpu_hours()
        steps = [("capacity", self.capacity_gpu_s / S_PER_H)]
        steps += [(k, -hours[k]) for k in LOST_BUCKETS]
        steps.append(("productive", hours["productive"]))
        return steps

    def explain(self, lang: str = "en", top: int = 4) -> list[str]:
        """Plain-words sentences on where the GPU-hours went, largest losses first.

        Args:
            lang: ``en`` or ``ja``.
            top: How many loss buckets to name (those under 0.5 % of capacity are skipped).

        Returns:
            Sentences, the first one about productive work.
        """
        words = _WORDS_JA if lang == "ja" else _WORDS_EN
        frac = self.fractions()
        hours = self.gpu_hours()
        cap_h = self.capacity_gpu_s / S_PER_H
        pct = PERCENT_PER_FRAC
        if lang == "ja":
            lines = [
                f"容量 {cap_h:,.0f} GPU時間のうち {frac['productive'] * pct:.1f}% "
                f"({hours['productive']:,.0f} GPU時間) が{words['productive']}。"
            ]
        else:
            lines = [
                f"Of {cap_h:,.0f} GPU-hours of capacity, {frac['productive'] * pct:.1f}% "
                f"({hours['productive']:,.0f} GPU-hours) {words['productive']}."
            ]
        losses = sorted(LOST_BUCKETS, key=lambda k: -frac[k])
        for k in losses[:top]:
            if frac[k] < 0.005:
                continue
            if lang == "ja":
                lines.append(f"{frac[k] * pct:.1f}% ({hours[k]:,.0f} GPU時間) は{words[k]}。")
            else:
                lines.append(f"{frac[k] * pct:.1f}% ({hours[k]:,.0f} GPU-hours) {words[k]}.")
        frag_h = self.fragmentation_gpu_s / S_PER_H
        if self.capacity_gpu_s > 0 and self.fragmentation_gpu_s / self.capacity_gpu_s >= 0.005:
            if lang == "ja":
                lines.append(
                    f"待ち時間のうち {frag_h:,.0f} GPU時間は断片化"
                    "（空きGPU数は足りるが形が合わない）。"
                )
            else:
                lines.append(
                    f"{frag_h:,.0f} GPU-hours of the waiting were fragmentation: enough free GPUs, "
                    "but not in the shape a waiting job needed."
                )
        return lines
