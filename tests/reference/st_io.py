"""Minimal safetensors reader/writer (numpy only; the `safetensors` package is
not available here).

Format: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 "__metadata__": {...}}, then the raw little-endian data; offsets are relative
to the first byte after the header.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
}


def read_header(path):
    """Returns (header dict without __metadata__, data start offset)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: file shorter than 8 bytes")
        (n,) = struct.unpack("<Q", raw)
        hdr = json.loads(f.read(n).decode("utf-8"))
    hdr.pop("__metadata__", None)
    return hdr, 8 + n


def read(path):
    """Returns {name: np.ndarray}; every array is a fresh, aligned copy."""
    hdr, start = read_header(path)
    with open(path, "rb") as f:
        blob = f.read()
    out = {}
    for name, info in hdr.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        shape = tuple(int(s) for s in info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * dt.itemsize or start + e > len(blob) or b < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {b}..{e}")
        arr = np.frombuffer(blob[start + b:start + e], dtype=dt).copy()
        out[name] = arr.reshape(shape)
    return out


def write(path, tensors, metadata=None, misalign=False):
    """Writes {name: array} as F32 safetensors, in the order given.

    misalign=True pads the header so that tensor data starts at an offset that
    is not a multiple of 4 (SPEC §4 says readers must accept that)."""
    hdr = {}
    off = 0
    chunks = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        data = a.tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(a.shape),
                     "data_offsets": [off, off + len(data)]}
        chunks.append(data)
        off += len(data)
    if metadata is not None:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    # The header is conventionally padded with spaces so data is 8-aligned.
    pad = (-(8 + len(text))) % 8
    if misalign:
        pad += 2
    text += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
