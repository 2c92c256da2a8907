"""Hold one CUDA context on one GPU until told to stop: the smallest real GPU process there is.

Calls the driver API in libcuda.so through ctypes (cuInit, cuDeviceGet, cuCtxCreate, cuMemAlloc),
so no CUDA toolkit, compiler or framework is needed. Prints `ready pid=N device=D` once the context
exists (NVML then lists the process), and exits on SIGTERM/SIGINT or after --seconds.

    python3 bench/cuda_hold.py [--device 0] [--seconds 120] [--mib 64]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading


def load_cuda() -> ctypes.CDLL:
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    print("cuda_hold: no libcuda.so (the NVIDIA driver's CUDA library) on this machine", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", type=int, default=0, help="CUDA ordinal (CUDA_DEVICE_ORDER=PCI_BUS_ID: NVML index)")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--mib", type=int, default=64, help="device memory to allocate, so NVML shows some in use")
    args = ap.parse_args()
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    cuda = load_cuda()

    def ok(rc: int, what: str) -> None:
        if rc != 0:
            text = ctypes.c_char_p()
            cuda.cuGetErrorString(rc, ctypes.byref(text))
            print(f"cuda_hold: {what} failed: CUDA error {rc} ({(text.value or b'?').decode()})", file=sys.stderr)
            sys.exit(4)

    ok(cuda.cuInit(0), "cuInit")
    dev = ctypes.c_int()
    ok(cuda.cuDeviceGet(ctypes.byref(dev), args.device), f"cuDeviceGet({args.device})")
    ctx = ctypes.c_void_p()
    if hasattr(cuda, "cuCtxCreate_v2"):
        ok(cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate_v2")
    else:  # a driver without the v2 entry point: the primary context, as the runtime API uses
        ok(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
        ok(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    ptr = ctypes.c_uint64()
    ok(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(args.mib << 20)), f"cuMemAlloc({args.mib} MiB)")
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, dev)
    print(f"ready pid={os.getpid()} device={args.device} name={name.value.decode()}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait(args.seconds)
    cuda.cuMemFree_v2(ptr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
