"""Pure, vectorized physical laws of the twin: GPU power, thermal, cooling, storage, cost.

Every function takes numpy arrays (or scalars, by broadcasting) plus frozen parameter records and
returns new arrays. No I/O, no globals, no imports from ``sim`` or ``policies``.
"""
