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
