"""benchmarks/profiling.py's reading of py-spy raw stacks (the part `make bench-profile` trusts)."""

from __future__ import annotations

from benchmarks.profiling import _threads_md, summarise

PIPE = "/x/registry_explorer/sources/blobcopy.py"
POOL = "/py/lib/python3.11/concurrent/futures/thread.py"
RAW = "\n".join([
    # the hash thread (py-spy may name it wrongly: the frames decide)
    f"thread (11): rx-fetch_0;Thread.run (/py/lib/python3.11/threading.py:982);"
    f"pipelined_copy.<locals>.worker ({PIPE}:58) 30",
    f"thread (11);Thread.run (/py/lib/python3.11/threading.py:982);pipelined_copy.<locals>.worker ({PIPE}:59) 10",
    # a pool thread reading the socket
    f"thread (12);_worker ({POOL}:83);pipelined_copy ({PIPE}:77);SocketIO.readinto "
    "(/py/lib/python3.11/socket.py:706) 10",
    # the main thread inside the measured rounds, and outside them (imports: dropped)
    "thread (10);<module> (/x/benchmarks/profiled.py:1);_measured (/x/benchmarks/profiled.py:35);"
    "Path.unlink (/py/lib/python3.11/pathlib.py:1147) 5",
    "thread (10);<module> (/x/benchmarks/profiled.py:1);_find_and_load (<frozen importlib._bootstrap>:1176) 40",
    # a warm-up pool thread, excluded by id
    f"thread (9);_worker ({POOL}:83);pipelined_copy ({PIPE}:77) 99",
    # a sample with no Python frame
    "thread (13): rx-hash 3",
])


def test_samples_are_attributed_by_frames_and_warm_up_threads_dropped(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW + "\n")
    roles = summarise(raw, exclude=[9])
    assert {k: v["samples"] for k, v in roles.items()} == {
        "hash+write thread (pipeline worker)": 40,
        "fetch pool thread (reads the socket)": 10,
        "main thread": 5,
    }
    lines = roles["hash+write thread (pipeline worker)"]["lines"]
    assert [n for _, n in lines.most_common()] == [30, 10]
    assert all("registry_explorer/sources/blobcopy.py:5" in where for where in lines)


def test_cpu_is_split_in_proportion_to_samples(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW + "\n")
    md = _threads_md(summarise(raw, exclude=[9]), cpu_ms=1.1, unit="MiB")
    first = [row for row in md if row.startswith("| hash+write")][0]
    cells = [c.strip() for c in first.strip("|").split("|")]
    assert cells[1] == "0.80"  # 40 of 55 samples of 1.1 ms
    assert cells[3] == "0.60" and cells[4] == "55 %"  # its top line: 30 of 55
