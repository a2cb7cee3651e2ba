"""``airtable-pg dev``: everything on one machine with one command.

Postgres (embedded unless ``DATABASE_URL``), Dagster's own database on the same server, the Airtable
sandbox with the demo base (unless ``AIRTABLE_API_KEY`` points at a real Airtable), the migrations,
then Dagster (``dagster dev``: webserver, daemon and their shared code server) as a child process. Ctrl-C
or SIGTERM stops them, each whole process group (run workers included), and exits 0: Dagster and the live
sync's processes all at once (a stop takes as long as the slowest of them, not their sum), then the sandbox.
However the supervisor itself dies (SIGKILL included), its children die too: see ``cli.lifeline``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from airtable_pg.cli.parsing import command_parser
from airtable_pg.postgres.database import (
    database_url,
    ensure_database,
    libpq_url,
    redact,
    sqlalchemy_url,
    with_database,
)
from airtable_pg.settings import ConfigError, Settings, dev_stack_path, load_settings

if TYPE_CHECKING:  # imported where used: `airtable-pg sandbox` and `--help` start without them
    from airtable_pg.defs.instance_events import DagsterRecorder
    from airtable_pg.runtime import Runtime
    from airtable_pg.sync.engine import SyncResult

DAGSTER_DATABASE = "dagster"
APPLY_INTERVAL = 10.0  # seconds between payload passes without a ping (the receiver's pings wake it at once)
# An instant sandbox lets a naive client (pyairtable `Table.all()`) burst past 5 requests/s and give up on 429s,
# which Airtable's own latency would have prevented: the dev sandbox answers in 220-300 ms, like Airtable, so
# a client that waits for each answer stays under 5 requests/s.
DEV_SANDBOX_LATENCY_MS = 220.0
DEV_SANDBOX_JITTER_MS = 80.0
STARTUP_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 20.0


class DevError(RuntimeError):
    """A problem the user can fix, reported as one line without a traceback."""


@dataclass(frozen=True)
class Airtable:
    api_url: str
    api_key: str
    sandbox: bool  # the key of a sandbox is no secret; a real one is never printed


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class Lifeline:
    """The process that stops every child's group when this one ends, however it ends (``cli.lifeline``)."""

    def __init__(self, grace: float = STOP_TIMEOUT_SECONDS) -> None:
        argv = [sys.executable, "-m", "airtable_pg.cli.lifeline", str(grace)]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)

    def guard(self, child: Child) -> None:
        """From now on ``child``'s process group dies with us."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{child.process.pid}\n".encode())
        self.process.stdin.flush()

    def close(self) -> None:
        """Our own stop is done: the lifeline finds the groups gone and exits."""
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ---------------------------------------------------------------------------------------------
# Where things are.


CHECKOUT = Path(__file__).resolve().parents[2]  # airtable_pg/cli/dev.py → the checkout holding the package


def project_root() -> Path:
    """The folder holding ``workspace.yaml`` and ``dagster_home/``: the current one, else the checkout's."""
    for candidate in (Path.cwd(), CHECKOUT):
        if (candidate / "workspace.yaml").is_file() and (candidate / "dagster_home" / "dagster.yaml").is_file():
            return candidate
    raise DevError("run `airtable-pg dev` from the airtable_pg checkout (no workspace.yaml and dagster_home/ here)")


