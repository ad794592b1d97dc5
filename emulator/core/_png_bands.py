"""Reading a large PNG a band of rows at a time, each band reduced before the next is read,
so a 200-megapixel PNG costs a few megabytes rather than the 800 MB of its pixels.

A PNG's pixels are one zlib stream of scanlines, each filtered against the one above it.
The stream is inflated here a band at a time (zlib in C); Pillow does the rest of the
work on two small PNGs made for each band:

1. the band's filtered scanlines, after the previous band's last scanline (unfiltered, with
   filter type 0), declared as 8-bit samples with the same number of bytes a pixel, so that
   Pillow undoes the filters and its pixels are the scanlines' bytes unchanged;
2. those unfiltered scanlines (filter type 0) in the picture's own colour type and depth,
   with its palette and transparency, which Pillow reads as it reads the whole file.

Interlaced PNGs (Adam7 passes are not rows) and 16-bit colour (6 or 8 bytes a pixel, for
which no 8-bit colour type is byte-for-byte the same) are not read this way: None.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: channels of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA)
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: bytes a pixel -> the 8-bit colour type with as many (step 1 above)
_SAME_BYTES = {1: 0, 2: 4, 3: 2, 4: 6}
#: chunks the band PNGs carry over: what Pillow needs to read the pixels
_CARRIED = (b"PLTE", b"tRNS")
#: EXIF orientation -> the transpose that shows the picture upright (as ImageOps does)
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}

TRUNCATED = "image file is truncated"


class Corrupt(OSError):
    """The PNG cannot be read; the message says "truncated" when its data ends early."""


@dataclass(frozen=True)
class Layout:
    """What the chunks of a PNG say, its pixel data not inflated."""

    width: int
    height: int
    depth: int
    colour: int
    interlaced: bool
    carried: bytes           # the PLTE and tRNS chunks, as they are in the file
    idat: tuple[memoryview, ...]
    exif: bytes | None

    @property
    def stride(self) -> int:
        """Bytes of one scanline, without its filter byte."""
        return (self.width * self.depth * _CHANNELS[self.colour] + 7) // 8

    @property
    def pixel_bytes(self) -> int:
        return max(1, self.depth * _CHANNELS[self.colour] // 8)

    @property
    def bandable(self) -> bool:
        return not self.interlaced and self.pixel_bytes in _SAME_BYTES

    @property
    def orientation(self) -> int:
        if not self.exif:
            return 1
        exif = Image.Exif()
        try:
            exif.load(self.exif)
        except Exception:  # unreadable EXIF: shown as stored, as Pillow would
            return 1
        value = exif.get(0x0112, 1)
        return value if isinstance(value, int) else 1


def read_layout(data: bytes) -> Layout:
    """The chunks of a PNG (each checked against its CRC); raises :class:`Corrupt`."""
    if not data.startswith(SIGNATURE):
        raise Corrupt("not a PNG")
    view = memoryview(data)
    pos, header, carried, idat, exif = len(SIGNATURE), None, [], [], None
    while True:
        if pos + 8 > len(data):
            raise Corrupt(TRUNCATED)
        length, kind = struct.unpack(">I4s", view[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            if kind == b"IDAT":  # cut short: as much as is there, the rows will be missing
                idat.append(view[pos + 8:])
                break
            raise Corrupt(TRUNCATED)
        body = view[pos + 8:pos + 8 + length]
        if kind != b"IDAT" and zlib.crc32(view[pos + 4:pos + 8 + length]) != \
                struct.unpack(">I", view[end - 4:end])[0]:
            raise Corrupt(f"broken {kind.decode('latin-1')} chunk")
        if header is None and kind != b"IHDR":
            raise Corrupt("no IHDR chunk first")
        if kind == b"IHDR":
            if length != 13:
                raise Corrupt("bad IHDR chunk")
            header = struct.unpack(">IIBBBBB", body)
        elif kind in _CARRIED:
            carried.append(bytes(view[pos:end]))
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"eXIf":
            exif = bytes(body)
        elif kind == b"IEND":
            break
        pos = end
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or not width or not height:
        raise Corrupt("bad IHDR chunk")
    return Layout(width, height, depth, colour, interlace == 1, b"".join(carried), tuple(idat),
                  exif)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, depth: int, colour: int, scanlines: bytes,
         carried: bytes = b"") -> io.BytesIO:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return io.BytesIO(SIGNATURE + _chunk(b"IHDR", header) + carried
                      + _chunk(b"IDAT", zlib.compress(scanlines, 0)) + _chunk(b"IEND", b""))


def _scanlines(layout: Layout, rows_per_band: int) -> Iterator[bytes]:
    """The filtered scanlines (each with its filter byte), ``rows_per_band`` at a time."""
    inflater = zlib.decompressobj()
    chunks = iter(layout.idat)
    row = layout.stride + 1
    left = layout.height
    pending: bytes | memoryview = b""
    while left:
        want = min(rows_per_band, left) * row
        parts, have = [], 0
        while have < want:
            try:
                if not pending:
                    pending = next(chunks)
                out = inflater.decompress(pending, want - have)
            except StopIteration:
                raise Corrupt(TRUNCATED) from None
            except zlib.error as exc:
                raise Corrupt(f"broken pixel data: {exc}") from None
            pending = inflater.unconsumed_tail
            parts.append(out)
            have += len(out)
            if not out and not pending and inflater.eof:
                raise Corrupt(TRUNCATED)
        left -= want // row
        yield b"".join(parts)


def _flat_rgb(band: Image.Image) -> Image.Image:
    """A band as RGB on white, its palette and transparency applied."""
    if band.mode == "P" or "transparency" in band.info:
        band = band.convert("RGBA")
    elif band.mode == "1":
        band = band.convert("L")
    elif band.mode.startswith("I;16"):
        band = band.convert("I").point(lambda v: v / 256).convert("L")
    return band


def _on_white(img: Image.Image) -> Image.Image:
    if "A" in img.mode:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def reduced(layout: Layout, factor: int, band_bytes: int) -> tuple[Image.Image, bool]:
    """The whole picture reduced ``factor`` times each way, upright, on white, in RGB; and
    whether its EXIF orientation swapped the sides. Bands hold at most ``band_bytes`` of
    scanlines (one row of ``factor`` at the least); raises :class:`Corrupt`."""
    stride, pixel = layout.stride, layout.pixel_bytes
    rows = max(factor, band_bytes // (stride + 1) // factor * factor)
    same_colour = _SAME_BYTES[pixel]
    out = Image.new("RGB", (-(-layout.width // factor), -(-layout.height // factor)))
    previous = bytes(stride)  # above the first row: zeros, as the filters read it
    top = 0
    for filtered in _scanlines(layout, rows):
        count = len(filtered) // (stride + 1)
        # 1: the filters undone, by Pillow, on the same bytes seen as 8-bit samples
        with Image.open(_png(stride // pixel, count + 1, 8, same_colour,
                             b"\0" + previous + filtered), formats=("PNG",)) as raw:
            plain = raw.tobytes()[stride:]
        previous = plain[-stride:]
        # 2: the unfiltered rows in the picture's own colour type
        unfiltered = b"".join(b"\0" + plain[i:i + stride] for i in range(0, len(plain), stride))
        with Image.open(_png(layout.width, count, layout.depth, layout.colour, unfiltered,
                             layout.carried), formats=("PNG",)) as band:
            band.load()
            flat = _flat_rgb(band)
        if factor > 1:
            flat = flat.reduce(factor)
        out.paste(_on_white(flat), (0, top // factor))
        top += count
    orientation = layout.orientation
    if orientation in _UPRIGHT:
        out = out.transpose(_UPRIGHT[orientation])
    return out, orientation in (5, 6, 7, 8)
