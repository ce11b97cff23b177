"""Throw-away PostgreSQL and Redis servers from local binaries (and a Redis primary with a replica
watched by three Sentinels), and what a missing tool does."""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import redis.sentinel

from harness.processes import free_port, nginx_binary, python_env, signal_if_there, stat_fields
from harness.site import SERVICE_VARIABLES


def children(pid):
    """The ids of a process's children, from /proc (Linux)."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and int(stat_fields(process.name)[1]) == pid:
                found.append(int(process.name))
        except OSError:  # the process ended meanwhile
            continue
    return found


def missing(what, install):
    """A tool or server this test needs is not here: skipped on a reader's machine, a failure in CI."""
    message = f"{what} is not installed: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class Services:
    """Throw-away PostgreSQL and Redis servers, each started on first use by this process
    (under pytest-xdist, by each worker that needs it)."""

    def __init__(self):
        self.started = {}
        self.stoppers = []

    def environment(self, names):
        """The stated variables of the named servers, started if need be and emptied for the caller.

        PostgreSQL is emptied of the `cookbook` database that pages create; Redis of every key.
        """
        env = {}
        for name in names:
            if name not in SERVICE_VARIABLES:
                raise ValueError(f"unknown service {name!r}: mkdocs.yml's extra.services has {sorted(SERVICE_VARIABLES)}")
            if name not in self.started:
                self.started[name] = getattr(self, "_start_" + name)()
            assert sorted(self.started[name]) == sorted(SERVICE_VARIABLES[name]["variables"]), name
            env.update(self.started[name])
        if "postgres" in names:
            self.database.drop()
        if "redis" in names:
            redis.Redis.from_url(env["REDIS_URL"]).flushall()
        return env

    def cookbook_database(self):
        """An empty `cookbook` database, as a page makes it, and a DATABASE_URL naming it."""
        env = self.environment(["postgres"])
        subprocess.run(["createdb", "cookbook"], env=python_env(env), check=True)
        return dict(env, DATABASE_URL="postgres:///cookbook")

    def redis(self):
        """An empty Redis and the REDIS_URL naming it."""
        return self.environment(["redis"])

    @contextmanager
    def postgres_stopped(self):
        """PostgreSQL stopped for the block, then started again on the same port and data directory."""
        self.postgres_server.stop()
        try:
            yield
        finally:
            self.postgres_server.start()

    @contextmanager
    def postgres_frozen(self):
        """PostgreSQL's processes stopped (SIGSTOP) for the block, then resumed: the machine still
        accepts and acknowledges every packet, but no statement is answered, as on a frozen server."""
        pid = int((Path(self.postgres_server.datadir) / "postmaster.pid").read_text().split()[0])
        processes = [pid, *children(pid)]
        try:
            for process in processes:
                signal_if_there(process, signal.SIGSTOP)
            yield
        finally:
            # Every one resumed, whatever ended meanwhile: a backend that was exiting as the postmaster
            # stopped can be gone by now (a fresh-clone run lost the others, then the cookbook database).
            for process in processes:
                signal_if_there(process, signal.SIGCONT)

    @contextmanager
    def redis_stopped(self):
        """Redis stopped for the block, then started again on the same port: every connection a client
        held is closed."""
        self.redis_server.stop()
        try:
            yield
        finally:
            self.redis_server.start()

    def restart_redis(self):
        """Redis stopped and started again on the same port: every connection a client held is closed."""
        with self.redis_stopped():
            pass

    def _start_postgres(self):
        from pytest_postgresql.executors.proc import PostgreSQLExecutor
        from pytest_postgresql.janitor import DatabaseJanitor

        pg_ctl = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), default=None)
        if not pg_ctl:
            missing("PostgreSQL", "apt-get install postgresql (macOS: brew install postgresql)")
        base = Path(tempfile.mkdtemp(prefix="cookbook-pg-"))
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run the cluster as `postgres`.
            shutil.chown(base, "postgres")
            wrapper = base / "pg_ctl"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
            wrapper.chmod(0o755)
            pg_ctl = str(wrapper)
        port = free_port()
        server = PostgreSQLExecutor(
            executable=pg_ctl, host="127.0.0.1", port=port, datadir=str(base / "data"),
            unixsocketdir=str(base), logfile=str(base / "postgres.log"), startparams="-w",
            dbname="cookbook")
        server.start()
        self.postgres_server = server
        self.stoppers.append(lambda: (server.stop(), shutil.rmtree(base, ignore_errors=True)))
        self.database = DatabaseJanitor(user="postgres", host="127.0.0.1", port=port, dbname="cookbook")
        return {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "postgres"}

    def _start_nginx(self):
        """nginx has no variables: a page starts it on the recipe's config. Here it is only looked for."""
        if not nginx_binary():
            missing("nginx", "apt-get install nginx (macOS: brew install nginx)")
        return {}

    def _start_redis(self):
        from pytest_redis.executor import RedisExecutor

        redis_server = shutil.which("redis-server")
        if not redis_server:
            missing("Redis", "apt-get install redis-server (macOS: brew install redis)")
        base = Path(tempfile.mkdtemp(prefix="cookbook-redis-"))
        port = free_port()
        server = RedisExecutor(redis_server, databases=16, redis_timeout=30, loglevel="notice",
                               host="127.0.0.1", port=port, datadir=base)
        server.start()
        self.redis_server = server
        self.stoppers.append(lambda: (server.stop(), shutil.rmtree(base, ignore_errors=True)))
        return {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}

    def stop(self):
        while self.stoppers:
            self.stoppers.pop()()


