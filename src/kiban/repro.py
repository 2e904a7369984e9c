"""Bit-identical runs across CPUs: the environment of the golden digests and the validation doc.

OpenBLAS picks its kernels by CPU (SkylakeX on an AVX-512 Xeon, Haswell on AVX2 machines such as
AMD EPYC Zen 2/3). The kernels round matrix products differently in the last bit, and a long
event simulation turns that bit into other event orders (measured: the golden digests recorded on
an Intel Xeon all differed on an AMD EPYC; ``OPENBLAS_CORETYPE=Prescott`` changes them again,
``Haswell`` and ``Zen`` give the EPYC's own). Pinning OpenBLAS's Haswell kernels on one thread,
and numpy's dispatch below AVX-512, gives the same numbers on any x86-64-v3 machine. numpy and
OpenBLAS read these variables when they load, so a process that needs them starts over under
them (:func:`reexec_pinned`) or starts a child (:func:`pinned_env`).
"""

from __future__ import annotations

import os
import sys

PINNED_ENV: dict[str, str] = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}
"""What :func:`pinned_env` sets (numpy's AVX-512 switch-off comes on top)."""


def pinned_env() -> dict[str, str]:
    """This process's environment with :data:`PINNED_ENV` and numpy's AVX-512 dispatch off."""
    from numpy._core._multiarray_umath import __cpu_dispatch__  # noqa: PLC0415

    wide = [f for f in __cpu_dispatch__ if f.startswith(("AVX512", "X86_V4"))]
    env = dict(os.environ) | PINNED_ENV
    if wide:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(wide)
    return env


def is_pinned() -> bool:
    """Whether this process runs under :data:`PINNED_ENV`."""
    return all(os.environ.get(k) == v for k, v in PINNED_ENV.items())


def reexec_pinned() -> None:
    """Start this script over under :func:`pinned_env` unless it already runs so.

    Call it from a script's ``__main__`` block only: it replaces the process.
    """
    if not is_pinned():
        os.execve(sys.executable, [sys.executable, *sys.argv], pinned_env())
