"""A co-optimizer's section explains its gain against the baseline from the ledger (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

from report_fixtures import write_result_dir

from kiban.report import build_context


def _joint_beside_fifo(root: Path) -> None:
    """fifo-static and j-dec on the same jobs; j-dec moved 30 GPU-h of I/O stall into power
    capping and 50 GPU-h of I/O stall into useful work."""
    write_result_dir(root, "fifo-static")
    out = write_result_dir(root, "j-dec")
    path = out / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary["ledger_gpu_hours"]["io_stall"] -= 80.0
    summary["ledger_gpu_hours"]["power_cap"] += 30.0
    summary["gpu_hours_productive"] += 50.0
    path.write_text(json.dumps(summary), encoding="utf-8")


def test_j_dec_section_says_which_loss_went_down_and_which_went_up(tmp_path):
    _joint_beside_fifo(tmp_path)
    ctx = build_context([tmp_path / "fifo-static", tmp_path / "j-dec"])
    fifo, joint = ctx.sections
    assert not any("Against" in n for n in fifo.notes)
    note = next(n for n in joint.notes if n.startswith("Against fifo-static"))
    down, up = note.split("Losses that went down:")[1].split("Losses that went up:")
    assert "I/O stall −80" in down
    assert "Power capping" not in down
    assert "Power capping +30" in up
    assert "I/O stall" not in up
    assert "useful GPU-hours +" in note  # 50 more useful GPU-hours
    ja = build_context([tmp_path / "fifo-static", tmp_path / "j-dec"], lang="ja")
    note_ja = next(n for n in ja.sections[1].notes if "fifo-static" in n)
    assert "減った損失: I/O待ち −80" in note_ja
    assert "増えた損失: 電力キャップ +30" in note_ja


def test_no_gain_note_without_a_co_optimizer(tmp_path):
    write_result_dir(tmp_path, "fifo")
    write_result_dir(tmp_path, "backfill")
    ctx = build_context([tmp_path / "fifo", tmp_path / "backfill"])
    assert not any("Against" in n for s in ctx.sections for n in s.notes)
