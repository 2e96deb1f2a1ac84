"""This process's resident memory (Linux /proc; elsewhere the peak from `resource` or 0), and giving freed memory
back to the system."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import resource


def resident_bytes() -> int:
    """Resident set size now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def reset_peak() -> None:
    """Restart the kernel's peak-RSS count here (Linux >= 4.0), so earlier work does not set the peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_resident_bytes() -> int:
    """VmHWM: this process's own peak. (ru_maxrss is not: Linux carries the parent's peak across exec.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None (another C library)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


def release() -> bool:
    """Collect Python garbage and return the allocator's free pages to the system.

    glibc keeps freed blocks of up to 32 MB in its heap for reuse (its mmap threshold rises to the largest block
    freed), so tensors freed at the end of a training stage stay resident until `malloc_trim` hands their pages back.
    Returns whether the allocator was asked (False where the C library is not glibc)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def _child(conn, fn, args) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        import traceback

        try:
            conn.send(("error", exc, traceback.format_exc()))
        except Exception:  # noqa: BLE001 - an exception that does not pickle comes back as its text
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), traceback.format_exc()))
    finally:
        conn.close()


def in_child(fn, *args):
    """`fn(*args)` in a fresh process (spawned, so nothing of this one is inherited but the arguments), its result
    or exception returned or raised here. Everything the work allocated goes back to the system when the child
    exits, whatever the allocator kept: the pipeline trains each model this way, so a stage starts where the one
    before it started. `fn`, its arguments and its result must pickle."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, fn, args))
    process.start()
    send.close()
    try:
        message = receive.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the child process running {getattr(fn, '__name__', fn)} died (exit code "
                           f"{process.exitcode}) without a result") from None
    finally:
        receive.close()
    process.join()
    if message[0] == "ok":
        return message[1]
    raise message[1]
