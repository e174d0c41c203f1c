"""Opening a source file: transparent gzip, and a byte count that drives the progress bar."""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mining.errors import ReadFailed
from mining.readers._model import OnBytes

_GZIP_MAGIC = b"\x1f\x8b"


class _CountingReader(io.RawIOBase):
    """A read-only binary file that reports how many bytes each read took from disk."""

    def __init__(self, raw: IO[bytes], on_bytes: OnBytes | None) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        if self._on_bytes is not None and size:
            self._on_bytes(size)
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


@contextlib.contextmanager
def open_binary(path: Path, on_bytes: OnBytes | None = None) -> Iterator[io.BufferedIOBase]:
    """``path`` opened for reading, decompressed when it is gzip whatever its name says.

    The byte count reported to ``on_bytes`` is of the file on disk, so a progress bar over the
    file size ends at 100% for compressed files too.
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 -- closed with ``counted`` below
    except OSError as exc:
        raise ReadFailed(f"{path}: cannot read ({exc.strerror or exc})") from exc
    magic = raw.read(2)
    raw.seek(0)
    counted = io.BufferedReader(_CountingReader(raw, on_bytes), buffer_size=1 << 20)
    with counted:
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=counted, mode="rb") as unzipped:
                yield unzipped
        else:
            yield counted
