"""``cupy._util`` of the stand-in: the warning CuPy gives for slow but working paths."""


class PerformanceWarning(RuntimeWarning):
    """As CuPy's (``cupy/_util.pyx``): a RuntimeWarning for a path that works but is slow."""
