"""The benchmark scripts behave (figures, peers, ratios, README table); their speed is not tested here."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402
import train_throughput  # noqa: E402


def test_flop_formula_matches_torch_flop_counter():
    """The analytic T5 FLOPs behind MFU agree with what torch counts for a real forward pass."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(
        vocab_size=500, d_model=64, d_kv=16, d_ff=256, num_layers=2, num_heads=4, decoder_start_token_id=0
    )
    cfg._attn_implementation = "eager"  # the counter sees eager attention's matmuls, not CPU sdpa kernels
    model = T5ForConditionalGeneration(cfg).eval()
    src, tgt = 37, 11
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_ids=torch.ones(1, src, dtype=torch.long), labels=torch.ones(1, tgt, dtype=torch.long))
    counted = counter.get_total_flops()
    assert train_throughput.t5_forward_flops(cfg, src, tgt) == pytest.approx(counted, rel=1e-9)


def test_peak_table_picks_the_card():
    assert train_throughput.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert train_throughput.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert train_throughput.peak_tflops("NVIDIA H200") == 989.0
    assert train_throughput.peak_tflops("Some Unknown Card") is None


@pytest.mark.slow
def test_throughput_benchmark_runs_both_loops_and_reports_ratios(tiny_dataset, tmp_path):
    out = tmp_path / "tp.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--data", str(tiny_dataset)]
    cmd += ["--steps", "2", "--warmup", "1", "--repeats", "1", "--batch-size", "4", "--procs", "1", "2"]
    cmd += ["--max-train", "200", "--json", str(out)]
    cmd += ["--profile", str(tmp_path / "prof"), "--profile-steps", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = json.loads(out.read_text())
    rows = stored["rows"]
    # --profile: 2 more steps of each under the profiler, tables per row, a summary printed
    assert sorted(p.name for p in (tmp_path / "prof").iterdir()) == [
        "careerpath_x1_full.txt",
        "careerpath_x2_full.txt",
        "trainer_x1_full.txt",
    ]
    assert "aten::mm" in (tmp_path / "prof" / "trainer_x1_full.txt").read_text()
    for run in stored["runs"].values():
        prof = run[0]["profile"]
        assert prof["steps"] == 2 and prof["wall_ms_per_step"] > 0 and prof["ops_per_step"] > 50
        assert "aten::mm" in dict(prof["top_ops_by_cpu_ms"]) and "kernels_per_step" not in prof
    assert "Profiled: 2 steps after the timed ones" in proc.stdout
    kinds = {(r["impl"], r["processes"]) for r in rows}
    assert kinds == {("careerpath", 1), ("careerpath", 2), ("trainer", 1)}
    for r in rows:
        assert r["examples_per_s"] > 0 and r["tokens_per_s"] > r["examples_per_s"] and r["peak_rss_mb"] > 50
        assert 0 <= r["padding_share"] < 1
    two = next(r for r in rows if r["processes"] == 2)
    assert two["threads"] == 1  # one thread per process on this machine's cores
    # the peer trains in the precision careerpath chose (bf16 on a CPU that multiplies it natively)
    from careerpath.core.config import load_config
    from careerpath.training.training import resolve_mixed_precision

    chosen = resolve_mixed_precision(load_config([]), cpu=True)
    assert {r["precision"] for r in rows} == {chosen}
    name = "bf16" if chosen == "bf16" else "fp32"
    assert f"careerpath loop (torchrun 2 processes x 1 thread, {name}) / Seq2SeqTrainer (" in proc.stdout
    assert set(train_throughput.ratios(rows)) == {"full x1", "full x2"}


@pytest.mark.slow
def test_throughput_benchmark_measures_the_compiled_loop(tiny_dataset, tmp_path):
    """--compile: a careerpath row per mode, labelled, with its own ratio to the peer."""
    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("torch.compile on CPU (inductor) needs a C++ compiler: apt-get install g++")
    out = tmp_path / "tp.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--data", str(tiny_dataset)]
    cmd += ["--steps", "2", "--warmup", "2", "--repeats", "1", "--batch-size", "4", "--max-train", "200"]
    cmd += ["--compile", "no", "default", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = json.loads(out.read_text())
    rows = stored["rows"]
    assert sorted((r["impl"], r["compile"]) for r in rows) == [
        ("careerpath", "default"),
        ("careerpath", "no"),
        ("trainer", "no"),
    ]
    assert ", compiled: default) / Seq2SeqTrainer" in proc.stdout
    assert set(train_throughput.ratios(rows)) == {"full x1", "full x1 compiled:default"}
    compiled = next(r for r in rows if r["compile"] == "default")
    run = stored["runs"]["careerpath x1/full/compiled:default"][0]
    assert compiled["examples_per_s"] > 0 and run["compile"] == "default" and run["lean_forward"] is False


def _run_result(impl: str, variant: str, compile_mode: str, examples_per_s: float) -> dict:
    """What one benchmark child reports, for tests that stand in for the children."""
    return {"impl": impl, "variant": variant, "device": "cpu", "threads": 2, "params_m": 1.0,
            "trainable_m": 1.0, "compile": compile_mode, "precision": "no", "final_loss": 1.0,
            "examples_per_s": examples_per_s, "tokens_per_s": 1000.0, "padding_share": 0.1,
            "tflops": 0.1, "peak_rss_mb": 500.0}  # fmt: skip


def test_throughput_benchmark_keeps_going_past_a_failed_run(tiny_dataset, tmp_path, monkeypatch, capsys):
    """--keep-going (gpu_check.sh): a run that fails is reported, the others are run and tabled,
    the exit status says something failed; without it the failure stops the benchmark."""
    calls = []

    def child(args, impl, procs, variant, compile_mode="no", profile=False):
        calls.append((impl, compile_mode, profile))
        if compile_mode == "default":
            raise RuntimeError("careerpath x1/full failed (exit 1):\ninductor error")
        return _run_result(impl, variant, compile_mode, 100.0 if impl == "trainer" else 150.0)

    monkeypatch.setattr(train_throughput, "_child", child)
    argv = ["--data", str(tiny_dataset), "--compile", "no", "default", "--repeats", "2"]
    with pytest.raises(RuntimeError, match="inductor error"):
        train_throughput.main(argv)
    calls.clear()
    out = tmp_path / "tp.json"
    assert train_throughput.main([*argv, "--keep-going", "--json", str(out), "--profile", str(tmp_path)]) == 1
    rows = json.loads(out.read_text())["rows"]
    assert sorted((r["impl"], r["compile"], r["runs"]) for r in rows) == [
        ("careerpath", "no", 2),
        ("trainer", "no", 2),
    ]
    text = capsys.readouterr()
    assert "FAILED, going on" in text.out and "inductor error" in text.out
    assert "1.50x" in text.out and "failed (see above): careerpath x1/full/compiled:default" in text.err
    # eager rows first in each repeat (compiled ones are slow to start), careerpath and the peer in
    # alternating order; each row's first run that works is profiled, the failing row every time
    assert calls == [("careerpath", "no", True), ("trainer", "no", True), ("careerpath", "default", True),
                     ("trainer", "no", False), ("careerpath", "no", False), ("careerpath", "default", True)]  # fmt: skip


def test_throughput_benchmark_reports_what_finished_when_stopped(tiny_dataset, tmp_path, monkeypatch, capsys):
    """SIGTERM (gpu_check.sh's `timeout`) during a run: the runs that finished are tabled and in
    the JSON (written after every run), marked incomplete; the exit status is 1."""
    import signal

    calls = []

    def child(args, impl, procs, variant, compile_mode="no", profile=False):
        calls.append((impl, compile_mode))
        if compile_mode == "default":  # a slow compiled run: the timeout's signal arrives meanwhile
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            raise AssertionError("SIGTERM did not stop the run")
        return _run_result(impl, variant, compile_mode, 100.0 if impl == "trainer" else 120.0)

    monkeypatch.setattr(train_throughput, "_child", child)
    out = tmp_path / "tp.json"
    before = signal.getsignal(signal.SIGTERM)
    argv = ["--data", str(tiny_dataset), "--compile", "no", "default", "--variants", "full", "lora"]
    assert train_throughput.main([*argv, "--repeats", "1", "--json", str(out)]) == 1
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert calls == [("careerpath", "no"), ("trainer", "no"), ("careerpath", "no"), ("trainer", "no"),
                     ("careerpath", "default")]  # fmt: skip
    stored = json.loads(out.read_text())
    assert stored["complete"] is False and len(stored["rows"]) == 4
    text = capsys.readouterr()
    assert "stopped (SIGTERM) at [1/1] careerpath x1/full/compiled:default" in text.out
    assert (
        "full, careerpath loop (1 process, 2 threads, fp32) / Seq2SeqTrainer (2 threads, fp32): examples/s **1.20x**"
        in text.out
    )
    assert "lora, careerpath loop" in text.out and "stopped by SIGTERM" in text.err


def test_step_profile_counts_the_operators_that_run_kernels():
    """Per step: mm once (not matmul above it, nor resolve_conj below), add and relu's
    clamp_min; views and allocation are not operators that launch anything."""
    import torch
    from step_profile import StepProfiler, markdown

    x, w, b = torch.randn(64, 32), torch.randn(32, 16), torch.randn(16)
    with StepProfiler("cpu", 4) as sp:
        for _ in range(4):
            (x @ w + b).relu().view(-1).unsqueeze(0)
    s = sp.summary()
    assert s["steps"] == 4 and s["ops_per_step"] == 3.0 and s["wall_ms_per_step"] > 0
    assert dict(s["top_ops_by_count"]) == {"aten::mm": 1.0, "aten::add": 1.0, "aten::clamp_min": 1.0}
    assert "kernels_per_step" not in s  # CPU only: no GPU columns
    table = markdown([{"label": "loop", "variant": "full", "profile": s}])
    assert table.splitlines()[0].count("|") == 6 and "| loop | full |" in table and "| 3 |" in table


def test_step_profile_summarises_gpu_kernels_and_runtime_calls():
    """The GPU part of the summary (first run for real on a lent GPU), from a profiler's events:
    kernels and their time per step, busy share, and the runtime calls that make the host wait."""
    from types import SimpleNamespace as NS

    import torch
    from step_profile import StepProfiler, markdown
    from torch.autograd import DeviceType

    def ev(name, device=DeviceType.CPU, cpu_us=10.0, gpu_us=0.0, children=()):
        return NS(name=name, device_type=device, cpu_children=list(children), self_cpu_time_total=cpu_us,
                  device_time_total=gpu_us, self_device_time_total=gpu_us, key=name)  # fmt: skip

    steps = 2
    events = []
    for _ in range(steps):
        mm = ev("aten::mm", cpu_us=30, children=[ev("aten::resolve_conj")])  # below matmul, in the list too
        events += [ev("aten::matmul", children=[mm]), mm, ev("aten::add", cpu_us=30)]
        events += [ev("cudaLaunchKernel", cpu_us=5), ev("cudaStreamSynchronize", cpu_us=400)]
        events += [ev("cudaMalloc", cpu_us=100), ev("cudaFreeHost", cpu_us=50)]
        events += [
            ev("ampere_bf16_gemm", DeviceType.CUDA, gpu_us=1000),
            ev("vectorized_kernel", DeviceType.CUDA, gpu_us=500),
        ]
    sp = StepProfiler("cpu", steps)
    sp.device, sp.wall = torch.device("cuda"), 0.006  # 3 ms a step
    totals: dict = {}
    for e in events:  # key_averages: one entry per name, times summed
        t = totals.setdefault(e.name, ev(e.name, cpu_us=0.0))
        t.self_cpu_time_total += e.self_cpu_time_total
        t.self_device_time_total += e.self_device_time_total
    sp.prof = NS(events=lambda: events, key_averages=lambda: list(totals.values()))
    s = sp.summary()
    assert s["ops_per_step"] == 2.0 and s["kernels_per_step"] == 2.0
    assert s["gpu_kernel_ms_per_step"] == pytest.approx(1.5) and s["gpu_busy_share"] == pytest.approx(0.5)
    assert s["cuda_runtime_calls_per_step"]["cudaStreamSynchronize"] == pytest.approx([1.0, 0.4])
    assert s["top_ops_by_gpu_ms"][0] == ["ampere_bf16_gemm", pytest.approx(1.0)]
    row = markdown([{"label": "loop", "variant": "full", "profile": s}]).splitlines()[2]
    assert row.startswith(
        "| loop | full | 3.0 | 2 | 2 | 1.5 | 50% | 1.0, 1.0, 0.0 |"
    )  # cudaFreeHost: not a wait


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_in_smoke_mode(tiny_dataset, tmp_path):
    """GPU_CHECK_SMOKE=1: every step of the GPU script on the CPU at toy size, so that its plumbing
    (flags, files, the profile, train.py and evaluate, the quality rows) works before a GPU runs it."""
    env = dict(os.environ, GPU_CHECK_SMOKE="1", CAREERPATH_GPU_DATA=str(tiny_dataset), PYTHON=sys.executable)
    env["GPU_CHECK_OUT"] = str(tmp_path / "out")
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    out = tmp_path / "out"
    stored = json.loads((out / "throughput.json").read_text())
    assert stored["complete"] and {(r["impl"], r["variant"]) for r in stored["rows"]} == {
        (impl, variant) for impl in ("careerpath", "trainer") for variant in ("full", "lora")
    }
    assert len(list((out / "profile").glob("*.txt"))) == 4 and "Profiled: 3 steps" in proc.stdout
    assert json.loads((out / "t5_base" / "metrics.json").read_text())["steps"] == 3
    assert (out / "t5_base_report" / "metrics.json").exists()
    assert "| 6. quality, next course (test split) |" in proc.stdout and "status 0" in proc.stdout


def test_gpu_check_script_is_valid_and_refuses_without_a_gpu(tmp_path):
    script = ROOT / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    env = dict(os.environ, PATH=str(tmp_path))  # no nvidia-smi on this PATH
    proc = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "nvidia-smi not found" in proc.stderr


def _metrics(model_course: float, model_job: float) -> dict:
    def m(acc, mrr):
        return {"acc@1": acc, "mrr": mrr}

    return {
        "model": {"next_course": m(model_course, 0.3), "next_job": m(model_job, 0.9)},
        "oracle": {"oracle": {"next_course": m(0.5, 0.6), "next_job": m(0.9, 0.95)}},
        "baselines": {"gru": {"next_course": m(0.2, 0.32), "next_job": m(0.8, 0.85)}},
    }


def test_quality_rows_state_ratio_and_whether_met():
    rows: list = []
    run_all.quality(_metrics(0.49, 0.89), rows)
    course, job = rows
    assert course[3] == "0.98x oracle" and course[5] is False  # MRR 0.30 < GRU's 0.32
    assert job[3] == "0.99x oracle" and job[5] is True
    rows = []
    run_all.quality(_metrics(0.40, 0.95), rows)
    assert rows[0][5] is False and "gru Acc@1 0.200" in rows[0][2]


def test_quality_rows_hold_the_model_to_its_priors_not_above_them():
    """The priors alone are the model's own part: equal to them is met (data they describe fully),
    below them is not, and they are not the baseline to beat."""
    for priors_job, met in ((0.89, True), (0.895, False)):
        m = _metrics(0.49, 0.89)
        m["baselines"]["course_prior"] = {
            "next_course": {"acc@1": 0.49, "mrr": 0.3},
            "next_job": {"acc@1": priors_job, "mrr": 0.9},
        }
        rows: list = []
        run_all.quality(m, rows)
        assert rows[1][5] is met and "best baseline: gru" in rows[1][2] and "priors alone" in rows[1][2]


def test_gpu_rows_state_the_targets_of_a_stored_run(tmp_path, monkeypatch):
    from types import SimpleNamespace

    def row(impl, variant, ex, mfu, compile_mode="no"):
        return {
            "impl": impl,
            "variant": variant,
            "examples_per_s": ex,
            "tokens_per_s": 100 * ex,
            "mfu": mfu,
            "peak_gpu_mem_gb": 10.0,
            "device": "NVIDIA H100",
            "compile": compile_mode,
        }

    stored = [row("trainer", "full", 100, 0.02), row("careerpath", "full", 130, 0.30),
              row("careerpath", "full", 150, 0.2, "default"), row("trainer", "lora", 100, 0.01),
              row("careerpath", "lora", 110, 0.01)]  # fmt: skip
    (tmp_path / "gpu_check_h100_after.json").write_text(json.dumps({"rows": stored}))
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    rows: list = []
    run_all.gpu(SimpleNamespace(gpu=False), rows)
    met = {r[0]: (r[3], r[5]) for r in rows}
    assert met == {
        "7. GPU (NVIDIA H100), T5-base-sized bf16, full": ("1.30x", True),
        "7. GPU (NVIDIA H100), T5-base-sized bf16, full, compiled (default)": ("1.50x", False),  # MFU 20%
        "7. GPU (NVIDIA H100), T5-base-sized bf16, lora": ("1.10x", False),
    }
    assert all("no GPU in this run" in r[1] for r in rows)


def test_readme_table_is_replaced_between_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nintro\n")
    monkeypatch.setattr(run_all, "README", readme)
    run_all.write_readme(run_all.table([("a", "1", "", "", ">= 1", True)]))
    run_all.write_readme(run_all.table([("b", "2", "p", "2x", ">= 3", False)]))
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nintro") and text.count(run_all.START) == 1
    assert "| b | 2 | p | 2x | >= 3 | **no** |" in text and "| a |" not in text


def test_context_fit_grid_and_timing(tiny_dataset, capsys):
    """The weight fit scores the skill-gap rule for every pair of weights and names the best;
    --time reports the retriever's cost per row."""
    import context_fit

    assert context_fit.main(["--data", str(tiny_dataset), "--rows", "40"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "/" in line and "goal" not in line]
    assert len(rows) == len(context_fit.GRID)
    accs = [float(cell.split("/")[0]) for line in rows for cell in line.strip("|").split("|")[1:]]
    assert len(accs) == len(context_fit.GRID) ** 2 and all(0.0 <= a <= 1.0 for a in accs)
    assert "best: goal_weight" in out and "built with goal_weight 0.5" in out
    assert f"{max(accs):.3f}" in out.split("best:")[1]
    assert context_fit.main(["--data", str(tiny_dataset), "--rows", "40", "--time"]) == 0
    assert "us per row" in capsys.readouterr().out


def test_data_build_benchmark_reports_the_median_of_its_repeats(tmp_path, monkeypatch):
    """``data_build.py --repeats``: every build's seconds, their median, the largest peak RSS; and
    run_all's row names the runs and the machine's processor."""
    out = tmp_path / "db.json"
    subprocess.run(
        [sys.executable, "benchmarks/data_build.py", "--users", "120", "--repeats", "3", "--json", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (r,) = json.loads(out.read_text())
    assert r["users"] == 120 and len(r["runs_seconds"]) == 3
    assert r["seconds"] == pytest.approx(sorted(r["runs_seconds"])[1], abs=0.006)
    rows = []
    monkeypatch.setattr(run_all, "_run", lambda cmd: subprocess.CompletedProcess(cmd, 0, stdout=""))
    fake = dict(r, users=100000, seconds=61.0, runs_seconds=[58.0, 61.0, 70.0])
    (tmp_path / "data_build.json").write_text(json.dumps([fake]))
    run_all.data_building(run_all.argparse.Namespace(tmp=str(tmp_path), quick=False, million=False), rows)
    assert "61.0 s" in rows[0][1] and "median of 58.0, 61.0, 70.0 s" in rows[0][1] and rows[0][5] is False
    assert run_all.cpu_name()


def test_planner_replay_gives_back_the_planners_answers(tiny_model, tiny_dataset, monkeypatch, capsys):
    """``planner_replay.py``: the programs it captures are the planner's, in order, and replayed with
    the planner's options they give the course sets the planner got; a variant that sets an
    option to the value it has already changes no answer; a bad ``--variant`` is refused."""
    import planner_replay

    from careerpath.serving import planner_programs

    got = []
    real = planner_programs.cover_program

    def record(*args):
        out = real(*args)
        cands, rows = args[6], args[10]
        if not isinstance(rows, bool):  # a program HiGHS solved (else there is nothing to run)
            got.append(None if out is None else tuple(cands.index(i) for i in out))
        return out

    monkeypatch.setattr(planner_programs, "cover_program", record)
    programs = planner_replay.capture(str(tiny_model), str(tiny_dataset), 30, 5)
    integer = [k for k, (p, _) in enumerate(programs) if p.integer]
    assert got and len(integer) == len(got) and len(programs) > len(integer)
    _, first = planner_replay.replay(programs, {})
    assert [first[k][0] for k in integer] == got
    _, again = planner_replay.replay(programs, {"mip_detect_symmetry": True})
    assert all(planner_replay.same(a[0], b[0]) for a, b in zip(first, again, strict=True))

    assert planner_replay.parse_variant("a=1,b=false,c=0.5,d=on") == {"a": 1, "b": False, "c": 0.5, "d": "on"}
    with pytest.raises(SystemExit, match="name=value"):
        planner_replay.parse_variant("mip_detect_symmetry")
    with pytest.raises(SystemExit, match="presolve: set by the planner"):
        planner_replay.replay(programs[:1], {"presolve": "off"})
    monkeypatch.setattr(
        sys,
        "argv",
        ["planner_replay.py", "--model", str(tiny_model), "--data", str(tiny_dataset), "--n", "10"]
        + ["--repeats", "1", "--variant", "mip_detect_symmetry=true"],
    )
    planner_replay.main()
    out = capsys.readouterr().out
    lines = [
        ln
        for ln in out.splitlines()
        if ln.startswith(("| planner's options |", "| mip_detect_symmetry=true |"))
    ]
    assert len(lines) == 2 and all(ln.split("|")[-2].strip().startswith("0 of ") for ln in lines)


def test_run_all_latency_rows_give_each_runs_p95(tmp_path, monkeypatch):
    """run_all's latency rows: the median p95 against the target, and beside it every run's p95
    (from ``recommend_latency.py --json``'s ``runs``), so a figure near the target shows its spread."""

    def fake(cmd):
        out = Path(cmd[cmd.index("--json") + 1])
        load = int(cmd[cmd.index("--load") + 1])
        p95s = [58.0, 61.5, 70.25] if load else [30.0, 31.0, 29.5]
        runs = [{"careerpath": {"p50_ms": 10.0, "p95_ms": p, "mean_ms": 12.0}} for p in p95s]
        figures = {"p50_ms": 10.0, "p95_ms": sorted(p95s)[1], "mean_ms": 12.0}
        out.write_text(
            json.dumps(
                {
                    "careerpath": figures,
                    "generate": {"p50_ms": 200.0, "p95_ms": 300.0, "mean_ms": 210.0},
                    "batched_profiles_per_s": 900.0,
                    "repeats": 3,
                    "runs": runs,
                }
            )
        )
        return subprocess.CompletedProcess(cmd, 0, stdout="")

    monkeypatch.setattr(run_all, "_run", fake)
    rows = []
    args = run_all.argparse.Namespace(tmp=str(tmp_path), quick=False, model="m", data="d")
    run_all.recommend_latency(args, rows)
    idle, loaded = rows
    assert "p95 30.0 ms (runs: 30.0, 31.0, 29.5 ms)" in idle[1] and idle[5] is None
    assert "p95 61.5 ms (runs: 58.0, 61.5, 70.2 ms)" in loaded[1] and loaded[5] is False
