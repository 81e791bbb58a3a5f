"""Arrays of a build's .npy and .npz files mapped from disk instead of read into memory.

A served index is never written (a build makes a new folder), so its arrays can be read-only
memory maps: the pages are the kernel's file cache, shared by every server process on the box
(two replicas, or the old and new index while a reload swaps them, for the files they share)
and dropped under memory pressure instead of swapped, and only the rows a question touches
are read at all. np.load maps a .npy with mmap_mode="r" but reads every member of a .npz; the
members of an uncompressed .npz (np.savez) are plain .npy files inside a zip, so each is mapped
at its offset here. A compressed member (np.savez_compressed) is read into memory as before.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

# Arrays under a page are read: a page of memory either way, and mmap refuses a length of 0.
_SMALLEST_MAPPED = 4096


def map_npy(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


def map_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`, by name (without ".npy"), mapped where stored plainly."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for member in archive.infolist():
            mapped = _mapped_member(path, raw, member)
            if mapped is None:  # compressed, or too small to map: read
                with archive.open(member) as handle:
                    mapped = np.lib.format.read_array(handle, allow_pickle=False)
            arrays[member.filename.removesuffix(".npy")] = mapped
    return arrays


def _mapped_member(path: Path, raw, member: zipfile.ZipInfo) -> np.memmap | None:
    """The array of a stored (uncompressed) .npz member as a memory map; None for a compressed
    one, or one under _SMALLEST_MAPPED bytes (scalars, names, empty arrays)."""
    if member.compress_type != zipfile.ZIP_STORED:
        return None
    # The member's data follow its local header: 30 bytes, then its name and extra field.
    raw.seek(member.header_offset)
    local = raw.read(30)
    raw.seek(member.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little"))
    version = np.lib.format.read_magic(raw)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(raw)
    if dtype.hasobject:
        raise ValueError(f"{path}: {member.filename} holds Python objects, which an index never does")
    if int(np.prod(shape)) * dtype.itemsize < _SMALLEST_MAPPED:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape, order="F" if fortran else "C")
