"""StreamWriter: the bytes written are the bytes given, through O_DIRECT or the buffered fallback."""

from __future__ import annotations

import errno
import os

import pytest

from careerpath.core import streamfile
from careerpath.core.streamfile import StreamWriter

SIZES = [
    [],
    [1],
    [4095],
    [4096],
    [StreamWriter.BLOCK],
    [StreamWriter.BLOCK + 1],
    [3, 5000, 2 * StreamWriter.BLOCK + 7, 12345],
]


@pytest.mark.parametrize("sizes", SIZES)
def test_stream_writer_writes_exactly_the_bytes(tmp_path, sizes):
    parts = [os.urandom(n) for n in sizes]
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content, longer than some of the new files" * 100)  # truncated
    with StreamWriter(path) as f:
        for part in parts:
            assert f.write(part) == len(part)
        f.write(memoryview(b"tail"))
    assert path.read_bytes() == b"".join(parts) + b"tail"
    assert f.size == path.stat().st_size


def test_stream_writer_without_o_direct_is_a_buffered_file(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data = os.urandom(StreamWriter.BLOCK + 99)
    with StreamWriter(tmp_path / "a.bin") as f:
        assert not f.direct
        f.write(data)
    assert (tmp_path / "a.bin").read_bytes() == data


def _refuse_write(monkeypatch, which: int) -> list:
    """Make the ``which``-th ``os.write`` of streamfile fail with EINVAL (a file system refusing
    O_DIRECT); returns the list of the calls' file descriptors."""
    real_write, calls = os.write, []

    def write(fd, data):
        calls.append(fd)
        if len(calls) == which:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(streamfile.os, "write", write)
    return calls


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT: Linux only")
@pytest.mark.parametrize("n", [StreamWriter.BLOCK + 10, 3 * StreamWriter.BLOCK])
def test_stream_writer_falls_back_when_the_file_system_refuses_the_first_write(tmp_path, monkeypatch, n):
    """A file system that opens with O_DIRECT but refuses the first block's write (EINVAL):
    nothing is on disk yet, so the file is reopened buffered and nothing is lost. (A file under one
    block is written through the page cache at close, never with O_DIRECT.)"""
    calls = _refuse_write(monkeypatch, 1)
    data = os.urandom(n)
    with StreamWriter(tmp_path / "b.bin") as f:
        if not f.direct:
            pytest.skip("this file system refuses O_DIRECT at open already")
        f.write(data[:5])
        f.write(data[5:])
    assert not f.direct and calls
    assert (tmp_path / "b.bin").read_bytes() == data


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT: Linux only")
def test_stream_writer_raises_a_refusal_after_data_is_on_disk(tmp_path, monkeypatch):
    _refuse_write(monkeypatch, 2)
    f = StreamWriter(tmp_path / "c.bin")
    if not f.direct:
        f.close()
        pytest.skip("this file system refuses O_DIRECT at open already")
    with pytest.raises(OSError):
        f.write(os.urandom(2 * StreamWriter.BLOCK))
    f.close()
