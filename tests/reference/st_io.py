"""Minimal safetensors reader/writer (numpy only; the `safetensors` package is
not available here).

Format: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 "__metadata__": {...}}, then the raw little-endian data; offsets are relative
to the first byte after the header.

BF16 (which numpy lacks) is read by widening each value exactly to float32
(its 16 bits become the high half), and written by rounding float32 to the
nearest bfloat16, ties to even; F16 through numpy's float16, which rounds the
same way.
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
        bf16 = info["dtype"] == "BF16"
        dt = np.dtype("<u2") if bf16 else _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        shape = tuple(int(s) for s in info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * dt.itemsize or start + e > len(blob) or b < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {b}..{e}")
        arr = np.frombuffer(blob[start + b:start + e], dtype=dt).copy()
        if bf16:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif arr.dtype == np.float16:
            arr = arr.astype(np.float32)          # exact
        out[name] = arr.reshape(shape)
    return out


def bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, nearest even (finite values)."""
    u = np.ascontiguousarray(a, dtype="<f4").view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def write(path, tensors, metadata=None, misalign=False, dtype="F32"):
    """Writes {name: array} as safetensors, in the order given, every tensor
    in dtype (F32, BF16 or F16; a callable name -> dtype picks per tensor).

    misalign=True pads the header so that tensor data starts at an offset that
    is not a multiple of 4 (SPEC §4 says readers must accept that); with 2-byte
    dtypes it also makes odd offsets."""
    hdr = {}
    off = 0
    chunks = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        dt = dtype(name) if callable(dtype) else dtype
        if dt == "BF16":
            data = bf16_bits(a).tobytes()
        elif dt == "F16":
            data = a.astype("<f2").tobytes()
        else:
            data = a.tobytes()
        hdr[name] = {"dtype": dt, "shape": list(a.shape),
                     "data_offsets": [off, off + len(data)]}
        chunks.append(data)
        off += len(data)
    if metadata is not None:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    # The header is conventionally padded with spaces so data is 8-aligned.
    pad = (-(8 + len(text))) % 8
    if misalign:
        pad += 1 if dtype != "F32" else 2
    text += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
