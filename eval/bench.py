"""Model benchmarks: parameters, MACs, median latency, peak memory, the NTIRE efficiency score.

Each model is measured in a fresh process (CPU) so that its peak memory is its own; on CUDA the
allocator's peak is used. Latency is the median of ``repeat`` timed forward passes after
``warmup`` untimed ones, at an input of ``size`` (the NTIRE efficient-SR convention: 256x256).
"""

import math
import multiprocessing as mp
import platform
import resource
import statistics
import time


def device_name(device):
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(name, scale, device, size, repeat, warmup):
    import torch

    from lightsr.models import create_model, model_info
    from lightsr.models.complexity import count_macs, count_params
    from lightsr.models.reparameterize import reparameterize

    info = model_info(name)
    model = reparameterize(create_model(name, scale=scale)).to(device)
    x = torch.rand(1, info.in_channels, *size, device=device)
    macs = count_macs(lambda: reparameterize(create_model(name, scale=scale)), scale, info.in_channels,
                      output=(size[0] * scale, size[1] * scale))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeat):
            if cuda:
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    if cuda:
        peak_mb = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return {"name": name, "scale": scale, "params": count_params(model), "macs": macs,
            "latency_ms": statistics.median(times) * 1000, "peak_mb": peak_mb, "device": device_name(device),
            "input": list(size)}


def benchmark_models(names=None, scale=4, device="cpu", size=(256, 256), repeat=10, warmup=2):
    from lightsr.models import list_models

    names = names or [m.name for m in list_models() if scale in m.scales]
    rows = []
    if device.startswith("cuda"):
        return [measure(n, scale, device, size, repeat, warmup) for n in names]
    ctx = mp.get_context("spawn")
    for n in names:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(measure, (n, scale, device, size, repeat, warmup)))
    return rows


def ntire_scores(rows, baseline):
    """NTIRE 2024-25 efficient-SR score against ``baseline``: each of runtime, MACs ("FLOPs") and
    parameters becomes exp(2 m / m_baseline); score = 0.7 runtime + 0.15 FLOPs + 0.15 params."""
    base = next((r for r in rows if r["name"] == baseline), None)
    if base is None:
        from lightsr.errors import LightSRError

        raise LightSRError(f"the baseline {baseline!r} must be among the benchmarked models")
    for r in rows:
        r["score"] = (0.7 * math.exp(2 * r["latency_ms"] / base["latency_ms"]) + 0.15 * math.exp(2 * r["macs"] / base["macs"])
                      + 0.15 * math.exp(2 * r["params"] / base["params"]))
    return rows
