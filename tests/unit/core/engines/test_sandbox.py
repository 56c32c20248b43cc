"""The engine process's containment, checked against the real kernel.

Every sandboxed action happens in a child Python process: a seccomp filter or a namespace cannot
be undone, and the pytest process must keep its sockets.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.engines.sandbox import address_space_budget, cap_address_space

ROOT = Path(__file__).resolve().parents[4]
GIB = 1024**3
SECCOMP_HERE = sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64")
needs_seccomp = pytest.mark.skipif(not SECCOMP_HERE, reason="seccomp filter: Linux x86_64/aarch64")
needs_rlimit = pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_AS on Windows")

PRELUDE = """\
import json, os, socket, sys, threading
from app.core.engines import sandbox

def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
"""


def run_child(body: str, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run PRELUDE + body in a fresh interpreter; it prints one JSON object last."""
    code = PRELUDE + textwrap.dedent(body)
    inherited = {k: v for k, v in os.environ.items() if k != "ENCLAVE_SANDBOX_DISABLE_SECCOMP"}
    full_env = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 in the pytest process; yields its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


CONNECT = """
def connect():
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
"""


@needs_seccomp
def test_seccomp_refuses_new_sockets_and_leaves_the_rest_working(tmp_path: Path) -> None:
    result = run_child(f"""
        before, theirs = socket.socketpair()  # the engine's line to its parent, made first
        go, asked = threading.Event(), []
        def early():  # a thread already running when the filter goes in (OpenMP, say)
            go.wait()
            asked.append(attempt(lambda: socket.socket(socket.AF_INET)))
        thread = threading.Thread(target=early)
        thread.start()
        method, words = sandbox.deny_sockets()
        go.set()
        thread.join()
        out = {{"method": method, "words": words, "early_thread": asked[0]}}
        out["inet"] = attempt(lambda: socket.socket(socket.AF_INET))
        out["inet6"] = attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        out["unix"] = attempt(lambda: socket.socket(socket.AF_UNIX))
        out["pair"] = attempt(socket.socketpair)
        before.sendall(b"ping")
        theirs.sendall(theirs.recv(4)[::-1])
        out["pair_before"] = before.recv(4).decode()
        path = {str(tmp_path / "f")!r}
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        os.write(fd, b"data")
        os.lseek(fd, 0, 0)
        out["file"] = os.read(fd, 4).decode()
        os.close(fd)
        later = []
        worker = threading.Thread(target=lambda: later.append("ran"))
        worker.start()
        worker.join()
        out["thread"] = later
        out["status"] = [line.split()[1] for line in open("/proc/self/status")
                         if line.startswith(("Seccomp:", "NoNewPrivs:"))]
        print(json.dumps(out))
    """)
    assert result["method"] == "seccomp", result
    assert result["words"] == "seccomp filter: the engine process cannot open sockets"
    for attempt in ("inet", "inet6", "unix", "pair", "early_thread"):
        assert result[attempt] == "PermissionError", (attempt, result)
    assert result["pair_before"] == "gnip"
    assert result["file"] == "data"
    assert result["thread"] == ["ran"]
    assert result["status"] == ["1", "2"]  # NoNewPrivs: 1, Seccomp: 2 (filter mode)


@needs_seccomp
@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 and these numbers: x86_64")
def test_seccomp_closes_the_side_doors_to_a_socket() -> None:
    body = """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def errno_of(nr, *args):
            ctypes.set_errno(0)
            rc = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
            return ctypes.get_errno() if rc < 0 else 0
        if SANDBOX:
            sandbox.deny_sockets()
        print(json.dumps({
            "x32_socket": errno_of(0x40000000 | 41, socket.AF_INET, socket.SOCK_STREAM, 0),
            "io_uring_setup": errno_of(425, 1, 0),
            "pidfd_getfd": errno_of(438, -1, 0, 0),
        }))
    """
    sandboxed = run_child("SANDBOX = True\n" + textwrap.dedent(body))
    assert sandboxed == {"x32_socket": 1, "io_uring_setup": 1, "pidfd_getfd": 1}  # EPERM
    plain = run_child("SANDBOX = False\n" + textwrap.dedent(body))
    assert plain["x32_socket"] != 1 and plain["pidfd_getfd"] != 1, plain  # the filter did it