class SentinelGroup:
    """A Redis primary, one replica and three Sentinels (`redis-server --sentinel`, quorum 2) on free
    loopback ports, each with its config and log in `directory`; started by `sentinel_group`.

    The Sentinels call the primary `mymaster`, think it down after a second without an answer, and
    fail over to the replica; `url` names them all to the redis recipe's store."""

    NAME = "mymaster"

    def __init__(self, directory):
        self.directory, self.processes = Path(directory), {}
        self.redis_server = shutil.which("redis-server") or missing(
            "Redis", "apt-get install redis-server (macOS: brew install redis)")
        self.primary, self.replica = free_port(), free_port()
        self.sentinels = [free_port() for _ in range(3)]
        self.url = "redis+sentinel://" + ",".join(f"127.0.0.1:{port}" for port in self.sentinels) + "/" + self.NAME

    def client(self, port):
        return redis.Redis("127.0.0.1", port, socket_timeout=5)

    def start_server(self, port, *lines, sentinel=False):
        config = self.directory / f"{port}.conf"  # a Sentinel rewrites its own: one file each
        config.write_text("\n".join([f"port {port}", "bind 127.0.0.1", f"dir {self.directory}",
                                      'save ""', "appendonly no", *lines]) + "\n")
        with open(self.directory / f"{port}.log", "wb") as log:
            self.processes[port] = subprocess.Popen(
                [self.redis_server, str(config), *(["--sentinel"] if sentinel else [])],
                stdout=log, stderr=subprocess.STDOUT)
        self.wait_until(lambda: self._answers(port), f"redis-server on port {port} answers")

    def _answers(self, port):
        if self.processes[port].poll() is not None:  # the port was taken meanwhile, say
            log = (self.directory / f"{port}.log").read_text()
            raise AssertionError(f"redis-server on port {port} exited:\n{log}")
        return self.client(port).ping()

    def start(self):
        self.start_server(self.primary)
        self.start_server(self.replica, f"replicaof 127.0.0.1 {self.primary}")
        self.wait_until(lambda: self.client(self.replica).info("replication")["master_link_status"] == "up",
                        "the replica is in sync")
        for port in self.sentinels:
            self.start_server(port, f"sentinel monitor {self.NAME} 127.0.0.1 {self.primary} 2",
                        f"sentinel down-after-milliseconds {self.NAME} 1000",
                        f"sentinel failover-timeout {self.NAME} 5000", sentinel=True)
        self.wait_until(self._agreed, "the three Sentinels know the primary, its replica and each other")

    def _agreed(self):
        for port in self.sentinels:
            state = self.client(port).sentinel_master(self.NAME)
            if (state["port"], state["num-slaves"], state["num-other-sentinels"]) != (self.primary, 1, 2):
                return False
        return True

    def named_primaries(self):
        """The port of the primary each Sentinel names now, as redis-py's Sentinel reads it (SENTINEL
        MASTERS, a primary not thought down): during a failover, get-master-addr-by-name names the
        replica sooner."""
        states = [self.client(port).sentinel_master(self.NAME) for port in self.sentinels]
        return [state["port"] if redis.sentinel.Sentinel([]).check_master_state(state, self.NAME) else None
                for state in states]

    def wait_for_failover(self, each_time=lambda: None):
        """Until every Sentinel names the replica as the primary, and it is one; `each_time` is called
        before each look (a request sent during the failover)."""
        def failed_over():
            each_time()
            return (self.named_primaries() == [self.replica] * 3
                    and self.client(self.replica).info("replication")["role"] == "master")

        self.wait_until(failed_over, "the Sentinels fail over to the replica", seconds=60)

    def signal(self, port, number):
        os.kill(self.processes[port].pid, number)

    @staticmethod
    def wait_until(ready, what, seconds=30):
        """Polls `ready` until it is true, or fails naming `what` after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                if ready():
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {seconds} s in vain: {what}")
            time.sleep(0.05)

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)  # a paused server must see its SIGTERM
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def sentinel_group(directory):
    """A started SentinelGroup in `directory`, stopped after the block."""
    group = SentinelGroup(directory)
    try:
        group.start()
        yield group
    finally:
        group.stop()
