"""A moto_server factory for the test suite: one Python that has paid for moto once, forking a
fresh server for each test file that asks.

A plain `moto_server` start costs ~2.6 CPU-s here: the interpreter, `import moto.server`, then
the backends the tests use (ec2 alone is over a second: its instance types and AMIs). This
process pays that once, then forks. A forked child shares nothing with its siblings after the
fork (its own memory, its own port), so each test file still gets a server of its own, in the
state a fresh moto_server is in before its first request.

usage: python moto-zygote.py SOCKET_PATH

It prints "ready" on stdout once it accepts requests, and exits when its stdin reaches EOF (the
test command holds the other end of that pipe, so the zygote cannot outlive it). Each
connection to SOCKET_PATH carries one request, a JSON line {"env": {NAME: VALUE}}, and is
answered by one JSON line: {"pid": N, "port": N} once the child listens on 127.0.0.1:port, or
{"error": TEXT} when it could not. From then on the connection is the server's lifetime, both
ways: the child exits when the client's end closes (the test file ended or died), and the
client sees the connection close when the child has gone. A child also dies with the zygote, so
none outlives the test command.
"""

import ctypes
import gc
import importlib
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import traceback

import moto.server  # noqa: F401  (what moto_server imports before serving)
import moto.settings
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# The services nommer's tests call (moto_api serves /moto-api/reset). A fresh moto_server makes
# each backend, its default account's region backend and its Flask app on the first request
# that needs it; here they are made once, before any fork.
SERVICES = ("s3", "sqs", "ec2", "iam", "sts")
REGION = "us-east-1"

# How long a client may take to send its request line: a stuck client must not stop the others.
REQUEST_TIMEOUT_S = 30

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def preload() -> DomainDispatcherApplication:
    app = DomainDispatcherApplication(create_backend_app)
    # moto_server's main() sets this too (Flask-style debug: errors answered, not raised).
    app.debug = True  # type: ignore[attr-defined]
    for name in SERVICES:
        backends = get_backend(name)
        regions = backends[DEFAULT_ACCOUNT_ID]
        # Regional services have us-east-1; global ones (iam) keep one backend per partition.
        _ = regions[REGION] if REGION in regions else regions["aws"]
        app.app_instances[name] = create_backend_app(name)
    app.app_instances["moto_api"] = create_backend_app("moto_api")
    return app


def read_request(conn: socket.socket) -> dict:
    conn.settimeout(REQUEST_TIMEOUT_S)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the client closed before sending its request")
        data += chunk
    conn.settimeout(None)
    return json.loads(data)


def apply_env(env: dict) -> None:
    """The request's environment, as moto_server would have started with it: into os.environ,
    and moto.settings re-read from it (its module attributes are read at request time, e.g.
    settings.INITIAL_NO_AUTH_ACTION_COUNT). Settings that shape a backend when it is made
    (MOTO_EC2_LOAD_DEFAULT_AMIS...) come too late for the preloaded backends: the client sends
    only names that are read at request time."""
    os.environ.update({str(k): str(v) for k, v in env.items()})
    if env:
        importlib.reload(moto.settings)


def exit_at_eof(conn: socket.socket) -> None:
    # The client sends nothing after its request: EOF (or a reset) means it has gone.
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def die_with(zygote_pid: int) -> None:
    """SIGKILL this process when the zygote exits (Linux), so that once the test command has
    stopped the zygote no server is left, even one whose client has not closed yet."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The zygote may have exited before the prctl: then nobody would send the signal.
    if os.getppid() != zygote_pid:
        os._exit(0)


def child(listener: socket.socket, conn: socket.socket, app: DomainDispatcherApplication, zygote_pid: int) -> None:
    """In the forked child: become one moto_server. Never returns."""
    try:
        die_with(zygote_pid)
        listener.close()
        # The zygote ignores SIGCHLD to reap its children; a server must not (anything it
        # waits for would vanish), and it dies of SIGTERM/SIGINT as moto_server does.
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)  # let go of the zygote's lifeline pipe
        # Every child would otherwise draw the same "random" ids from the zygote's generators.
        random.seed()
        mock_random.seed()
        request = read_request(conn)
        apply_env(request.get("env", {}))
        srv = make_server("127.0.0.1", 0, app, threaded=True)
        os.environ["MOTO_PORT"] = str(srv.server_port)  # as moto_server sets it (moto's self-calls)
        threading.Thread(target=exit_at_eof, args=(conn,), daemon=True).start()
        conn.sendall(json.dumps({"pid": os.getpid(), "port": srv.server_port}).encode() + b"\n")
    except BaseException:
        try:
            conn.sendall(json.dumps({"error": traceback.format_exc()}).encode() + b"\n")
        finally:
            os._exit(1)
    # Until here errors went to the zygote's stderr (the test run's); a running server's request
    # log went nowhere before either (its stderr was read only until it answered).
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        srv.serve_forever()
    finally:
        os._exit(0)


def main() -> None:
    socket_path = sys.argv[1]
    app = preload()
    # Fork only while single-threaded: a thread's lock held at fork time stays held in the child.
    if threading.active_count() != 1:
        raise RuntimeError(f"moto started threads while loading: {threading.enumerate()}")
    # Everything loaded so far lives as long as the process: keep the collector from touching
    # (and so copying into every child) those objects' pages.
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    # Ctrl-C on the test run: end quietly (no KeyboardInterrupt traceback), as SIGTERM does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    zygote_pid = os.getpid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
            return  # the test command has ended
        if listener in readable:
            conn, _ = listener.accept()
            # The child reads the request itself: the zygote never waits on a client.
            if os.fork() == 0:
                child(listener, conn, app, zygote_pid)
            conn.close()


if __name__ == "__main__":
    main()