@needs_seccomp
@pytest.mark.parametrize("sandboxed", [False, True])
def test_a_local_listener_is_out_of_reach_only_when_sandboxed(listener: int,
                                                               sandboxed: bool) -> None:
    result = run_child(CONNECT + f"""
PORT = {listener}
method = sandbox.deny_sockets()[0] if {sandboxed} else "unsandboxed"
print(json.dumps({{"method": method, "connect": attempt(connect)}}))
""")
    if sandboxed:
        assert result == {"method": "seccomp", "connect": "PermissionError"}
    else:
        assert result == {"method": "unsandboxed", "connect": "ok"}


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces: Linux")
def test_network_namespace_fallback_takes_the_network_away(listener: int) -> None:
    result = run_child(CONNECT + f"""
PORT = {listener}
method, words = sandbox.deny_sockets()
print(json.dumps({{"method": method, "words": words, "connect": attempt(connect),
                  "uid": os.getuid()}}))
""", env={"ENCLAVE_SANDBOX_DISABLE_SECCOMP": "1"})
    if result["method"] == "none":
        assert result["words"].startswith("none: seccomp skipped"), result
        pytest.skip(f"this kernel allows no user namespace here: {result['words']}")
    assert result["method"] == "netns", result
    assert result["words"].startswith("network namespace: the engine process has no network")
    assert result["connect"] != "ok", result  # lo is down in the new namespace: unreachable
    assert result["uid"] == os.getuid()  # our ids mapped into the namespace


@needs_rlimit
def test_the_cap_stops_an_allocation_beyond_it() -> None:
    result = run_child(f"""
        import resource
        containment = sandbox.apply({int(1.5 * GIB)})
        try:
            bytearray({3 * GIB})
            grew = "ok"
        except MemoryError:
            grew = "MemoryError"
        small = len(bytearray(64 * 1024 * 1024))  # well under the cap: still fine
        print(json.dumps({{"cap": containment.memory_cap_bytes, "memory": containment.memory,
                          "method": containment.network_method, "grew": grew, "small": small,
                          "limit": resource.getrlimit(resource.RLIMIT_AS)}}))
    """)
    assert result["grew"] == "MemoryError"
    assert result["cap"] == int(1.5 * GIB)
    assert result["limit"] == [int(1.5 * GIB)] * 2  # soft and hard
    assert result["memory"] == "address space capped at 1.5 GiB"
    assert result["small"] == 64 * 1024 * 1024
    if SECCOMP_HERE:
        assert result["method"] == "seccomp"


@needs_rlimit
@pytest.mark.parametrize("existing", ["(GIB, GIB)", "(GIB, resource.RLIM_INFINITY)"])
def test_an_existing_lower_limit_is_never_raised(existing: str) -> None:
    result = run_child(f"""
        import resource
        GIB = {GIB}
        resource.setrlimit(resource.RLIMIT_AS, {existing})
        applied, words = sandbox.cap_address_space(2 * GIB)
        print(json.dumps({{"applied": applied, "words": words,
                          "limit": resource.getrlimit(resource.RLIMIT_AS)}}))
    """)
    assert result["applied"] == GIB
    assert result["limit"] == [GIB, GIB]
    assert "existing lower limit kept" in result["words"], result


@pytest.mark.parametrize("limit", [None, 0, -5])
def test_no_cap_is_said_in_words(limit: int | None) -> None:
    applied, words = cap_address_space(limit)  # sets nothing, so safe in the pytest process
    assert applied is None
    assert words.startswith("no cap: ")


def test_the_budget_grows_with_the_model_and_leaves_gpu_offload_uncapped() -> None:
    assert address_space_budget(4 * GIB, GIB, gpu_offload=True) is None
    sizes = [0, 100 * 1024**2, GIB, 4 * GIB, 40 * GIB]
    budgets = [address_space_budget(size, GIB // 2, gpu_offload=False) for size in sizes]
    assert all(b is not None and b >= size for b, size in zip(budgets, sizes, strict=True))
    assert budgets == sorted(budgets) and len(set(budgets)) == len(budgets)
    assert address_space_budget(GIB, 0, gpu_offload=False) == 3 * GIB + GIB * 3 // 2
    assert address_space_budget(GIB, GIB, gpu_offload=False) == 3 * GIB + GIB * 3 // 2 + 2 * GIB


@pytest.mark.skipif(sys.platform == "linux", reason="the words for an OS without seccomp")
def test_other_systems_say_nothing_holds_the_engine() -> None:
    result = run_child("""
        method, words = sandbox.deny_sockets()
        print(json.dumps({"method": method, "words": words}))
    """)
    assert result["method"] == "none"
    assert result["words"].endswith("the engine process could open network connections")
