"""The benchmark's arithmetic (scripts/bench.py): ratios to the baseline of
the same transfer type, per-round minimum and maximum, and the goals."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)
MIB = 1024 * 1024


def _sample(mb_s, apache_cpu=1.0, app_cpu=4.0, rss_app=0, tmp=0):
    return {"mb_s": mb_s, "seconds": 1024 * MIB / 1e6 / mb_s, "cpu_s": {"apache": apache_cpu, "app": app_cpu},
            "rss_growth": {"apache": 0, "app": rss_app}, "tmp_peak": tmp}


def _results(http_chunked, memory_growth=10 * MIB, second_s=20.0, second_changed=0):
    return {
        "parameters": {"size_mib": 1024, "rounds": 3, "sweep_size_mib": 256},
        "variants": {
            "direct chunked": [_sample(200), _sample(250), _sample(220)],
            "direct content-length": [_sample(300), _sample(300), _sample(300)],
            "http chunked": [_sample(v) for v in http_chunked],
            "http content-length": [_sample(291), _sample(294), _sample(300)],
            "http buffered chunked": [_sample(100, tmp=1024 * MIB)] * 3,
        },
        "sweep": {"1": [{"aggregate_mb_s": 200, "per_upload_mb_s": [200], "wall_s": 1}], "2": []},
        "memory": {"size": 4096 * MIB, "mb_s": 200, "seconds": 20,
                   "rss_growth": {"apache": 1 * MIB, "app": memory_growth}, "cpu_s": {}, "tmp_peak": 0},
        "converge": {"fresh_s": 200, "fresh_changed": 40, "second_s": second_s, "second_changed": second_changed},
    }


def test_ratios_use_the_baseline_of_the_same_transfer_type():
    rows = {row["variant"]: row for row in bench.summarize(_results([190, 240, 200]))}
    assert "ratio" not in rows["direct chunked"] and "ratio" not in rows["direct content-length"]
    chunked = rows["http chunked"]
    assert chunked["median"] == 200 and chunked["min"] == 190 and chunked["max"] == 240
    # Per-round ratios: 190/200, 240/250, 200/220; the ratio is their median.
    assert abs(chunked["ratio"] - 0.95) < 1e-9
    assert abs(chunked["ratio_min"] - 200 / 220) < 1e-9 and abs(chunked["ratio_max"] - 0.96) < 1e-9
    assert abs(rows["http content-length"]["ratio"] - 294 / 300) < 1e-9
    assert rows["http buffered chunked"]["tmp"] == 1024
    assert rows["http chunked"]["cpu_app"] == 4.0


def test_goals_report_met_and_missed():
    met = bench.check_goals(_results([215, 240, 220]))
    assert all(note.endswith("met") for note in met), met
    missed = bench.check_goals(_results([150, 160, 170], memory_growth=40 * MIB, second_s=31))
    assert sum(note.endswith("MISSED") for note in missed) == 3, missed


def test_table_lists_every_variant_and_the_sweep():
    text = bench.table(_results([190, 240, 200]))
    for name in ("direct chunked", "http chunked", "http buffered chunked"):
        assert "| %s |" % name in text
    assert "| 1 | 200.0 |" in text and "| 2 |" not in text
    assert "RSS growth Apache 1.0 MiB, uWSGI 10.0 MiB" in text


def test_each_apache_variant_runs_next_to_its_baseline_and_rounds_alternate():
    http = [v for v in bench.VARIANTS if v[1] == "http"]
    first = [v[0] for v in bench.round_order(http, 0)]
    assert first == ["direct chunked", "http chunked", "direct chunked 8 KiB", "http content-length",
                     "direct content-length"]
    assert [v[0] for v in bench.round_order(http, 1)] == first[::-1]
    mod_wsgi = [v for v in bench.VARIANTS if v[1] == "mod_wsgi"]
    assert [v[0] for v in bench.round_order(mod_wsgi, 0)] == ["mod_wsgi chunked", "mod_wsgi content-length"]
