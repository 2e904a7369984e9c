"""MIG (Multi-Instance GPU) geometry: each MIG-capable GPU's profiles and where they may sit.

A GPU in MIG mode is split into GPU instances. NVIDIA's MIG User Guide ("Supported MIG
Profiles": the A100 and H100 tables and placement diagrams) gives each GPU's profiles, named
``<compute slices>g.<memory>gb``: an instance of profile ``3g.40gb`` owns 3 of the GPU's 7
compute slices (GPCs) and a contiguous run of its 8 memory slices. NVML describes an instance's
place as ``(start, size)`` in memory slices (``nvmlGpuInstancePlacement_t``: "index of first
occupied memory slice", "number of memory slices occupied"), each profile has a fixed set of
allowed starts (``nvmlDeviceGetGpuInstancePossiblePlacements``), and "creation of a new GPU
instance will fail if there is overlap with the already occupied memory slices". So the rule
kept here is: an instance sits at one of its profile's allowed starts and its memory slices do
not overlap those of the GPU's other instances. Within that rule the compute slices never run
out (at most 7 are taken: a test enumerates every layout); :meth:`MigGeometry.can_place`
checks both anyway.

The allowed starts below are NVIDIA's published placements. The MIG User Guide (v580, "Getting
Started with MIG", "List GPU Instance Profiles") lists them for an A100-SXM4-40GB with
``nvidia-smi mig -lgipp``: profile 19 (``1g.5gb``) ``{0,1,2,3,4,5,6}:1``, profile 20
(``1g.5gb+me``) ``{0,1,2,3,4,5,6}:1``, profile 15 (``1g.10gb``) ``{0,2,4,6}:2``, profile 14
(``2g.10gb``) ``{0,2,4}:2``, profile 9 (``3g.20gb``) ``{0,4}:4``, profile 5 (``4g.20gb``)
``{0}:4``, profile 0 (``7g.40gb``) ``{0}:8`` (``{starts}:memory slices``). NVIDIA's H100 NVL
write-up prints the same seven lines for the H100, and the guide's profile tables (A100 40GB,
H100 80GB, H200 141GB, B200 180GB: "Number of Instances Available" 7, 4, 3, 2, 1, 1 and the
same memory and SM fractions) agree with them; the guide prints no ``-lgipp`` listing for the
H200 and B200, so their starts are the A100's by those equal fractions. The 80 GB A100 and H100
profiles are ``1g.10gb``, ``1g.20gb``, ``2g.20gb``, ``3g.40gb``, ``4g.40gb``, ``7g.80gb``; the
H200's ``1g.18gb``, ``1g.35gb``, ``2g.35gb``, ``3g.71gb``, ``4g.71gb``, ``7g.141gb``; the
B200's ``1g.23gb``, ``1g.45gb``, ``2g.45gb``, ``3g.90gb``, ``4g.90gb``, ``7g.180gb`` (guide
tables 6-9). ``tests/catalog/test_mig_geometry.py`` checks every geometry against these
published tables. (The A100 40GB table gives ``1g.10gb`` a memory fraction of 1/8, against
its two memory slices in ``-lgipp``; the 80 GB tables say 1/4: the listing is followed.)
The media-extension profiles (``+me``, the same placements as their base profile) and compute
instances inside a GPU instance are not modelled. Hence, on an A100 40GB: two ``3g.20gb`` fit
(starts 0 and 4), ``4g.20gb`` + ``3g.20gb`` fit (0 and 4; the guide notes drivers before R510
refused that pair), two ``4g.20gb`` do not (one start, 0), and seven ``1g.5gb`` fit (0..6).

A job on an instance holds ``compute slices / 7`` of the GPU: its GPU time, energy and power
above idle count that share, as a milli-GPU share does (:mod:`kiban.sim.slots`).

References:
    NVIDIA Multi-Instance GPU User Guide (v580), "Supported MIG Profiles" (tables 6-9: A100,
    H100, H200, B200 profiles and instance counts),
    https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html, and
    "Getting Started with MIG" (the ``nvidia-smi mig -lgipp`` placement listing),
    https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html;
    NVML API Reference, ``nvmlGpuInstancePlacement_t`` and
    ``nvmlDeviceGetGpuInstancePossiblePlacements_v2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "MIG_COMPUTE_SLICES",
    "MIG_GEOMETRIES",
    "MIG_MEMORY_SLICES",
    "MIG_PROFILE_NAMES",
    "MigGeometry",
    "MigGeometryName",
    "MigProfile",
    "profile_compute_slices",
]

MIG_COMPUTE_SLICES = 7
"""Compute slices (GPCs) of a MIG-capable data-centre GPU (A100, H100, H200, B200)."""

MIG_MEMORY_SLICES = 8
"""Memory slices of those GPUs (placement positions 0..7)."""

B_PER_GB = 1e9

MigGeometryName = Literal["", "a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb", "b200-180gb"]
"""Names of the geometries a catalog GPU may name in its ``mig`` field ("" = not MIG-capable)."""

_PROFILE_RE = re.compile(r"^(?P<c>[1-7])g\.(?P<m>\d+)gb$")


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of a MIG geometry.

    Attributes:
        name: The profile as NVIDIA names it (``"3g.40gb"``).
        compute_slices: Compute slices (GPCs) of an instance, of :data:`MIG_COMPUTE_SLICES`.
        memory_slices: Memory slices an instance occupies (its placement size).
        memory_b: Nominal memory of an instance, from the name (B).
        starts: Allowed first memory slice of an instance (its placements).
    """

    name: str
    compute_slices: int
    memory_slices: int
    memory_b: float
    starts: tuple[int, ...]

    @property
    def share_frac(self) -> float:
        """Share of the GPU an instance holds: compute slices / 7."""
        return self.compute_slices / MIG_COMPUTE_SLICES

    @property
    def max_instances(self) -> int:
        """Most instances of this profile alone on one GPU."""
        taken = 0
        n = 0
        for s in self.starts:
            m = self.mask(s)
            if not taken & m:
                taken |= m
                n += 1
        return n

    def mask(self, start: int) -> int:
        """Bit mask of the memory slices an instance at ``start`` occupies."""
        return ((1 << self.memory_slices) - 1) << start


