"""The registry loop, locally and without Docker: an MLflow tracking server on this machine,
the wine model trained, registered and promoted to `@champion`, and the command that serves it.
    make registry [REGISTRY_PORT=5000]
The server (SQLite and local artifacts under .mlflow/, listening on 127.0.0.1 only) keeps
running until Ctrl-C; in another terminal, `make serve` with the printed settings follows the
alias, and `make registry-train` trains and promotes a new version it moves to.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--train-only", action="store_true", help="train and promote with a running server")
    parser.add_argument("--alpha", default="0.5", help="train.py's --alpha (a new version for each value)")
    parser.add_argument("--state", type=Path, default=ROOT / ".mlflow", help="the database and artifacts")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    # `kill` (SIGTERM) stops the tracking server too, as Ctrl-C does: it runs in a session of its
    # own, so without this it would outlive the script
    signal.signal(signal.SIGTERM, _exit_once)
    server = None
    if not args.train_only:
        server = _start(args.port, url, args.state.resolve())
    try:
        version = _train_and_promote(url, args.alpha)
        print(
            f"\nwine version {version} is @champion on {url}. Serve it, in another terminal:\n"
            f"  make serve MODEL_URI=models:/wine@champion MLFLOW_TRACKING_URI={url}\n"
            f"Train and promote a new version (the function follows the alias):\n"
            f"  make registry-train REGISTRY_PORT={args.port} ALPHA=0.3",
            flush=True,
        )
        if server is not None:
            print("The tracking server runs until Ctrl-C.", flush=True)
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup runs to its end (Ctrl-C's too)
        if server is not None and server.poll() is None:
            _stop(server)
    return 0


def _exit_once(*_) -> None:
    """The first SIGTERM ends the script; any later one is ignored from the handler's first step,
    so the cleanup that follows runs to its end (`make` passes its own SIGTERM on to the script
    right after the one a group kill gave it)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def _stop(server: subprocess.Popen) -> None:
    """Stop the tracking server's process group: gracefully, or after 10 s (it waits for idle
    keep-alive connections, a served function's say), at once."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _start(port: int, url: str, state: Path) -> subprocess.Popen:
    state.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(state / "artifacts"), "--workers", "1"]
    log = (state / "server.log").open("wb")
    # tracking and the registry are all the loop uses: MLflow's job runner (a second process, for
    # its GenAI jobs) stays off, and the server starts in about half the time
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                print(f"MLflow tracking server at {url} (its state and log in {state})", flush=True)
                return server
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit(f"the tracking server did not start; see {state / 'server.log'}")


def _train_and_promote(url: str, alpha: str) -> str:
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    train = [sys.executable, str(ROOT / "mlflow-compose" / "wine" / "train.py"), "--alpha", alpha]
    trained = subprocess.run(train, env=env, capture_output=True, text=True, check=False)
    registered = re.search(r"^REGISTERED=(models:/wine/(\d+))$", trained.stdout, re.MULTILINE)
    if trained.returncode != 0 or registered is None:
        raise SystemExit(f"training failed:\n{trained.stdout}{trained.stderr}")
    print(trained.stdout.strip(), flush=True)
    promote = [sys.executable, str(ROOT / "mlflow-compose" / "promote.py"), registered.group(1)]
    subprocess.run([*promote, "--alias", "champion"], env=env, check=True)
    return registered.group(2)


if __name__ == "__main__":
    sys.exit(main())
