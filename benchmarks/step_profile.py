"""One training loop's steps under ``torch.profiler``, summarised for comparing two loops
(benchmarks/train_throughput.py ``--profile DIR``; issue 26's "profile one step of each").

A loop at 1-2% MFU on a GPU is bound by its host: what each step costs the Python thread
(wall time), how many operators it dispatches, and how many kernels it launches matter more than
the kernels' own time. The summary holds those per step, the GPU's kernel time per step and its
share of the wall time (how much the GPU works while the host is busy), and the operators that
take most of either; the full tables go to a text file per run.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

# dispatcher-level operators that make no kernel of their own (views, metadata, allocation)
NO_KERNEL = frozenset(
    "aten::" + name
    for name in (
        "view as_strided t transpose reshape _reshape_alias slice select expand expand_as view_as "
        "unsqueeze squeeze unsqueeze_ squeeze_ _unsafe_view detach detach_ alias permute lift_fresh "
        "resolve_conj resolve_neg empty empty_strided empty_like result_type item _local_scalar_dense "
        "is_nonzero unbind split split_with_sizes narrow chunk contiguous flatten unflatten numpy_T "
        "set_ resize_ as_strided_ record_stream"
    ).split()
)


class StepProfiler:
    """``with StepProfiler(device, steps) as sp: <run `steps` optimizer steps>``, then
    ``sp.summary()`` and ``sp.write(path)``."""

    def __init__(self, device, steps: int):
        import torch

        self.device, self.steps = torch.device(device), steps
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.prof = torch.profiler.profile(activities=activities)
        self.wall = 0.0

    def __enter__(self) -> StepProfiler:
        self._sync()
        self.prof.__enter__()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.wall = time.perf_counter() - self._t0
        self.prof.__exit__(*exc)

    def _sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def summary(self, top: int = 8) -> dict:
        """Per step: wall ms (with the profiler's own overhead), operators dispatched (leaf
        ``aten::`` operators that run a kernel; views and allocation left out), GPU kernels
        launched and their ms, the GPU's busy share of the wall time; the ``top`` operators by
        self CPU time, and by self GPU time on a GPU."""
        from torch.autograd import DeviceType

        events = self.prof.events()
        cpu = [e for e in events if e.device_type == DeviceType.CPU]
        leaf = [e for e in cpu if _dispatches(e) and not any(_runs_kernel(c) for c in e.cpu_children)]
        kernels = [e for e in events if e.device_type == DeviceType.CUDA]
        n = max(self.steps, 1)
        wall_ms = self.wall * 1e3 / n
        out = {
            "steps": self.steps,
            "wall_ms_per_step": wall_ms,
            "ops_per_step": len(leaf) / n,
            "top_ops_by_count": [[k, v / n] for k, v in Counter(e.name for e in leaf).most_common(top)],
        }
        averages = self.prof.key_averages()
        by_cpu = sorted(averages, key=lambda a: -a.self_cpu_time_total)
        out["top_ops_by_cpu_ms"] = [[a.key, a.self_cpu_time_total / 1e3 / n] for a in by_cpu[:top]]
        if self.device.type == "cuda":
            # the host's CUDA runtime calls: launches, copies, and what makes it wait
            # (cudaStreamSynchronize, cudaDeviceSynchronize, cudaMalloc/cudaFree when the caching
            # allocator has no block of the size asked for)
            runtime, runtime_ms = Counter(), Counter()
            for e in cpu:
                if e.name.startswith("cuda"):
                    runtime[e.name] += 1
                    runtime_ms[e.name] += e.self_cpu_time_total / 1e3 / n
            # every name (a few dozen): the waits are rarely the most frequent
            out["cuda_runtime_calls_per_step"] = {k: [v / n, runtime_ms[k]] for k, v in runtime.most_common()}
            kernel_ms = sum(k.device_time_total for k in kernels) / 1e3 / n
            out["kernels_per_step"] = len(kernels) / n
            out["gpu_kernel_ms_per_step"] = kernel_ms
            out["gpu_busy_share"] = kernel_ms / wall_ms if wall_ms else None
            by_gpu = sorted(averages, key=lambda a: -a.self_device_time_total)
            out["top_ops_by_gpu_ms"] = [[a.key, a.self_device_time_total / 1e3 / n] for a in by_gpu[:top]]
        return out

    def write(self, path: Path, title: str) -> None:
        """The profiler's tables (by self CPU time, and by self GPU time on a GPU) to ``path``."""
        averages = self.prof.key_averages()
        parts = [f"{title}: {self.steps} optimizer steps profiled, {self.wall:.3f} s wall\n"]
        parts.append(averages.table(sort_by="self_cpu_time_total", row_limit=40))
        if self.device.type == "cuda":
            parts.append(averages.table(sort_by="self_device_time_total", row_limit=40))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(parts))


def _dispatches(event) -> bool:
    return event.name.startswith("aten::") and event.name not in NO_KERNEL


def _runs_kernel(event) -> bool:
    """An operator that runs a kernel itself or through one it calls (``aten::matmul`` through
    ``aten::mm``); views and allocation below an operator leave it a leaf."""
    return _dispatches(event) or any(_runs_kernel(c) for c in event.cpu_children)


def waits(profile: dict, kind: str) -> float:
    """CUDA runtime calls per step whose name holds ``kind`` (Synchronize, Malloc, Free; not the
    host-side pinned ones)."""
    calls = profile.get("cuda_runtime_calls_per_step", {})
    return sum(v[0] for k, v in calls.items() if kind in k and "Host" not in k)


def markdown(rows: list[dict]) -> str:
    """A table of the profiled runs' summaries (rows: ``{"label": ..., "variant": ..., "profile": summary}``)."""
    gpu = any("kernels_per_step" in r["profile"] for r in rows)
    head = "| implementation | variant | wall ms/step | operators/step |"
    head += " GPU kernels/step | GPU kernel ms/step | GPU busy | syncs, mallocs, frees/step |" if gpu else ""
    head += " most CPU time (ms/step) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p = r["profile"]
        cells = [r["label"], r["variant"], f"{p['wall_ms_per_step']:.1f}", f"{p['ops_per_step']:.0f}"]
        if gpu:
            busy = p.get("gpu_busy_share")
            cells += [
                f"{p.get('kernels_per_step', 0):.0f}",
                f"{p.get('gpu_kernel_ms_per_step', 0):.1f}",
                f"{busy:.0%}" if busy is not None else "n/a",
                f"{waits(p, 'Synchronize'):.1f}, {waits(p, 'Malloc'):.1f}, {waits(p, 'Free'):.1f}",
            ]
        cells.append(", ".join(f"{k.removeprefix('aten::')} {v:.1f}" for k, v in p["top_ops_by_cpu_ms"][:3]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
