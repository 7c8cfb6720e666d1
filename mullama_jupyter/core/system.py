"""What the machine offers: physical cores and available memory (Linux first, portable fallbacks)."""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may use.

    llama.cpp runs best with one thread per physical core; hyper-threads only add contention, and
    llama-cpp-python's own default (half the logical CPUs) halves speed on a 2-vCPU machine.
    """
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            phys = core = None
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys or "0", core))
                    phys = core = None
            if core is not None:
                cores.add((phys or "0", core))
    except OSError:
        pass
    n = len(cores) or allowed
    return max(1, min(n, allowed))


def available_memory() -> int | None:
    """Bytes of memory available for new work, or None when the platform does not say."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    """Ollama's style: 98 MB, 1.9 GB (decimal units)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB", "MB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
