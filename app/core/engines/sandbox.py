"""Containment for the engine process: no new sockets, a capped address space.

The engine child (llama.cpp) needs no network and no local service: it talks to its parent over a
socketpair it inherited, already connected. So it should never make a socket, neither a TCP one
nor the AF_UNIX one the OS keyring (Secret Service over D-Bus) listens on. On Linux a seccomp-BPF
filter refuses the syscalls that create sockets; where the kernel will not install one, an
unprivileged network namespace at least takes the network interfaces away. RLIMIT_AS caps the
address space, so a hostile or oversized model cannot take the whole machine's memory.

Everything here acts on the CURRENT process and cannot be undone: call it in the engine child only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from dataclasses import dataclass

_GIB = 1024**3
# Measured VmPeak of an engine child (small model, 4k context, x86_64): 0.16 GiB after importing
# llama_cpp; after a load and an answer 0.6 GiB on 2 threads, 1.5 GiB on 16, 2.0 GiB on 64. Each
# thread reserves an 8 MiB stack and may get its own 64 MiB malloc arena (glibc reuses an arena
# when it cannot map a new one, so the cap slows many-core machines rather than breaking them).
BASE_ADDRESS_SPACE = 3 * _GIB

# Test-only: "1" skips the seccomp filter so tests can exercise the network-namespace fallback.
# Nothing in the app sets it.
_DISABLE_SECCOMP_ENV = "ENCLAVE_SANDBOX_DISABLE_SECCOMP"

_SECCOMP_WORDS = "seccomp filter: the engine process cannot open sockets"
_NETNS_WORDS = ("network namespace: the engine process has no network interfaces (sockets still "
                "open; Unix sockets on disk, the keyring's among them, stay reachable)")

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2  # prctl's name for it
_SECCOMP_SET_MODE_FILTER = 1  # seccomp(2)'s name for it
_SECCOMP_FILTER_FLAG_TSYNC = 1  # filter every thread of the process, not just the caller
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO: the call fails, the process lives
_X32_SYSCALL_BIT = 0x40000000
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: load 32 bits of struct seccomp_data
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Containment:
    """What the engine process is held by, in words for `enclave doctor`."""

    network: str
    network_method: str  # "seccomp" | "netns" | "none"
    memory_cap_bytes: int | None  # RLIMIT_AS applied, or None
    memory: str


@dataclass(frozen=True)
class _Abi:
    audit_arch: int  # what seccomp_data.arch holds for this ABI's syscalls
    seccomp_nr: int
    denied: tuple[int, ...]
    x32: bool  # x86_64 kernels also take x32 syscalls (nr | 0x40000000) under the same arch


# io_uring can create sockets (IORING_OP_SOCKET) without the socket syscall, so no rings at all;
# pidfd_getfd (438) could copy a socket out of another process of the same user (the parent's
# D-Bus connection, say). Both have the same numbers on x86_64 and aarch64.
# ptrace and process_vm_readv/writev would let a compromised engine read the parent's memory
# (where the history key lives) or write into it.
_IO_URING = (425, 426, 427)
_PIDFD_GETFD = 438
_ABIS = {
    "x86_64": _Abi(0xC000003E, 317, (41, 53, *_IO_URING, _PIDFD_GETFD, 101, 310, 311),
                   x32=True),
    "aarch64": _Abi(0xC00000B7, 277, (198, 199, *_IO_URING, _PIDFD_GETFD, 117, 270, 271),
                    x32=False),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _program(abi: _Abi) -> list[tuple[int, int, int, int]]:
    """The BPF program: deny abi.denied (and x32, foreign arches) with EPERM, allow the rest."""
    checks = [(_JGE_K, _X32_SYSCALL_BIT)] if abi.x32 else []
    checks += [(_JEQ_K, nr) for nr in abi.denied]
    deny = 4 + len(checks)  # index of the final "return EPERM"; a jump lands at pc + 1 + offset
    # A syscall of another ABI (int 0x80 on x86_64) has other numbers: refuse it whole.
    prog = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 0, deny - 2, abi.audit_arch), (_LD_W_ABS, 0, 0, 0)]
    prog += [(op, deny - (3 + i) - 1, 0, k) for i, (op, k) in enumerate(checks)]
    return [*prog, (_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]


def _failure(call: str) -> str:
    err = ctypes.get_errno()
    return f"{call} failed: {errno.errorcode.get(err, str(err))} ({os.strerror(err)})"


def _install_seccomp(abi: _Abi) -> str | None:
    """Install the filter; None when it holds, else why not."""
    libc = ctypes.CDLL(None, use_errno=True)
    prog = _program(abi)
    insns = (_SockFilter * len(prog))(*(_SockFilter(*insn) for insn in prog))
    fprog = _SockFprog(len(prog), ctypes.cast(insns, ctypes.POINTER(_SockFilter)))
    ul = ctypes.c_ulong
    # Without no_new_privs an unprivileged process may not install a filter, and a setuid binary
    # it ran would shed it anyway.
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0:
        return _failure("prctl(PR_SET_NO_NEW_PRIVS)")
    # seccomp(2) with TSYNC also filters threads started before us (OpenMP, a loaded library's).
    libc.syscall.restype = ctypes.c_long
    rc = int(libc.syscall(ctypes.c_long(abi.seccomp_nr), ul(_SECCOMP_SET_MODE_FILTER),
                          ul(_SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog)))
    if rc == 0:
        return None
    if rc > 0:  # TSYNC names the thread it could not synchronise; nothing was installed
        return f"seccomp(2) could not filter thread {rc}"
    if ctypes.get_errno() != errno.ENOSYS:
        return _failure("seccomp(SECCOMP_SET_MODE_FILTER)")
    # A kernel older than seccomp(2) (3.17): prctl filters this thread and its future children
    # only, so it is enough just while this is the only thread.
    if len(os.listdir("/proc/self/task")) > 1:
        return "seccomp(2) is missing and prctl would leave other threads unfiltered"
    if libc.prctl(_PR_SET_SECCOMP, ul(_SECCOMP_MODE_FILTER), ctypes.byref(fprog), ul(0), ul(0)):
        return _failure("prctl(PR_SET_SECCOMP)")
    return None


def _unshare_network() -> str | None:
    """Move into a new user + network namespace; None when done, else why not."""
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:  # the kernel moves a lone thread only (or refuses: EINVAL for a user ns)
        return f"a network namespace needs a single-threaded process, this one runs {threads}"
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)  # os.unshare only exists from Python 3.12
    if libc.unshare(ctypes.c_int(_CLONE_NEWUSER | _CLONE_NEWNET)) != 0:
        return _failure("unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    # Map our own ids so getuid() still answers our uid rather than 65534 (best effort: file
    # access checks use the real ids either way).
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            break
    return None


def _none(why: str) -> str:
    return f"none: {why} — the engine process could open network connections"


def deny_sockets() -> tuple[str, str]:
    """Stop the CURRENT process (the engine child only!) from opening sockets.

    Sockets open before the call (the inherited socketpair) keep working.

    Returns:
        The method ("seccomp", "netns" or "none") and words saying what holds the process.
    """
    try:
        if sys.platform != "linux":
            return "none", _none(f"{sys.platform} offers nothing Enclave uses to contain it")
        reasons: list[str] = []
        machine = platform.machine()
        abi = _ABIS.get(machine)
        if os.environ.get(_DISABLE_SECCOMP_ENV) == "1":
            reasons.append(f"seccomp skipped ({_DISABLE_SECCOMP_ENV}=1)")
        elif abi is None:
            reasons.append(f"no seccomp filter for {machine}")
        else:
            why = _install_seccomp(abi)
            if why is None:
                return "seccomp", _SECCOMP_WORDS
            reasons.append(why)
        why = _unshare_network()
        if why is None:
            return "netns", _NETNS_WORDS
        return "none", _none("; ".join([*reasons, why]))
    except Exception as exc:  # never raises: the engine still runs, and doctor tells why
        return "none", _none(f"unexpected error: {exc!r}")


def _gib(n: int) -> str:
    return f"{n / _GIB:.1f} GiB"


def cap_address_space(limit_bytes: int | None) -> tuple[int | None, str]:
    """Cap the CURRENT process's address space (RLIMIT_AS, soft and hard) at limit_bytes.

    An existing lower limit is kept, never raised (root could raise a hard limit).

    Args:
        limit_bytes: The cap, or None for no cap.

    Returns:
        The cap now in force (None when none was applied) and words for doctor.
    """
    if limit_bytes is None:
        return None, "no cap: none requested (GPU drivers reserve address space a cap would break)"
    if limit_bytes <= 0:
        return None, f"no cap: {limit_bytes} bytes is no limit"
    try:
        import resource
    except ImportError:
        return None, "no cap: this OS offers no address-space limit"
    try:
        current = resource.getrlimit(resource.RLIMIT_AS)
        # RLIM_INFINITY reads as -1 on Linux: only real limits count.
        applied = min([limit_bytes, *(v for v in current if v != resource.RLIM_INFINITY and v > 0)])
        resource.setrlimit(resource.RLIMIT_AS, (applied, applied))
    except Exception as exc:  # never raises: an uncapped engine beats no engine, doctor says so
        return None, f"no cap: setrlimit(RLIMIT_AS) failed: {exc}"
    words = f"address space capped at {_gib(applied)}"
    if applied < limit_bytes:
        words += f" (an existing lower limit kept; {_gib(limit_bytes)} asked)"
    return applied, words


def address_space_budget(model_bytes: int, context_bytes: int, *, gpu_offload: bool) -> int | None:
    """The address-space cap for an engine that loads a model with a KV cache.

    Args:
        model_bytes: Size of the model file (mapped, and partly copied while loading).
        context_bytes: Size of the KV cache.
        gpu_offload: Whether layers go to a GPU, whose drivers reserve huge virtual ranges.

    Returns:
        BASE_ADDRESS_SPACE + 1.5 * model_bytes + 2 * context_bytes, or None with GPU offload.
    """
    if gpu_offload:
        return None
    return BASE_ADDRESS_SPACE + max(0, model_bytes) * 3 // 2 + 2 * max(0, context_bytes)


def apply(limit_bytes: int | None) -> Containment:
    """Contain the CURRENT process (the engine child only!): deny sockets, then cap memory.

    Args:
        limit_bytes: The address-space cap (see address_space_budget), or None.

    Returns:
        What was applied, in words for doctor. Never raises.
    """
    method, network = deny_sockets()
    cap, memory = cap_address_space(limit_bytes)
    return Containment(network=network, network_method=method, memory_cap_bytes=cap,
                       memory=memory)
