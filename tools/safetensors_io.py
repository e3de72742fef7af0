#!/usr/bin/python3
"""Tiny pure-Python safetensors reader/writer for PyTorch tensors (the `safetensors` package may be missing).

Format: u64 little-endian header length N, N bytes of JSON header
  {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
then the raw little-endian row-major data; offsets are relative to the data section and tensors are contiguous.
The header is padded with spaces to a multiple of 8 bytes (like the reference implementation).

Usage from other tools (run with /usr/bin/python3, which has torch 1.13):
    import sys; sys.path.insert(0, "tools")
    from safetensors_io import save_file, load_file
    save_file({"w": torch.randn(3, 4)}, "out.safetensors", metadata={"source": "me"})
    tensors, metadata = load_file("out.safetensors")

Regenerate the C# test fixture (Engine.Tests/Fixtures/safetensors/sample.safetensors) from the repository root:
    /usr/bin/python3 tools/safetensors_io.py make-fixture Engine.Tests/Fixtures/safetensors/sample.safetensors
Dump a file's header:
    /usr/bin/python3 tools/safetensors_io.py header FILE
"""
import json
import os
import struct
import sys

import torch

_DTYPES = {
    torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2),
    torch.int64: ("I64", 8), torch.int32: ("I32", 4), torch.int16: ("I16", 2), torch.int8: ("I8", 1),
    torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1),
}
_BY_NAME = {name: (dt, size) for dt, (name, size) in _DTYPES.items()}


def _to_bytes(t):
    t = t.detach().cpu().contiguous()
    if sys.byteorder != "little":
        raise RuntimeError("big-endian hosts are not supported")
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save_file(tensors, path, metadata=None):
    """Write {name: torch.Tensor} (any dtype in _DTYPES) to `path` atomically (temp file + rename)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise ValueError(f"tensor {name!r}: unsupported dtype {t.dtype}")
        b = _to_bytes(t)
        header[name] = {"dtype": _DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_header(path):
    """Return (header dict without __metadata__, metadata dict, data start offset)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        size = os.fstat(f.fileno()).st_size
        if n > size - 8:
            raise ValueError(f"{path}: header length {n} exceeds the file")
        header = json.loads(f.read(n).decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    return header, metadata, 8 + n


def load_file(path):
    """Return ({name: torch.Tensor} in header order, metadata dict)."""
    header, metadata, start = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            dt, size = _BY_NAME[info["dtype"]]
            b, e = info["data_offsets"]
            shape = info["shape"]
            count = 1
            for d in shape:
                count *= d
            if e - b != count * size:
                raise ValueError(f"{path}: tensor {name!r} size mismatch")
            f.seek(start + b)
            raw = bytearray(f.read(e - b))
            if dt == torch.bfloat16:
                t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if count else torch.empty(0, dtype=dt)
            else:
                t = torch.frombuffer(raw, dtype=dt) if count else torch.empty(0, dtype=dt)
            out[name] = t.reshape(shape).clone()
    return out, metadata


def make_fixture(path):
    """The fixture read by Engine.Tests/Serialization/SafeTensorsTests.cs; values are simple formulas the test recomputes."""
    tensors = {
        # F32 weight[i] = 0.25 * i - 1.5 for i in 0..23, shape [2, 3, 4]
        "conv.weight": (torch.arange(24, dtype=torch.float32) * 0.25 - 1.5).reshape(2, 3, 4),
        # F32 bias = [1, -2, 3.5]
        "conv.bias": torch.tensor([1.0, -2.0, 3.5], dtype=torch.float32),
        # F32 scalar 42.5, shape []
        "scalar": torch.tensor(42.5, dtype=torch.float32),
        # F64 [i / 8 for i in 0..5], shape [6]
        "double": torch.arange(6, dtype=torch.float64) / 8,
        # F16 [0.5, -1.25, 2048, 0.0009765625], exactly representable
        "half": torch.tensor([0.5, -1.25, 2048.0, 0.0009765625], dtype=torch.float16),
        # BF16 [1, -3, 0.15625, 256], exactly representable
        "bf16": torch.tensor([1.0, -3.0, 0.15625, 256.0], dtype=torch.bfloat16),
        # I64 [[-2, 7], [1000000, 0]]
        "steps": torch.tensor([[-2, 7], [1000000, 0]], dtype=torch.int64),
        # empty F32 tensor of shape [0, 3]
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    save_file(tensors, path, metadata={"generator": "tools/safetensors_io.py", "epoch": "7"})
    back, meta = load_file(path)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k
    assert meta["epoch"] == "7"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make-fixture":
        make_fixture(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "header":
        h, m, s = read_header(sys.argv[2])
        print(json.dumps({"__metadata__": m, **h}, indent=1))
    else:
        print(__doc__)
        sys.exit(2)
