#!/usr/bin/env python3
"""Writes eng/icon.png (128x128): the package icon. Three partition logs and a check mark, drawn with the
standard library only (4x supersampling for smooth edges). Run it again after changing the drawing."""
import os
import struct
import zlib

SIZE, SS = 128, 4
N = SIZE * SS

BACKGROUND_TOP = (31, 58, 95)
BACKGROUND_BOTTOM = (20, 38, 66)
BAR = (236, 242, 248)
BADGE = (46, 184, 114)
CHECK = (255, 255, 255)


def rounded_rect(x, y, x0, y0, x1, y1, r):
    if x < x0 or x > x1 or y < y0 or y > y1:
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def segment_distance(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    qx, qy = ax + t * dx, ay + t * dy
    return ((px - qx) ** 2 + (py - qy) ** 2) ** 0.5


def sample(x, y):
    """Colour (r, g, b, a) at a point in 128-unit coordinates."""
    if not rounded_rect(x, y, 0, 0, 128, 128, 26):
        return (0, 0, 0, 0)
    t = y / 128
    colour = tuple(round(a + (b - a) * t) for a, b in zip(BACKGROUND_TOP, BACKGROUND_BOTTOM))
    # Three partition logs of different lengths; each is a row of records (gaps between them).
    for row, records in enumerate((6, 4, 5)):
        y0 = 30 + row * 24
        i = int((x - 22) // 16)
        if 0 <= i < records and rounded_rect(x, y, 22 + 16 * i, y0, 22 + 16 * i + 13, y0 + 14, 3):
            colour = BAR
    # A badge with a check mark: every record handled.
    bx, by, br = 94, 92, 22
    if (x - bx) ** 2 + (y - by) ** 2 <= (br + 4) ** 2:
        colour = tuple(round(a + (b - a) * t) for a, b in zip(BACKGROUND_TOP, BACKGROUND_BOTTOM))
    if (x - bx) ** 2 + (y - by) ** 2 <= br * br:
        colour = BADGE
        if min(segment_distance(x, y, 84, 93, 91, 100), segment_distance(x, y, 91, 100, 105, 84)) <= 3.2:
            colour = CHECK
    return colour + (255,)


def main():
    rows = []
    for py in range(SIZE):
        row = bytearray([0])  # filter type: none
        for px in range(SIZE):
            acc = [0, 0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    r, g, b, a = sample((px * SS + sx + 0.5) / SS, (py * SS + sy + 0.5) / SS)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3] / (SS * SS)
            if acc[3]:
                row += bytes(round(c / acc[3]) for c in acc[:3])
            else:
                row += b"\0\0\0"
            row.append(round(alpha))
        rows.append(bytes(row))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
    png += chunk(b"IEND", b"")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.png")
    with open(path, "wb") as f:
        f.write(png)
    print(f"wrote {path} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
