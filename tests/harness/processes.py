"""Recipes, nginx and other servers as real background processes, each with its log.

A test's recipe is forked from an interpreter that has already imported web.py and the drivers
(multiprocessing's forkserver), then runs its file as `python app.py` would: ready in a tenth of
the processor time, which hundreds of starts per run add up to. The suite turns it on (conftest.py,
`fork_recipes()`); transcripts, and the bench that imports this module, start `python app.py`
itself, as a reader does.
"""
import atexit
import contextlib
import glob
import io
import multiprocessing
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
import types
from importlib.machinery import SourceFileLoader
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


def listening_sockets(port):
    """The inodes of the TCP sockets listening on this port, IPv4 and IPv6, asked of Linux's sock_diag.

    /proc/net/tcp would list every connection, those a load test left in TIME_WAIT included: tens of
    thousands of lines, 60 ms of processor for each start of a recipe. Asked for listeners only, the
    kernel walks its few listening sockets.
    """
    found = set()
    for family in (socket.AF_INET, socket.AF_INET6):
        request = struct.pack("=BBBBI48x", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
        header = struct.pack("=IHHII", NLMSG_HEADER + len(request), SOCK_DIAG_BY_FAMILY,
                             NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as kernel:
            kernel.sendall(header + request)
            done = False
            while not done:
                data = kernel.recv(1 << 16)
                offset = 0
                while offset < len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind == NLMSG_ERROR:
                        raise OSError(-struct.unpack_from("=i", data, offset + NLMSG_HEADER)[0], "sock_diag refused")
                    done = kind == NLMSG_DONE
                    if kind == SOCK_DIAG_BY_FAMILY:  # inet_diag_msg: family, state, timer, retrans, id...
                        message = offset + NLMSG_HEADER
                        (sport,) = struct.unpack_from(">H", data, message + 4)
                        (inode,) = struct.unpack_from("=I", data, message + 68)
                        if sport == port:
                            found.add(str(inode))
                    offset += (length + 3) & ~3
    return found


# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_HEADER = 4, 20, 16
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 0x1, 0x300, 2, 3
TCP_LISTEN = 10


def sockets_of_group(group):
    """The inodes of the sockets that the processes of a process group hold open."""
    found = set()
    for process in Path("/proc").iterdir():
        try:
            if not process.name.isdigit() or os.getpgid(int(process.name)) != group:
                continue
            for descriptor in (process / "fd").iterdir():
                target = os.readlink(descriptor)
                if target.startswith("socket:["):
                    found.add(target[len("socket:["):-1])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def processes_in(directory):
    """The processes whose working directory is in `directory` (Linux's /proc)."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and Path(os.readlink(process / "cwd")).is_relative_to(directory):
                found.append(int(process.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command's name: state, parent, ... (proc(5), from the third)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def is_running(pid):
    """The process exists and is not a zombie (dead, waiting for a parent that may never reap it)."""
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def signal_if_there(pid, number):
    """Send the signal, unless the process has ended meanwhile."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def kill_processes_in(directory, timeout=5):
    """SIGKILL the processes working in `directory` (daemons a page started), and wait until they are dead."""
    killed = processes_in(directory)
    for pid in killed:
        signal_if_there(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(is_running(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.01)


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
        self._start()

    def _start(self):
        with open(self.log_path, "wb") as log:
            self.process = self._launch(log)
        self._wait_until_listening()

    def _launch(self, log):
        return subprocess.Popen(["bash", "-c", self.command], cwd=self.cwd, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_until_listening(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RecipeExited(self.process.returncode, self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)
                continue
            # Ours, not another program's that took the port first (ours then exits: address in use).
            if listening_sockets(self.port) & sockets_of_group(self.process.pid):
                return
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"the server did not answer on port {self.port}\n{self.log()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """SIGKILL, as a crash would: no clean-up runs. A server already dead (its forkserver reaps it at
        once) is left as it is: the test then reads its exit status and log."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restarted(self):
        """The same command again, on the same port, directory and environment."""
        self.stop()
        self._start()
        return self

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


PRELOADED = ["web", "redis", "psycopg", "psycopg_pool"]  # what recipes import, at about 0.13 s of processor
# The forked child applies these two from its environment (python_env sets them); a recipe whose other
# variables read at start (PYTHONPATH...) differ from this interpreter's gets an interpreter of its own.
APPLIED_IN_CHILD = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def startup_variables(environ):
    return {name: value for name, value in environ.items()
            if name.startswith(("PYTHON", "LD_")) and name not in APPLIED_IN_CHILD}


FORK_SERVER = multiprocessing.get_context("forkserver")
FORK_SERVER.set_forkserver_preload([*PRELOADED, __name__])
FORKED_BY_DEFAULT = False


def fork_recipes():
    """start_recipe forks recipes unless told `forked=False`."""
    global FORKED_BY_DEFAULT
    FORKED_BY_DEFAULT = True


class ForkedRecipe(BackgroundServer):
    """`python <app> 127.0.0.1:<port>`, forked from the interpreter that has PRELOADED imported."""

    def __init__(self, app, cwd, env, port):
        self.app = Path(cwd, app)  # a relative path from cwd, as python resolves it there
        super().__init__(f"python {app} 127.0.0.1:{port}", cwd, env, port)

    def _launch(self, log):
        child = FORK_SERVER.Process(target=run_as_main, daemon=True,
                                    args=(str(self.app), f"127.0.0.1:{self.port}", str(self.cwd), self.env,
                                          str(self.log_path)))
        child.start()
        return Child(child)


class Child:
    """The calls of subprocess.Popen that BackgroundServer makes, on a multiprocessing child."""

    def __init__(self, process):
        self._process, self.pid = process, process.pid

    @property
    def returncode(self):
        return self._process.exitcode

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"python {self._process.pid}", timeout)
        return self._process.exitcode


INTERPRETER_PATH = [entry for entry in sys.path if entry.startswith((sys.prefix, sys.base_prefix))]


def run_as_main(app, address, cwd, env, log_path):
    """In the forked child: what `python app address` does in cwd with env, its output in the log."""
    os.setsid()  # a process group of its own, as start_new_session gives
    os.chdir(cwd)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True,
                                  errors="backslashreplace")
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [app, address]
    python_path = [os.path.abspath(entry) for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = dict.fromkeys([os.path.dirname(app), *python_path, *INTERPRETER_PATH])  # as site.py, no repeats
    main = types.ModuleType("__main__")
    main.__file__, main.__builtins__ = app, __builtins__
    main.__loader__ = SourceFileLoader("__main__", app)
    sys.modules["__main__"] = main
    try:
        exec(compile(Path(app).read_bytes(), app, "exec"), vars(main))
        code = 0
    except SystemExit as exit:  # as the interpreter treats it: sys.exit("message") prints it, exits 1
        code = exit.code
        if not isinstance(code, int | None):
            print(code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    os._exit(code or 0)


def without_server_variables(environ):
    """The environment without any server variable (a reader's PGDATABASE, REDIS_URL...):
    a page or test gets back exactly those it states."""
    stated = {variable for service in SERVICE_VARIABLES.values() for variable in service["variables"]}
    return {name: value for name, value in environ.items()
            if name not in stated and not name.startswith("PG") and name != "DATABASE_URL"}


def python_env(extra=None):
    """The environment recipes and transcripts run in: this interpreter first on PATH."""
    env = dict(without_server_variables(os.environ), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    for name in ["MAKELEVEL", "MAKEFLAGS", "MFLAGS", "PYTEST_ARGS", "SINCE", "ALL"]:  # a reader's terminal is not inside `make test`
        env.pop(name, None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "80"  # what a transcript shows fits an 80-column terminal, whatever runs the suite
    env.update(extra or {})
    return env


def start_recipe(app, cwd, extra_env=None, port=None, tries=3, forked=None):
    """Start ``python <app> 127.0.0.1:<port>`` in cwd (a free port unless given): a BackgroundServer,
    forked (a ForkedRecipe) once fork_recipes() was called, unless `forked=False` or the environment
    sets how Python starts.
    On a free port, again on another if a program took it between the choice and the recipe's bind."""
    chosen, env = port or free_port(), python_env(extra_env)
    forked = FORKED_BY_DEFAULT if forked is None else forked
    try:
        if forked and startup_variables(env) == startup_variables(os.environ):
            return ForkedRecipe(app, cwd, env, chosen)
        return BackgroundServer(f"python {app} 127.0.0.1:{chosen}", cwd, env, chosen)
    except RecipeExited as exited:
        if port or tries <= 1 or "Address already in use" not in exited.output:
            raise
    return start_recipe(app, cwd, extra_env, tries=tries - 1, forked=forked)


def nginx_binary():
    return shutil.which("nginx") or next(iter(glob.glob("/usr/sbin/nginx")), None)


def processor_seconds(server):
    """The processor time (user and system) a BackgroundServer's process has used so far: what its
    work costs, whatever else the machine runs (compare two costs as a ratio, never with a clock)."""
    fields = stat_fields(server.process.pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
