"""Draw Attune's PNG icons with the standard library only (run once; the PNGs are committed)."""

import math
import struct
import sys
import zlib
from pathlib import Path

TEAL = (31, 95, 91)
CREAM = (246, 244, 239)


def png(size: int, pixel) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y, size)) for x in range(size)) for y in range(size)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def mark(x, y, size, scale):
    """Two overlapping rings: two people attuned to each other."""
    c = size / 2
    r = size * 0.18 * scale
    w = size * 0.045 * scale
    return any(abs(math.hypot(x - cx, y - c) - r) < w for cx in (c - r * 0.55, c + r * 0.55))


def icon(x, y, size, maskable=False):
    if maskable:
        return (*CREAM, 255) if mark(x, y, size, 0.9) else (*TEAL, 255)
    corner = size * 0.22
    dx = max(corner - x, x - (size - 1 - corner), 0)
    dy = max(corner - y, y - (size - 1 - corner), 0)
    if math.hypot(dx, dy) > corner:
        return (0, 0, 0, 0)
    return (*CREAM, 255) if mark(x, y, size, 1.15) else (*TEAL, 255)


def badge(x, y, size):
    return (255, 255, 255, 255) if mark(x, y, size, 1.5) else (0, 0, 0, 0)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "static/icons")
    out.mkdir(parents=True, exist_ok=True)
    (out / "icon-192.png").write_bytes(png(192, icon))
    (out / "icon-512.png").write_bytes(png(512, icon))
    (out / "maskable-512.png").write_bytes(png(512, lambda x, y, s: icon(x, y, s, maskable=True)))
    (out / "badge-96.png").write_bytes(png(96, badge))