def prepare_dagster_home(root: Path, settings: Settings) -> Path:
    """``DAGSTER_HOME`` if the user set it (given our dagster.yaml if it has none), else ``dagster_home/``."""
    if settings.dagster_home is None:
        return root / "dagster_home"
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(root / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dagster_executable(name: str) -> str:
    """The console script installed beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise DevError(f"{name} is not installed (pip install -e '.[dev]')")
    return found


# ---------------------------------------------------------------------------------------------
# Child processes.


def start_child(
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    output: Path | None = None,
    lifeline: Lifeline | None = None,
) -> Child:
    """Start ``argv``; with ``output``, its stdout and stderr go to that file instead of ours; with ``lifeline``,
    it dies with this process whatever kills it."""
    # A session of its own: the terminal's Ctrl-C reaches only us, and we stop the children in order.
    with output.open("wb") if output else contextlib.nullcontext() as sink:  # the child keeps its own descriptor
        process = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=sink,
                                   stderr=subprocess.STDOUT if sink else None, start_new_session=True)  # fmt: skip
    child = Child(name=name, process=process)
    if lifeline is not None:
        lifeline.guard(child)
    return child


def stop_child(child: Child, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the child's process group, then SIGKILL what is still there after ``timeout``."""
    if child.process.poll() is None:
        _signal_group(child.process.pid, signal.SIGTERM)
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {child.name} did not stop in {timeout:.0f} s; killing it", file=sys.stderr)
            child.process.kill()
            child.process.wait()
    # Grandchildren (code servers, run workers) share the group; the leader exiting does not end them.
    _signal_group(child.process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # the whole group is gone already
        os.killpg(pgid, signum)


def stop_children(children: list[Child], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """``stop_child`` for all of them at once: SIGTERM every group, then wait for each within one deadline."""
    running_now = [c for c in children if c.process.poll() is None]
    started = time.monotonic()
    for child in running_now:
        _signal_group(child.process.pid, signal.SIGTERM)
    took = {}
    for child in running_now:
        try:
            child.process.wait(timeout=max(0.0, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {child.name} did not stop in {timeout:.0f} s; killing it", file=sys.stderr)
            child.process.kill()
            child.process.wait()
        took[child.name] = time.monotonic() - started  # in start order: a later one may have stopped earlier
    for child in children:
        _signal_group(child.process.pid, signal.SIGKILL)  # grandchildren outliving their leader
    if took:
        print("  stopped within " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in took.items()), flush=True)


@contextmanager
def running(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        stop_child(child)


@contextmanager
def running_together(children: list[Child]) -> Iterator[list[Child]]:
    """The children appended to ``children`` meanwhile, stopped together on exit."""
    try:
        yield children
    finally:
        stop_children(children)


def wait_for_http(url: str, children: list[Child], stop: threading.Event, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        exited = [c for c in children if c.process.poll() is not None]
        if exited:
            raise DevError(f"{exited[0].name} exited with code {exited[0].process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:  # any HTTP answer (401, 404…) means the server is serving
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    if not stop.is_set():
        raise DevError(f"{url} did not answer within {timeout:.0f} s")


def supervise(children: list[Child], stop: threading.Event) -> int:
    """Wait for a stop signal (exit 0) or for a child to die on its own (exit 1)."""
    while not stop.wait(0.5):
        for child in children:
            if child.process.poll() is not None:
                print(f"{child.name} exited with code {child.process.returncode}; stopping", file=sys.stderr)
                return 1
    return 0


def install_stop_handlers(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


# ---------------------------------------------------------------------------------------------
# Airtable: the user's, or the sandbox.


@contextmanager
def airtable_endpoint(
    args: argparse.Namespace, settings: Settings, root: Path, stop: threading.Event, lifeline: Lifeline | None = None
) -> Iterator[Airtable]:
    if settings.airtable_api_key is not None:
        key = settings.airtable_api_key.get_secret_value()
        yield Airtable(api_url=settings.airtable_api_url, api_key=key, sandbox=False)
        return
    from airtable_sandbox.main import DEV_TOKEN

    port = args.sandbox_port or free_port(args.host)
    api_url = f"http://{args.host}:{port}"
    argv = [
        sys.executable, "-m", "airtable_pg", "sandbox",
        "--host", args.host, "--port", str(port), "--records", str(args.records), "--token", DEV_TOKEN,
        "--latency-ms", str(args.sandbox_latency_ms), "--jitter-ms", str(DEV_SANDBOX_JITTER_MS),
    ]  # fmt: skip
    sandbox = start_child("sandbox", argv, env=os.environ, cwd=root, lifeline=lifeline)
    with running(sandbox):
        wait_for_http(f"{api_url}/v0/meta/whoami", [sandbox], stop, timeout=STARTUP_TIMEOUT_SECONDS)
        yield Airtable(api_url=api_url, api_key=DEV_TOKEN, sandbox=True)


# ---------------------------------------------------------------------------------------------
# The command.


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "airtable-pg dev", "Run Postgres, the Airtable sandbox, the migrations and Dagster (UI + daemon) together."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface of the UI and sandbox (default: %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port of the Dagster UI (default: %(default)s)")
    parser.add_argument(
        "--records", type=int, default=2000, help="records in the sandbox's demo base, across its tables"
    )
    parser.add_argument("--sandbox-port", type=int, default=0, help="port of the sandbox (default: a free one)")
    parser.add_argument("--receiver-port", type=int, default=0, help="port of the receiver (default: a free one)")
    parser.add_argument(
        "--sandbox-latency-ms",
        type=float,
        default=DEV_SANDBOX_LATENCY_MS,
        help="latency the sandbox adds to each request, plus up to 80 ms jitter (default: %(default)s, so "
        "clients meet Airtable's pace: it answers in 100-500 ms)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def dagster_storage_url(database: str, *, name: str | None = DAGSTER_DATABASE) -> str:
    """The database ``name`` on the same server (``None``: ``database`` itself), for dagster-postgres.

    The driver is named explicitly: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, whose
    server-side parameters break dagster-postgres's ``NOTIFY run_events, %(id)s``; it needs psycopg2.
    """
    target = database if name is None else with_database(database, name)
    return "postgresql+psycopg2://" + libpq_url(target)[len("postgresql://") :]


def child_environment(
    base_env: Mapping[str, str],
    *,
    dagster_home: Path,
    database: str,
    dagster_database: str,
    airtable: Airtable,
    receiver_url: str | None = None,
) -> dict[str, str]:
    env = {
        **base_env,
        "DAGSTER_HOME": str(dagster_home),
        "DATABASE_URL": database,
        "DAGSTER_PG_URL": dagster_database,
        "AIRTABLE_API_KEY": airtable.api_key,
        "AIRTABLE_API_URL": airtable.api_url,
    }
    if receiver_url:
        env["AIRTABLE_PG_RECEIVER_URL"] = receiver_url
    return env


def start_live_sync(
    args: argparse.Namespace,
    settings: Settings,
    *,
    airtable: Airtable,
    env: Mapping[str, str],
    root: Path,
    stop: threading.Event,
    lifeline: Lifeline | None = None,
) -> tuple[list[Child], str, str | None]:
    """The receiver, the applier and the outbound pusher as children; returns them, the receiver's address and
    the URL to ping.

    Only the sandbox can reach a receiver on this machine; with a real Airtable the hook pings
    ``AIRTABLE_PG_RECEIVER_URL`` if you set one (a public HTTPS address of this receiver), else payloads are polled.
    """
    port = args.receiver_port or free_port(args.host)
    receiver_address = f"http://{args.host}:{port}"
    receiver = start_child(
        "receiver",
        [sys.executable, "-m", "airtable_pg", "receiver", "--host", args.host, "--port", str(port)],
        env=env,
        cwd=root,
        lifeline=lifeline,
    )
    applier = start_child(
        "webhook applier",
        [sys.executable, "-m", "airtable_pg", "webhooks", "apply", "--follow", "--interval", str(APPLY_INTERVAL)],
        env=env,
        cwd=root,
        lifeline=lifeline,
    )
    # The outbound pusher: woken by the outbox triggers, it pushes Postgres-authoritative tables to Airtable.
    pusher = start_child("outbound pusher", [sys.executable, "-m", "airtable_pg", "outbound", "run", "--follow"],
                         env=env, cwd=root, lifeline=lifeline)  # fmt: skip
    wait_for_http(f"{receiver_address}/healthz", [receiver, applier, pusher], stop, STARTUP_TIMEOUT_SECONDS)
    ping_url = f"{receiver_address}/airtable/webhook" if airtable.sandbox else settings.receiver_url
    return [receiver, applier, pusher], receiver_address, ping_url


def first_import_and_webhook(
    settings: Settings, *, database: str, airtable: Airtable, ping_url: str | None
) -> tuple[list[SyncResult], Runtime]:
    """The base's hook (pointing at the receiver), then each table polled from its watermark: on a fresh mirror
    that is the initial full sync, so a new user sees data and live changes without a click. Returns each
    table's sync (to record on the Dagster instance) and the runtime it ran on."""
    from pydantic import SecretStr

    from airtable_pg.runtime import Runtime

    # The settings with the Airtable this stack chose (its sandbox, or the user's token): nothing else differs.
    chosen = settings.model_copy(
        update={"airtable_api_key": SecretStr(airtable.api_key), "airtable_api_url": airtable.api_url}
    )
    runtime = Runtime.from_settings(chosen, database_url=database)
    print("syncing: webhook, then each table from its watermark (a full sync on a fresh mirror)…", flush=True)
    synced: list[SyncResult] = []
    for result in runtime.live().care(ping_url):
        rows = sum(r.rows_seen for r in result.gap_poll)
        print(f"  {result.base}: webhook {result.ensured.hook.webhook_id}; {rows} records synced", flush=True)
        synced += result.gap_poll
    return synced, runtime


def record_first_import(results: list[SyncResult], *, runtime: Runtime, recorder: DagsterRecorder) -> None:
    """The first import as the Dagster UI should show it: a materialization per table, every gate evaluated."""
    from airtable_pg.defs.instance_events import record_syncs

    checks = runtime.checks()
    print("recording the import in Dagster and evaluating its cutover gates…", flush=True)
    print(f"  {record_syncs(recorder, checks, results, source='airtable-pg dev').line()}", flush=True)


def printable_url(url: str) -> str:
    """The URL as a working psql argument when it holds no password (the embedded server's), else masked."""
    parsed = make_url(sqlalchemy_url(url))
    if parsed.password:
        return redact(url)
    without_password = parsed.set(password=None).render_as_string(hide_password=False)
    return libpq_url(without_password)


@contextmanager
def dev_stack_file(
    settings: Settings,
    args: argparse.Namespace,
    *,
    database: str,
    airtable: Airtable,
    receiver: str | None = None,
    dagster_home: Path | None = None,
) -> Iterator[Path]:
    """``$AIRTABLE_PG_HOME/dev.json`` while the stack runs: how commands in another terminal find it.

    It holds the sandbox's token (no secret) but never a real Airtable key: with your own Airtable, commands
    in other terminals use your environment, as this one does. Readable by this user only, removed on exit.
    """
    path = dev_stack_path(settings.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = {
        "pid": os.getpid(),
        "database_url": database,
        "airtable_api_url": airtable.api_url,
        "dagster_url": f"http://{args.host}:{args.port}",
    }
    if receiver:
        stack["receiver_url"] = receiver
    if dagster_home is not None:  # commands beside the stack record their syncs and checks on its instance
        stack |= {"dagster_home": str(dagster_home), "dagster_pg_url": dagster_storage_url(database)}
    if airtable.sandbox:
        from airtable_sandbox.demo import DEMO_BASE_ID

        stack |= {"airtable_api_key": airtable.api_key, "base_id": DEMO_BASE_ID}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(stack, file, indent=2)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def summary(
    args: argparse.Namespace,
    settings: Settings,
    *,
    database: str,
    dagster_home: Path,
    airtable: Airtable,
    receiver: str | None = None,
) -> str:
    embedded = "" if settings.selected_database_url is not None else "  (embedded)"
    if airtable.sandbox:
        airtable_line = f"sandbox at {airtable.api_url}  (demo base, {args.records} records)"
    else:
        airtable_line = f"{airtable.api_url}  (key from AIRTABLE_API_KEY)"
    return "\n".join(
        [
            "",
            "airtable_pg dev is running",
            f"  Dagster UI    http://{args.host}:{args.port}",
            f"  Postgres      psql '{printable_url(database)}'{embedded}",
            f"  Airtable      {airtable_line}",
            *(
                [f"  Receiver      {receiver}/airtable/webhook  (webhook pings; payloads applied as they come)"]
                if receiver
                else []
            ),
            f"  DAGSTER_HOME  {dagster_home}",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The dev stack is what this command starts: it never borrows another running stack's dev.json.
    settings = load_settings(use_dev_stack=False)
    stop = threading.Event()
    install_stop_handlers(stop)
    try:
        return _run(args, settings, stop)
    except (DevError, ConfigError) as exc:
        print(f"airtable-pg dev: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings, stop: threading.Event) -> int:
    from airtable_pg.postgres.migrate import config_for, upgrade

    root = project_root()
    database = libpq_url(database_url(settings))
    # AIRTABLE_PG_DAGSTER_DATABASE (default `dagster`): two stacks on one server keep their runs apart.
    ensure_database(database, settings.dagster_database)
    with ExitStack() as stack:
        lifeline = Lifeline()
        stack.callback(lifeline.close)  # closed last: after our own stop, it finds nothing left to stop
        airtable = stack.enter_context(airtable_endpoint(args, settings, root, stop, lifeline))
        if stop.is_set():
            return 0
        upgrade(config_for(settings, database))
        dagster_home = prepare_dagster_home(root, settings)
        # Dagster's storage is created here, once, before the processes that use it start: two creators on a
        # fresh database collide ("type asset_keys already exists") and one of them dies.
        from airtable_pg.defs.instance_events import recorder_at

        recorder = recorder_at(dagster_home, dagster_storage_url(database))
        env = child_environment(
            os.environ,
            dagster_home=dagster_home,
            database=database,
            dagster_database=dagster_storage_url(database, name=settings.dagster_database),
            airtable=airtable,
        )
        # Dagster and the live sync stop together (before the sandbox): a stop lasts as long as the slowest.
        together = stack.enter_context(running_together([]))
        live_children, receiver_address, ping_url = start_live_sync(
            args, settings, airtable=airtable, env=env, root=root, stop=stop, lifeline=lifeline
        )
        together.extend(live_children)
        if stop.is_set():
            return 0
        if ping_url:  # the code location's webhook care re-creates hooks pointing there too
            env = {**env, "AIRTABLE_PG_RECEIVER_URL": ping_url}
        workspace = str(root / "workspace.yaml")
        # `dagster dev` runs the webserver, the daemon and one code server they share, and restarts and stops
        # them itself; only what is ours (Postgres, the sandbox, and the long-lived processes to come) is
        # supervised here, one entry each in `children`.
        dagster_argv = [
            dagster_executable("dagster"), "dev",
            "-w", workspace, "-h", args.host, "-p", str(args.port),
        ]  # fmt: skip
        # `dagster dev` warns that `dg dev` supersedes it; dg is a scaffolding tool this project does not use.
        dagster_env = {**env, "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded"}
        dagster = start_child("dagster dev", dagster_argv, env=dagster_env, cwd=root, lifeline=lifeline)
        together.append(dagster)
        children = [dagster, *live_children]
        imported, runtime = first_import_and_webhook(settings, database=database, airtable=airtable, ping_url=ping_url)
        wait_for_http(f"http://{args.host}:{args.port}/server_info", children, stop, STARTUP_TIMEOUT_SECONDS)
        if stop.is_set():
            return 0
        if recorder is not None:
            record_first_import(imported, runtime=runtime, recorder=recorder)
        text = summary(
            args, settings, database=database, dagster_home=dagster_home, airtable=airtable, receiver=receiver_address
        )
        print(text, flush=True)
        stack.enter_context(
            dev_stack_file(
                settings, args, database=database, airtable=airtable, receiver=receiver_address,
                dagster_home=dagster_home,
            )
        )  # fmt: skip
        status = supervise(children, stop)
        print("stopping…", flush=True)
        return status


if __name__ == "__main__":
    sys.exit(main())
