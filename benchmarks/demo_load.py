"""Load test of the chat demo: concurrent simulated users on loopback, through gradio_client.

    python benchmarks/demo_load.py [--model outputs/tiny_t5] [--users 20] [--messages 10]

Each user opens a session, sends ``--messages`` messages (a profile, then follow-ups) and rates
every answer (like or dislike). Prints p50/p95/max latency per message, throughput, the error
count, and checks that every rating the app acknowledged is in the feedback store (exits 1 if
not, or on any error). The whole run is bounded by ``--timeout`` seconds. ``--load N`` runs N busy
processes meanwhile (a loaded machine: ``--load 2`` on 2 cores); ``--json PATH`` also writes the
figures (for benchmarks/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from background_load import busy_processes  # noqa: E402

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROFILES = [
    "I'm a data analyst, I know SQL and Excel, I want to become a machine learning engineer",
    "I work as a registered nurse and I want to become a nurse manager",
    "I am a junior software engineer, I know Python and Git, I want to become a DevOps engineer",
    "I'm a marketing coordinator, I know SEO, I want to become a marketing manager",
    "I am a data engineer and I want to become a data architect",
]
FOLLOW_UPS = [
    "I already know statistics",
    "make it shorter",
    "what about data engineer instead?",
    "I also know Docker",
    "no courses from Northwind Academy",
    "start over",
    "I'm a business analyst, I know SQL, I want to become a product manager",
    "make it shorter",
    "what about project manager instead?",
]


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def simulate_users(url: str, users: int, messages: int, timeout: float) -> dict:
    """``users`` threads, each a gradio_client session sending ``messages`` messages and rating
    every answer: latencies (s), errors, ratings acknowledged, wall seconds."""
    from gradio_client import Client

    # plain http on loopback: ssl_verify=False only spares each request gradio_client's loading of
    # the CA bundle (an SSL context per httpx client, which a remote browser would not cost)
    api = Client(url, verbose=False, ssl_verify=False).view_api(return_format="dict", print_info=False)[
        "named_endpoints"
    ]
    params = {n: [p["parameter_name"] for p in ep["parameters"]] for n, ep in api.items()}
    chat_ep = next(n for n, ps in params.items() if "message" in ps)
    rate_ep = next(n for n, ps in params.items() if "liked" in ps)
    latencies: list[float] = []
    errors: list[str] = []
    acked = [0]
    lock = threading.Lock()
    deadline = time.time() + timeout

    def user(u: int) -> None:
        try:
            client = Client(url, verbose=False, ssl_verify=False)
        except Exception as e:
            with lock:
                errors.append(f"user {u} connect: {e}")
            return
        script = [PROFILES[u % len(PROFILES)], *FOLLOW_UPS][:messages]
        for i, msg in enumerate(script):
            if time.time() > deadline:
                with lock:
                    errors.append(f"user {u}: timed out before message {i}")
                return
            t0 = time.perf_counter()
            try:
                reply = client.predict(msg, None, None, None, None, api_name=chat_ep)
                dt = time.perf_counter() - t0
                text = reply[0] if isinstance(reply, (list, tuple)) else reply
                if "something went wrong" in text:
                    raise RuntimeError(text)
                rated = client.predict(1, (u + i) % 3 != 0, api_name=rate_ep)
            except Exception as e:
                with lock:
                    errors.append(f"user {u} message {i}: {type(e).__name__}: {str(e)[:120]}")
                continue
            with lock:
                latencies.append(dt)
                acked[0] += "saved" in rated

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, deadline - time.time()) + 5)
    return {
        "latencies": latencies,
        "errors": errors,
        "acked": acked[0],
        "wall": time.perf_counter() - t0,
    }


def _users_process(url: str, users: int, messages: int, timeout: float, out) -> None:
    try:
        out.put(simulate_users(url, users, messages, timeout))
    except Exception as e:  # reported as an error of the run, not a hang
        out.put({"latencies": [], "errors": [f"clients: {type(e).__name__}: {e}"], "acked": 0, "wall": 0.0})


def run(
    model: str, users: int, messages: int, timeout: float, concurrency: int, same_process: bool = False
) -> dict:
    """Serve the demo here and send the users' messages from a separate process (as remote browsers
    would: the clients' own CPU is not spent under the server's interpreter lock), or from threads
    of this process (``same_process``, how this benchmark measured before 2026-12-05)."""
    import torch

    from careerpath.app.demo import create_app
    from careerpath.serving.recommend import settle_heap

    torch.set_num_threads(1)
    db = Path(tempfile.mkdtemp(prefix="careerpath-load-")) / "feedback.sqlite"
    demo, engine = create_app(model, str(db), concurrency=concurrency)
    settle_heap()  # as `careerpath serve` does once it has loaded
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True
    )
    url = f"http://127.0.0.1:{port}/"
    if same_process:
        res = simulate_users(url, users, messages, timeout)
    else:
        ctx = multiprocessing.get_context("spawn")
        box = ctx.Queue()
        proc = ctx.Process(target=_users_process, args=(url, users, messages, timeout, box), daemon=True)
        proc.start()
        try:
            res = box.get(timeout=timeout + 120)
        except queue.Empty:
            res = {"latencies": [], "errors": ["clients: no result"], "acked": 0, "wall": timeout}
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    latencies, errors, acked, wall = res["latencies"], res["errors"], [res["acked"]], res["wall"]
    stored = engine.store.count()
    demo.close()
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    return {
        "users": users,
        "messages_per_user": messages,
        "messages_answered": len(lat),
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_s": round(statistics.median(lat), 3) if lat else None,
        "p95_s": round(q[94], 3) if lat else None,
        "max_s": round(lat[-1], 3) if lat else None,
        "wall_s": round(wall, 1),
        "messages_per_s": round(len(lat) / wall, 2),
        "ratings_acknowledged": acked[0],
        "ratings_stored": stored,
        "concurrency": concurrency,
        "clients": "same process" if same_process else "separate process",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.environ.get("CAREERPATH_MODEL", "outputs/tiny_t5"))
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--messages", type=int, default=10)
    p.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    p.add_argument("--concurrency", type=int, default=2, help="chat requests served at once")
    p.add_argument("--load", type=int, default=0, help="busy processes running meanwhile (0: none)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument(
        "--same-process",
        action="store_true",
        help="run the simulated users as threads of the server's process (the harness before 2026-12-05)",
    )
    args = p.parse_args(argv)
    with busy_processes(args.load):
        r = run(args.model, args.users, args.messages, args.timeout, args.concurrency, args.same_process)
    r["load"] = args.load
    print(
        f"demo load: {r['users']} users x {r['messages_per_user']} messages, concurrency {r['concurrency']}, "
        f"{r['load']} busy processes: "
        f"p50 {r['p50_s']} s, p95 {r['p95_s']} s, max {r['max_s']} s, {r['messages_per_s']} messages/s, "
        f"wall {r['wall_s']} s, errors {r['errors']}; ratings acknowledged {r['ratings_acknowledged']}, "
        f"stored {r['ratings_stored']}"
    )
    for e in r["error_samples"]:
        print("  error:", e)
    ok = r["errors"] == 0 and r["ratings_acknowledged"] == r["ratings_stored"]
    ok = ok and r["messages_answered"] == r["users"] * r["messages_per_user"]
    if args.json:
        Path(args.json).write_text(json.dumps({**r, "ok": ok}, indent=2))
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
