"""Decide from content, not the file name, whether bytes look like a DICOM file."""

from __future__ import annotations

import struct

HEAD_BYTES = 132  # 128-byte preamble + "DICM"
_PREFIX = b"DICM"
VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)
# Groups a headerless (no preamble) dataset plausibly starts with: file meta, identifying,
# patient, and the data-set-level groups some old writers put first.
_FIRST_GROUPS = frozenset({0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028})


def looks_like_dicom(head: bytes) -> bool:
    """True if ``head`` (the first 132 or more bytes of a file) starts a DICOM file.

    Either the Part 10 preamble + ``DICM`` prefix, or a headerless dataset whose first
    element has a plausible tag in explicit or implicit VR, little or big endian.
    """
    if len(head) >= HEAD_BYTES and head[128:132] == _PREFIX:
        return True
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(f"{order}HH", head[:4])
        if group not in _FIRST_GROUPS or element > 0x0FFF:
            continue
        if head[4:6] in VRS:
            return True
        (length,) = struct.unpack(f"{order}I", head[4:8])
        if order == "<" and length < 0x10000 and (length % 2 == 0 or group == 0x0008):
            return True
    return False
