"""Tests of the target lines of the benchmark page (bench.report).

The end-to-end time of the target case varies between runs on a shared
machine, so the page keeps the earlier runs' times and states when the
target was met in some of the runs only. The line of a proof cost ratio that
meets its target by less than 5% states the small margin.
"""

from __future__ import annotations

from bench import report


def case(seconds: float | None) -> dict:
    e2e = ({"status": "timed out after 200 s"} if seconds is None
           else {"status": "ok", "seconds": seconds})
    return {"n": 1000, "bits": 16, "e2e": e2e,
            "proofs": {"bits_per_party": 38000}}


def page(seconds: float, history: list[dict]) -> dict:
    return {"machine": {"nproc": 2}, "verified": [case(seconds)],
            "verified_history": history}


def verified_line(data: dict) -> str:
    lines = [line for line in report._target_lines(data)
             if line.startswith("- Verified")]
    assert len(lines) == 1
    return lines[0]


def test_history_adds_previous_run():
    previous = {"date": "d1", "verified": [case(15.7)],
                "verified_history": [{"date": "d0", "seconds": 14.0}]}
    assert report.verified_history(previous) == [
        {"date": "d0", "seconds": 14.0}, {"date": "d1", "seconds": 15.7}]


def test_history_prefers_section_date():
    previous = {"date": "later", "verified_date": "d1",
                "verified": [case(12.0)]}
    assert report.verified_history(previous) == [
        {"date": "d1", "seconds": 12.0}]


def test_history_skips_timed_out_run():
    previous = {"date": "d1", "verified": [case(None)]}
    assert report.verified_history(previous) == []


def test_met_in_some_runs():
    line = verified_line(page(13.5, [{"date": "d1", "seconds": 15.7}]))
    assert "13.5 s, met, as in 1 of the 2 recorded runs." in line
    assert "Earlier runs of this section: 15.7 s (d1); 1 of them over " \
           "the target." in line


def test_met_in_every_run():
    line = verified_line(page(13.5, [{"date": "d1", "seconds": 14.2}]))
    assert "13.5 s, met." in line
    assert "Earlier runs of this section: 14.2 s (d1)." in line


def test_not_met_without_history():
    line = verified_line(page(15.7, []))
    assert "15.7 s, NOT met." in line
    assert "Earlier runs" not in line


def ratio_lines(ratios: dict[str, float]) -> list[str]:
    data = {"secp": {"cases": {
        name: {"ratio": ratio, "protocol_us": 1.0, "raw_us": 1.0}
        for name, ratio in ratios.items()}}}
    return [line for line in report._target_lines(data)
            if "libsecp256k1" in line]


def test_ratio_near_target_states_margin():
    bit, far, over = ratio_lines({
        "prove_bit": 1.29,
        "range proof per bit, proving": 1.15,
        "verify_bit, alone": 1.31,
    })
    assert "1.29x the raw libsecp256k1 operations, met" in bit
    assert "The margin is under 5%" in bit
    assert "fixed cost" in bit
    assert "met (target 1.3x)." in far
    assert "margin" not in far
    assert "1.31x the raw libsecp256k1 operations, NOT met" in over
    assert "margin" not in over
    assert "fixed cost" in over
