"""One rule for choosing the torch device, shared by every model and method."""

from __future__ import annotations

__all__ = ["describe_device", "resolve_device"]


def resolve_device(device: str = "auto") -> str:
    """Map ``"auto"`` to ``"cuda"`` when a GPU is usable, else ``"cpu"``; check the rest.

    Raises
    ------
    ValueError
        For an unknown name, or ``cuda`` on a machine where torch sees no GPU.
    """
    if device != "auto" and device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA GPU; use cpu")
    return device


def describe_device(device: str) -> str:
    """Name the hardware behind a resolved device, for benchmarks and model cards."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    name = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            name = next(
                (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), name
            )
    except OSError:
        import platform

        name = platform.processor() or name
    return f"cpu ({name}, {torch.get_num_threads()} threads)"
