"""Writing files so that a power cut leaves either the old file or the new one, never half of one."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterable


def atomic_write(path: str | os.PathLike, chunks: Iterable[bytes] | bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for chunk in ([chunks] if isinstance(chunks, (bytes, bytearray)) else chunks):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
