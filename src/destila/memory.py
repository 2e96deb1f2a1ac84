"""This process's resident memory (Linux /proc; elsewhere the peak from `resource` or 0)."""

from __future__ import annotations

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
