"""Subscriptions: iterators (sync and async) that yield records as they commit, with
timeouts, lineage following, and the GIL released while they wait."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

import tidelog

from conftest import only_shard


def test_iterates_until_the_timeout_and_resumes(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    engine.put_records("s", [("k", f"r{i}") for i in range(3)])
    with engine.subscribe("s", shard, "trim_horizon", timeout=0.05) as sub:
        assert isinstance(sub, tidelog.Subscription)
        assert [bytes(r.data) for r in sub] == [b"r0", b"r1", b"r2"]
        engine.put_record("s", "k", "r3")
        # Iterating again resumes where the last loop stopped.
        assert [bytes(r.data) for r in sub] == [b"r3"]
        assert sub.shard_ids == [shard] and not sub.finished
    assert sub.closed
    with pytest.raises(tidelog.ClosedError, match="subscription is closed"):
        sub.next_record(0)


def test_starting_positions(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    puts = [engine.put_record("s", "k", f"r{i}") for i in range(3)]
    latest = engine.subscribe("s", shard)  # "latest" by default
    assert latest.next_record(timeout=0) is None
    at = engine.subscribe("s", shard, "at_sequence_number", sequence_number=puts[1].sequence_number)
    after = engine.subscribe("s", shard, "after_sequence_number", sequence_number=puts[1].sequence_number)
    first = engine.read("s", shard)[0]
    by_time = engine.subscribe("s", shard, "at_timestamp", timestamp=first.arrival_time)
    assert [bytes(r.data) for r in engine.subscribe("s", shard, "trim_horizon", timeout=0)] == [b"r0", b"r1", b"r2"]
    assert [bytes(r.data) for r in (at.next_record(0), at.next_record(0))] == [b"r1", b"r2"]  # type: ignore[union-attr]
    assert bytes(after.next_record(0).data) == b"r2"  # type: ignore[union-attr]
    assert bytes(by_time.next_record(0).data) == b"r0"  # type: ignore[union-attr]
    engine.put_record("s", "k", "r3")
    assert bytes(latest.next_record(timeout=5).data) == b"r3"  # type: ignore[union-attr]


def test_next_batch_and_mixed_use(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    engine.put_records("s", [("k", f"r{i}") for i in range(5)])
    sub = engine.subscribe("s", shard, "trim_horizon")
    first = sub.next_record(timeout=1)
    assert first is not None and bytes(first.data) == b"r0"
    rest = sub.next_batch(timeout=1)
    assert isinstance(rest, tidelog.RecordBatch) and rest.shard_id == shard
    assert [bytes(r.data) for r in rest] == [b"r1", b"r2", b"r3", b"r4"]
    assert len(rest) == 4 and bytes(rest[0].data) == b"r1"
    assert rest.next_iterator is None
    assert sub.next_batch(timeout=0) is None
    with pytest.raises(ValueError, match="timeout"):
        sub.next_record(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        engine.subscribe("s", shard, timeout=-0.5)
    with pytest.raises(TypeError, match="timeout"):
        engine.subscribe("s", shard, timeout="1")  # type: ignore[arg-type]


def test_async_iteration(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    engine.put_records("s", [("k", f"r{i}") for i in range(3)])
    # A generous wait while the late record is on its way (a thread's put can take longer
    # than a fraction of a second on a loaded machine), then a short one to end the loop.
    sub = engine.subscribe("s", shard, "trim_horizon", timeout=30)

    async def consume() -> list[bytes]:
        got = []
        async for record in sub:
            got.append(bytes(record.data))
            if len(got) == 3:
                # Put from another thread while this task awaits the next record.
                threading.Thread(target=engine.put_record, args=("s", "k", "late")).start()
            if len(got) == 4:
                sub.timeout = 0.05
        return got

    assert asyncio.run(consume()) == [b"r0", b"r1", b"r2", b"late"]


def test_the_gil_is_released_while_waiting(engine: tidelog.Engine) -> None:
    """A thread blocked in a subscription does not stop another Python thread from
    putting the record that wakes it: if the wait held the GIL, the main thread could
    not run the put until the wait had timed out empty."""
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    sub = engine.subscribe("s", shard, "latest")
    received: list[tidelog.Record | None] = []
    waiting = threading.Event()

    def wait_for_record() -> None:
        waiting.set()
        received.append(sub.next_record(timeout=30))

    waiter = threading.Thread(target=wait_for_record)
    waiter.start()
    waiting.wait()
    # Wait until the waiter's innermost frame is the call into the native wait (the main
    # thread can look only because the GIL is free), then put the record that wakes it.
    for _ in range(10_000):
        frame = sys._current_frames().get(waiter.ident or 0)
        if frame is not None and frame.f_code.co_name == "next_record":
            break
        time.sleep(0.001)
    else:
        raise AssertionError("the waiter never reached the subscription's wait")
    time.sleep(0.05)
    put = engine.put_record("s", "k", b"wake up")
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert len(received) == 1 and received[0] is not None
    assert bytes(received[0].data) == b"wake up"
    assert received[0].sequence_number == put.sequence_number


def test_close_and_engine_close_end_a_blocked_wait(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    outcomes: list[object] = []

    def wait(sub: tidelog.Subscription) -> None:
        try:
            outcomes.append(sub.next_record(timeout=None))
        except tidelog.ClosedError as e:
            outcomes.append(e)

    sub = engine.subscribe("s", shard)
    t = threading.Thread(target=wait, args=(sub,))
    t.start()
    time.sleep(0.05)
    sub.close()
    t.join(timeout=30)
    assert not t.is_alive() and isinstance(outcomes[-1], tidelog.ClosedError)

    sub2 = engine.subscribe("s", shard)
    t = threading.Thread(target=wait, args=(sub2,))
    t.start()
    time.sleep(0.05)
    engine.close()
    t.join(timeout=30)
    assert not t.is_alive() and isinstance(outcomes[-1], tidelog.ClosedError)
    assert "engine is closed" in str(outcomes[-1])


def test_follow_lineage_across_split_and_merge(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    sub = engine.subscribe("s", "shardId-000000000000", "trim_horizon", follow_lineage=True, timeout=0.2)
    plain = engine.subscribe("s", "shardId-000000000000", "trim_horizon", timeout=0.2)
    engine.put_record("s", "k", b"parent")
    engine.split_shard("s", "shardId-000000000000", 2**127)
    engine.put_record("s", "k", b"left", explicit_hash_key=0)
    engine.put_record("s", "k", b"right", explicit_hash_key=2**128 - 1)
    engine.merge_shards("s", "shardId-000000000001", "shardId-000000000002")
    engine.put_record("s", "k", b"merged")
    got = [(r.shard_id, bytes(r.data)) for r in sub]
    assert got[0] == ("shardId-000000000000", b"parent")
    assert sorted(got[1:3]) == [("shardId-000000000001", b"left"), ("shardId-000000000002", b"right")]
    assert got[3] == ("shardId-000000000003", b"merged")
    ended = sub.ended_shards
    assert [e["shard_id"] for e in ended[:1]] == ["shardId-000000000000"]
    assert sorted(c["shard_id"] for c in ended[0]["child_shards"]) == ["shardId-000000000001", "shardId-000000000002"]
    assert sub.shard_ids == ["shardId-000000000003"] and not sub.finished
    # Without lineage following, the subscription finishes at the end of its shard.
    assert [bytes(r.data) for r in plain] == [b"parent"]
    assert plain.finished and plain.next_record(timeout=0) is None
    assert plain.ended_shards[0]["shard_id"] == "shardId-000000000000"


def test_threads_share_one_subscription(engine: tidelog.Engine) -> None:
    engine.create_stream("s", 1)
    shard = only_shard(engine, "s")
    sub = engine.subscribe("s", shard, "trim_horizon", timeout=0.5)
    total = 2000
    seen: list[int] = []
    lock = threading.Lock()
    produced = threading.Event()

    def produce() -> None:
        for start in range(0, total, 10):  # many small batches while the consumers run
            engine.put_records("s", [("k", str(i)) for i in range(start, start + 10)])
        produced.set()

    def drain() -> None:
        # The producer may stall longer than the timeout on a loaded machine: a consumer
        # stops only at a timeout that began after the last put.
        while True:
            done = produced.is_set()
            for record in sub:
                with lock:
                    seen.append(int(bytes(record.data)))
            if done:
                return

    threads = [threading.Thread(target=drain) for _ in range(4)] + [threading.Thread(target=produce)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Every record handed out exactly once across the threads.
    assert len(seen) == total
    assert sorted(seen) == list(range(total))
