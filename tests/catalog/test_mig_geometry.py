"""MIG geometry: NVIDIA's profiles and placements, and the catalog's MIG-capable GPUs.

Source: NVIDIA Multi-Instance GPU User Guide, "Supported MIG Profiles" (A100 40GB table: 1g.5gb
×7, 2g.10gb ×3, 3g.20gb ×2, 4g.20gb ×1, 7g.40gb ×1; 80 GB names 1g.10gb, 1g.20gb, 2g.20gb,
3g.40gb, 4g.40gb, 7g.80gb) and NVML's placement rule (an instance occupies memory slices
``start .. start + size``; creation fails on overlap). Exact integer checks, no tolerance.
"""

from __future__ import annotations

import typing

import pytest

from kiban.catalog import default_catalog
from kiban.mig import (
    MIG_COMPUTE_SLICES,
    MIG_GEOMETRIES,
    MIG_PROFILE_NAMES,
    MigGeometryName,
    profile_compute_slices,
)

A100 = MIG_GEOMETRIES["a100-40gb"]


@pytest.mark.parametrize(
    ("names", "fits"),
    [
        (["3g.20gb", "3g.20gb"], True),
        (["4g.20gb", "3g.20gb"], True),
        (["3g.20gb", "4g.20gb"], True),  # order does not matter
        (["4g.20gb", "4g.20gb"], False),
        (["1g.5gb"] * 7, True),
        (["1g.5gb"] * 8, False),
        (["7g.40gb"], True),
        (["7g.40gb", "1g.5gb"], False),
        (["2g.10gb"] * 3 + ["1g.5gb"], True),
        (["2g.10gb", "2g.10gb", "3g.20gb"], True),
        (["3g.20gb", "3g.20gb", "1g.5gb"], False),  # both halves taken: no start left for 1g
        (["1g.5gb"] * 4 + ["3g.20gb"], True),
        (["1g.10gb"] * 4, True),  # two memory slices each: 0, 2, 4, 6
        (["1g.10gb"] * 4 + ["1g.5gb"], False),
    ],
)
def test_a100_40gb_placement_rules(names, fits):
    """Which sets of instances fit one A100 40GB together (the guide's valid layouts)."""
    got = A100.assign(0, 0, names)
    assert (got is not None) == fits
    if got is not None:  # the starts found are placements and do not overlap
        taken = 0
        for name, start in zip(names, got, strict=True):
            p = A100.profiles[name]
            assert start in p.starts
            assert not taken & p.mask(start)
            taken |= p.mask(start)


def test_instances_per_profile_match_the_guide():
    """Most instances of each profile alone on one GPU: 7, 4, 3, 2, 1, 1 on every geometry."""
    for geo in MIG_GEOMETRIES.values():
        assert [p.max_instances for p in geo.profiles.values()] == [7, 4, 3, 2, 1, 1]
        assert [p.compute_slices for p in geo.profiles.values()] == [1, 1, 2, 3, 4, 7]
    assert list(A100.profiles) == ["1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"]
    h100 = MIG_GEOMETRIES["h100-80gb"]
    assert list(h100.profiles) == ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]


# NVIDIA MIG User Guide v580, "Getting Started with MIG": ``nvidia-smi mig -lgipp`` on an
# A100-SXM4-40GB, one line per GPU-instance profile: (profile, starts, memory slices). The +me
# profile (ID 20, the same placements as 1g.5gb) is not modelled.
PUBLISHED_LGIPP_A100_40GB = {
    "1g.5gb": ((0, 1, 2, 3, 4, 5, 6), 1),  # profile ID 19
    "1g.10gb": ((0, 2, 4, 6), 2),  # ID 15
    "2g.10gb": ((0, 2, 4), 2),  # ID 14
    "3g.20gb": ((0, 4), 4),  # ID 9
    "4g.20gb": ((0,), 4),  # ID 5
    "7g.40gb": ((0,), 8),  # ID 0
}

