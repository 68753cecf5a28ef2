"""Zero-copy reads: record data and keys are read-only memoryviews straight over the
memory-mapped segment file, valid for as long as a view lives."""

from __future__ import annotations

import ctypes
import gc
import os
from pathlib import Path

import pytest

import tidelog

from conftest import only_shard


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


def address(obj: object) -> tuple[int, int]:
    """The (pointer, length) a buffer exporter hands out, through the C buffer API."""
    view = _PyBuffer()
    assert _get_buffer(obj, ctypes.byref(view), 0) == 0  # PyBUF_SIMPLE
    try:
        return int(view.buf or 0), int(view.len)
    finally:
        _release_buffer(ctypes.byref(view))


def mapping_of(pointer: int) -> str:
    """The path of the file mapped at `pointer` in this process (from /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= pointer < end:
                return fields[5].strip() if len(fields) == 6 else ""
    raise AssertionError(f"{pointer:#x} is not mapped")


def test_data_and_key_are_readonly_memoryviews(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    engine.put_record("s", "the-key", b"payload bytes")
    record = engine.read("s", only_shard(engine, "s"))[0]
    data, key = record.data, record.key
    assert isinstance(data, memoryview) and isinstance(key, memoryview)
    assert data.readonly and key.readonly
    assert (data.format, data.itemsize, data.ndim, data.nbytes) == ("B", 1, 1, 13)
    assert data.tobytes() == b"payload bytes" and bytes(key) == b"the-key"
    assert data[0] == ord("p") and bytes(data[8:]) == b"bytes"
    with pytest.raises(TypeError):
        data[0] = 0  # type: ignore[index]
    with pytest.raises(TypeError, match="not writable"):
        ctypes.c_char.from_buffer(data)
    # The exporter itself refuses a writable buffer (PyBUF_WRITABLE) at the C level.
    with pytest.raises(BufferError, match="read-?only|not writable"):
        _get_buffer(data.obj, ctypes.byref(_PyBuffer()), 1)
    assert isinstance(data.obj, tidelog.RecordBytes) and len(data.obj) == 13


def test_no_copy_views_point_into_the_segment_mapping(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    payload = os.urandom(4096)
    engine.put_record("s", "k", payload)
    first = engine.read("s", shard)[0]
    second_read = engine.read("s", shard)[0]
    views = [first.data, first.data, second_read.data]
    addresses = [address(v) for v in views]
    # Two views of one record, and a second read of it, share one address: no copy.
    assert addresses[0] == addresses[1] == addresses[2]
    pointer, length = addresses[0]
    assert length == len(payload)
    assert ctypes.string_at(pointer, length) == payload
    # And that address is inside the mapping of a segment file of this shard's log.
    mapped = mapping_of(pointer)
    assert mapped.startswith(engine.path + os.sep), mapped
    assert Path(mapped).is_file()
    key_pointer, key_len = address(first.key)
    assert ctypes.string_at(key_pointer, key_len) == b"k"
    assert mapping_of(key_pointer) == mapped


def test_views_outlive_batch_engine_and_files(data_dir: Path) -> None:
    engine = tidelog.open(data_dir, cores=1, durability="os", limits="unlimited")
    engine.create_stream("s", 1)
    payloads = [os.urandom(100 + i) for i in range(50)]
    engine.put_records("s", [("k", p) for p in payloads])
    batch = engine.read("s", only_shard(engine, "s"))
    datas = [r.data for r in batch]
    records = list(batch)
    pointer = address(datas[0])[0]
    segment = mapping_of(pointer)
    del batch
    engine.delete_stream("s")  # unlinks the segment files
    engine.close()
    del engine
    gc.collect()
    assert not Path(segment).exists()
    assert [bytes(d) for d in datas] == payloads
    assert [bytes(r.data) for r in records] == payloads
    assert address(datas[0])[0] == pointer
    # The file is gone from the directory but still mapped while a view lives.
    assert mapping_of(pointer).startswith(segment)
    del datas, records
    gc.collect()


def test_memoryview_release_and_reexport(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    engine.put_record("s", "k", b"abc")
    record = engine.read("s", only_shard(engine, "s"))[0]
    view = record.data
    exporter = view.obj
    view.release()
    with pytest.raises(ValueError):
        bytes(view)
    again = memoryview(exporter)
    assert bytes(again) == b"abc" and again.readonly


def test_empty_data_gives_an_empty_view(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    engine.put_record("s", "k", b"")
    record = engine.read("s", only_shard(engine, "s"))[0]
    assert bytes(record.data) == b"" and record.data.nbytes == 0
