"""Read a dataset only as far as it goes: never walk what follows it.

pydicom reads top-level elements until the end of the file. A valid file followed by
gigabytes of zeros (a half-written copy, a pre-allocated file) then parses as hundreds
of millions of empty ``(0000,0000)`` elements, which took over 9 minutes per file. In a
valid dataset top-level tags strictly ascend (PS3.5 7.1), so the first tag that does not
ascend ends the dataset: zeros, or any other junk, stop the reader at their first 8 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import read_dataset, read_partial
from pydicom.tag import BaseTag

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

StopWhen = Callable[[BaseTag, "str | None", int], bool]


def dataset_end(*, before_pixels: bool, after: int = -1) -> StopWhen:
    """A ``stop_when`` for pydicom's readers: true at the first top-level tag that goes
    back (or repeats twice), or not above ``after``; with ``before_pixels`` at Pixel Data."""
    last, repeated = after, False

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        # pydicom may ask twice about one element (once while probing an unexpected
        # implicit VR), so one repeat of the last tag is not an end; a second is.
        nonlocal last, repeated
        value = int(tag)  # plain int comparisons: BaseTag's are Python methods
        if before_pixels and value in PIXEL_TAGS:
            return True
        if value < last or (value == last and repeated):
            return True
        repeated = value == last
        last = value
        return False

    return stop


def read_file(fp: BinaryIO, *, stop_before_pixels: bool) -> FileDataset:
    """``dcmread(fp, force=True, stop_before_pixels=...)`` that stops where the dataset
    ends (see the module docstring)."""
    return read_partial(fp, dataset_end(before_pixels=stop_before_pixels), force=True)


def read_elements(fp: BinaryIO, *, implicit_vr: bool, little_endian: bool, after: int) -> Dataset:
    """Top-level elements from ``fp``'s position on, with tags above ``after`` (e.g. what
    follows Pixel Data), up to the end of the dataset."""
    return read_dataset(
        fp, implicit_vr, little_endian, stop_when=dataset_end(before_pixels=False, after=after)
    )
