"""Recipes, nginx and other servers as real background processes, each with its log."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.site import SERVICE_VARIABLES


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port):
    """Nothing listens on the port, on any address (a recipe listens on 0.0.0.0). Connections of a
    server just stopped may linger (TIME_WAIT): as the servers do, SO_REUSEADDR lets them be."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class RecipeExited(AssertionError):
    """The server stopped before it answered: its output says why."""

    def __init__(self, returncode, output):
        super().__init__(f"the server exited with {returncode}\n{output}")
        self.output = output


class BackgroundServer:
    """A command (a recipe, nginx...) running as a server in the background, its output kept in a log.

    Started by bash in a process group of its own; ready once its port accepts a connection.
    """

    def __init__(self, command, cwd, env, port):
        self.port = port
        self.command, self.cwd, self.env = command, cwd, env
        self.log_path = Path(cwd) / f"server-{port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", command], cwd=cwd, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until_listening()

    def _wait_until_listening(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RecipeExited(self.process.returncode, self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the server did not answer on port {self.port}\n{self.log()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """SIGKILL, as a crash would: no clean-up runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restarted(self):
        """The same command again, on the same port, directory and environment."""
        self.stop()
        return BackgroundServer(self.command, self.cwd, self.env, self.port)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def without_server_variables(environ):
    """The environment without any server variable (a reader's PGDATABASE, REDIS_URL...):
    a page or test gets back exactly those it states."""
    stated = {variable for service in SERVICE_VARIABLES.values() for variable in service["variables"]}
    return {name: value for name, value in environ.items()
            if name not in stated and not name.startswith("PG") and name != "DATABASE_URL"}


def python_env(extra=None):
    """The environment recipes and transcripts run in: this interpreter first on PATH."""
    env = dict(without_server_variables(os.environ), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    for name in ["MAKELEVEL", "MAKEFLAGS", "MFLAGS", "PYTEST_ARGS"]:  # a reader's terminal is not inside `make test`
        env.pop(name, None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "80"  # what a transcript shows fits an 80-column terminal, whatever runs the suite
    env.update(extra or {})
    return env


def start_recipe(app, cwd, extra_env=None, port=None):
    """Start ``python <app> 127.0.0.1:<port>`` in cwd (a free port unless given): a BackgroundServer."""
    port = port or free_port()
    return BackgroundServer(f"python {app} 127.0.0.1:{port}", cwd, python_env(extra_env), port)


def nginx_binary():
    return shutil.which("nginx") or next(iter(glob.glob("/usr/sbin/nginx")), None)


def processor_seconds(server):
    """The processor time (user and system) a BackgroundServer's process has used so far: what its
    work costs, whatever else the machine runs (compare two costs as a ratio, never with a clock)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