@dataclass(frozen=True)
class MigGeometry:
    """The MIG profiles of one GPU model and their placements (see the module docstring).

    A GPU's state is the bit mask of its occupied memory slices (0 = no instance). The start a new
    instance takes (:meth:`start_for`) is looked up in a table of the 256 masks, built per
    profile on first use (-1 where none is free).

    Attributes:
        name: Geometry name (``"a100-40gb"``), the value of a catalog GPU's ``mig`` field.
        profiles: Profile name → profile, in the guide's order (small to large).
        source: Where the table comes from.
    """

    name: str
    profiles: Mapping[str, MigProfile]
    source: str
    _start: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # filled per profile on first use (building every table at import costs start-up time)
        object.__setattr__(self, "_start", {})

    def profile(self, name: str) -> MigProfile:
        """The profile called ``name`` (KeyError if this GPU has none of that name)."""
        return self.profiles[name]

    def free_starts(self, used_mask: int, name: str) -> list[int]:
        """Allowed starts of profile ``name`` whose memory slices are free in ``used_mask``."""
        p = self.profiles[name]
        return [s for s in p.starts if not used_mask & p.mask(s)]

    def can_place(self, used_mask: int, compute_used: int, name: str, start: int) -> bool:
        """Whether an instance of ``name`` may be created at ``start`` on a GPU in this state.

        Args:
            used_mask: Occupied memory slices of the GPU (bit mask).
            compute_used: Compute slices its instances hold.
            name: The profile.
            start: The first memory slice asked for.

        Returns:
            True if ``start`` is one of the profile's placements, its memory slices are free and
            the GPU's compute slices suffice (at most :data:`MIG_COMPUTE_SLICES` in all).
        """
        p = self.profiles[name]
        if start not in p.starts or used_mask & p.mask(start):
            return False
        return compute_used + p.compute_slices <= MIG_COMPUTE_SLICES

    def start_for(self, used_mask: int, name: str) -> int:
        """The start a new instance of ``name`` takes on a GPU with ``used_mask``; -1 if none.

        Among the free allowed starts, the one that leaves the most placements (of any profile)
        still possible on the GPU, ties to the lowest start: a ``1g`` goes to slice 6 and a
        ``3g`` to slice 4 on an empty GPU, keeping the ``4g`` at 0 possible.
        """
        table = self._start.get(name)
        if table is None:
            table = tuple(_best_start(self, name, m) for m in range(1 << MIG_MEMORY_SLICES))
            self._start[name] = table
        return table[used_mask]

    def assign(self, used_mask: int, compute_used: int, names: Sequence[str]) -> list[int] | None:
        """Starts for new instances ``names`` together on a GPU in this state; None if none fit.

        The instances are tried largest first (memory slices, then compute slices), each at
        its starts in the order :meth:`start_for` prefers, backtracking where a later one finds
        no room: if any assignment exists, one is found (at most 7 instances of at most 7
        starts each). Used to apply several instances a policy put on one GPU in one decision,
        whatever order it placed them in.

        Returns:
            The start of each of ``names``, in their order.
        """
        order = sorted(
            range(len(names)),
            key=lambda i: (
                -self.profiles[names[i]].memory_slices,
                -self.profiles[names[i]].compute_slices,
                i,
            ),
        )
        starts = [-1] * len(names)

        def place(k: int, mask: int, compute: int) -> bool:
            if k == len(order):
                return True
            i = order[k]
            p = self.profiles[names[i]]
            if compute + p.compute_slices > MIG_COMPUTE_SLICES:
                return False
            free = [s for s in p.starts if not mask & p.mask(s)]
            free.sort(key=lambda s: (-self.placements_left(mask | p.mask(s)), s))
            for s in free:
                starts[i] = s
                if place(k + 1, mask | p.mask(s), compute + p.compute_slices):
                    return True
            return False

        return starts if place(0, used_mask, compute_used) else None

    def placements_left(self, used_mask: int) -> int:
        """Number of (profile, start) placements still free on a GPU with ``used_mask``."""
        return sum(1 for p in self.profiles.values() for s in p.starts if not used_mask & p.mask(s))


