"""``cupy.cuda.runtime``: one pretend device."""


def getDeviceCount():  # noqa: N802 - CUDA's name
    return 1


def getDevice():  # noqa: N802
    return 0


def getDeviceProperties(device):  # noqa: N802
    return {"name": b"CuPy stand-in (NumPy on the CPU)", "totalGlobalMem": 80 * 2**30,
            "multiProcessorCount": 1, "major": 9, "minor": 0}


def runtimeGetVersion():  # noqa: N802
    return 13000


def driverGetVersion():  # noqa: N802
    return 13000


def deviceSynchronize():  # noqa: N802
    pass
