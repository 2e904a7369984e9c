"""One module per trace format; each registers its reader with ``@register_reader``.

Modules here are imported (all of them, once) the first time a trace is read or the formats are
listed; nothing is read at import time.
"""