def _best_start(geo: MigGeometry, name: str, used_mask: int) -> int:
    p = geo.profiles[name]
    best, best_left = -1, -1
    for s in p.starts:
        m = p.mask(s)
        if used_mask & m:
            continue
        left = geo.placements_left(used_mask | m)
        if left > best_left:
            best, best_left = s, left
    return best


def profile_compute_slices(name: str) -> int:
    """Compute slices of a profile from its name (``"3g.40gb"`` → 3); ValueError if malformed."""
    match = _PROFILE_RE.match(name)
    if match is None:
        msg = f"MIG profile {name!r}: expected '<slices>g.<memory>gb', e.g. '3g.40gb'"
        raise ValueError(msg)
    return int(match["c"])


def _geometry(name: str, gb: Iterable[int], source: str) -> MigGeometry:
    """A geometry with NVIDIA's six placements, memory per name scaled to the GPU.

    Args:
        name: Geometry name.
        gb: Memory (GB, as in the profile names) of 1g (1 slice), 1g (2 slices), 2g, 3g, 4g, 7g.
        source: Citation.
    """
    one, one_big, two, three, four, seven = gb
    rows = [
        (f"1g.{one}gb", 1, 1, (0, 1, 2, 3, 4, 5, 6)),
        (f"1g.{one_big}gb", 1, 2, (0, 2, 4, 6)),
        (f"2g.{two}gb", 2, 2, (0, 2, 4)),
        (f"3g.{three}gb", 3, 4, (0, 4)),
        (f"4g.{four}gb", 4, 4, (0,)),
        (f"7g.{seven}gb", 7, 8, (0,)),
    ]
    profiles = {
        n: MigProfile(n, c, m, float(int(_PROFILE_RE.match(n)["m"])) * B_PER_GB, starts)  # type: ignore[index]
        for n, c, m, starts in rows
    }
    return MigGeometry(name, MappingProxyType(profiles), source)


_GUIDE = (
    "NVIDIA MIG User Guide v580, Supported MIG Profiles (tables 6-9) and Getting Started with "
    "MIG (nvidia-smi mig -lgipp placements, A100-SXM4-40GB)"
)

MIG_GEOMETRIES: Mapping[str, MigGeometry] = MappingProxyType(
    {
        "a100-40gb": _geometry("a100-40gb", (5, 10, 10, 20, 20, 40), f"{_GUIDE}: A100-SXM4-40GB"),
        "a100-80gb": _geometry("a100-80gb", (10, 20, 20, 40, 40, 80), f"{_GUIDE}: A100-SXM4-80GB"),
        "h100-80gb": _geometry("h100-80gb", (10, 20, 20, 40, 40, 80), f"{_GUIDE}: H100 80GB"),
        "h200-141gb": _geometry(
            "h200-141gb", (18, 35, 35, 71, 71, 141), f"{_GUIDE}: H200 141GB (table 8; A100 starts)"
        ),
        "b200-180gb": _geometry(
            "b200-180gb", (23, 45, 45, 90, 90, 180), f"{_GUIDE}: B200 180GB (table 9; A100 starts)"
        ),
    }
)
"""Geometry name → geometry. A catalog GPU names its geometry in its ``mig`` field."""

MIG_PROFILE_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(p for g in MIG_GEOMETRIES.values() for p in g.profiles)
)
"""Every profile name of every geometry (the values a job's ``mig_profile`` may take)."""