# The guide's "Supported MIG Profiles" tables 6-9: profile names in the tables' order with the
# "Number of Instances Available" column (the +me rows left out).
PUBLISHED_TABLES = {
    "a100-40gb": (
        ("1g.5gb", 7),
        ("1g.10gb", 4),
        ("2g.10gb", 3),
        ("3g.20gb", 2),
        ("4g.20gb", 1),
        ("7g.40gb", 1),
    ),
    "h100-80gb": (
        ("1g.10gb", 7),
        ("1g.20gb", 4),
        ("2g.20gb", 3),
        ("3g.40gb", 2),
        ("4g.40gb", 1),
        ("7g.80gb", 1),
    ),
    "h200-141gb": (
        ("1g.18gb", 7),
        ("1g.35gb", 4),
        ("2g.35gb", 3),
        ("3g.71gb", 2),
        ("4g.71gb", 1),
        ("7g.141gb", 1),
    ),
    "b200-180gb": (
        ("1g.23gb", 7),
        ("1g.45gb", 4),
        ("2g.45gb", 3),
        ("3g.90gb", 2),
        ("4g.90gb", 1),
        ("7g.180gb", 1),
    ),
}


def test_a100_40gb_placements_are_the_published_lgipp_listing():
    """Every A100 40GB profile's starts and size are the guide's ``nvidia-smi mig -lgipp`` lines
    (exact), and every other geometry has the same starts and sizes profile by profile (the
    guide's H100/H200/B200 tables give the same memory fractions; NVIDIA's H100 NVL listing is
    line for line the A100's)."""
    got = {n: (p.starts, p.memory_slices) for n, p in A100.profiles.items()}
    assert got == PUBLISHED_LGIPP_A100_40GB
    shapes = list(PUBLISHED_LGIPP_A100_40GB.values())
    for geo in MIG_GEOMETRIES.values():
        assert [(p.starts, p.memory_slices) for p in geo.profiles.values()] == shapes


def test_profile_names_and_counts_are_the_published_tables():
    """Names, order and instances per GPU of each geometry are the guide's tables 6-9 (A100
    40GB, H100 80GB, H200 141GB, B200 180GB); the 80 GB A100 has the H100's names (the guide's
    note under table 6)."""
    for name, rows in PUBLISHED_TABLES.items():
        geo = MIG_GEOMETRIES[name]
        assert tuple((n, p.max_instances) for n, p in geo.profiles.items()) == rows
    a100_80 = MIG_GEOMETRIES["a100-80gb"]
    assert list(a100_80.profiles) == [n for n, _ in PUBLISHED_TABLES["h100-80gb"]]


def _max_compute(geo, i=0, mask=0, compute=0):
    best = compute
    rows = [(p, s) for p in geo.profiles.values() for s in p.starts]
    for k in range(i, len(rows)):
        p, s = rows[k]
        if not mask & p.mask(s):
            best = max(best, _max_compute(geo, k + 1, mask | p.mask(s), compute + p.compute_slices))
    return best


def test_no_layout_of_free_memory_slices_exceeds_seven_compute_slices():
    """Every set of non-overlapping placements holds at most 7 compute slices, and 7 is reached:
    the memory rule alone keeps the compute slices within the GPU (enumerated exhaustively)."""
    for geo in MIG_GEOMETRIES.values():
        assert _max_compute(geo) == MIG_COMPUTE_SLICES


def test_a_new_instance_keeps_the_most_placements_open():
    """On an empty A100 a 3g goes to slice 4 (keeping 4g at 0) and a 1g to slice 6; with a 3g at
    4, a 4g still fits at 0; can_place refuses an overlap and a start that is no placement."""
    assert A100.start_for(0, "3g.20gb") == 4
    assert A100.start_for(0, "1g.5gb") == 6
    after = A100.profiles["3g.20gb"].mask(4)
    assert A100.start_for(after, "4g.20gb") == 0
    assert A100.start_for(A100.profiles["4g.20gb"].mask(0), "4g.20gb") == -1
    assert not A100.can_place(after, 3, "1g.5gb", 5)  # overlaps the 3g
    assert not A100.can_place(0, 0, "3g.20gb", 2)  # not a placement of 3g
    assert A100.can_place(after, 3, "4g.20gb", 0)


def test_profile_names_and_catalog():
    """Profile names parse to their compute slices; the catalog's geometry names are the keys;
    H100 and A100 80GB offer 3g.40gb, L40S has no MIG."""
    assert profile_compute_slices("3g.40gb") == 3
    with pytest.raises(ValueError, match=r"expected '<slices>g\.<memory>gb'"):
        profile_compute_slices("3g.40")
    assert set(typing.get_args(MigGeometryName)) == {"", *MIG_GEOMETRIES}
    assert "3g.40gb" in MIG_PROFILE_NAMES
    cat = default_catalog()
    for name in ("h100-sxm", "a100-sxm-80gb", "h200-sxm"):
        assert cat.gpu(name).mig in MIG_GEOMETRIES
    assert "3g.40gb" in MIG_GEOMETRIES[cat.gpu("h100-sxm").mig].profiles
    assert cat.gpu("l40s").mig == ""


def test_a_user_catalog_names_a_geometry_and_a_wrong_one_is_refused(tmp_path):
    """A user catalog may give a GPU a MIG geometry; an unknown one names the file, field, value
    and the allowed geometries."""
    from kiban.catalog import load_catalog  # noqa: PLC0415
    from kiban.errors import ConfigError  # noqa: PLC0415

    good = tmp_path / "good.toml"
    good.write_text('[gpu.l40s]\nmig = "a100-40gb"\n', encoding="utf-8")
    assert load_catalog(good).gpu("l40s").mig == "a100-40gb"
    bad = tmp_path / "bad.toml"
    bad.write_text('[gpu.h100-sxm]\nmig = "a100-41gb"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_catalog(bad)
    problems = info.value.problems  # type: ignore[attr-defined]
    assert problems == [
        f'{bad}: gpu.h100-sxm.mig = "a100-41gb": allowed: "", a100-40gb, a100-80gb, h100-80gb, '
        "h200-141gb, b200-180gb"
    ]


def test_catalog_show_lists_the_profiles():
    """`kiban catalog show h100-sxm` lists each profile's slices, starts and count."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from kiban.cli import _load_commands, app  # noqa: PLC0415

    _load_commands()
    res = CliRunner().invoke(app, ["catalog", "show", "h100-sxm"], terminal_width=400)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "MIG profiles (h100-80gb):" in text
    assert "3g.40gb (3/7 compute, 4/8 memory slices, starts 0,4, ×2)" in text


def _exists(geo, names, mask=0):
    """Brute force: some non-overlapping starts hold every instance of ``names``."""
    if not names:
        return True
    p = geo.profiles[names[0]]
    return any(_exists(geo, names[1:], mask | p.mask(s)) for s in p.starts if not mask & p.mask(s))


def test_assign_finds_a_layout_whenever_one_exists():
    """Every multiset of up to five A100 40GB instances, from an empty GPU and from a GPU with
    one 1g at slice 3: assign answers exactly when brute force finds a layout."""
    import itertools  # noqa: PLC0415

    names = list(A100.profiles)
    start_masks = [0, A100.profiles["1g.5gb"].mask(3)]
    checked = 0
    for k in range(1, 6):
        for combo in itertools.combinations_with_replacement(names, k):
            for used in start_masks:
                compute = 1 if used else 0
                got = A100.assign(used, compute, list(combo))
                assert (got is not None) == _exists(A100, list(combo), used), combo
                checked += 1
    assert checked == 2 * sum(
        len(list(itertools.combinations_with_replacement(names, k))) for k in range(1, 6)
    )
