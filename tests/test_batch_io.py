"""A batch's transfers in threads of their own (`batch_io`), against fake-gcs-server: every piece
read in order, every write landed, a failure raised in the scoring thread, and a cancelled
upload leaves no object behind."""

import os
import threading

import pytest
from google.cloud.storage.exceptions import InvalidResponse

from predictor.batch.transfers import WriteBehind, read_ahead

CHUNK = 256 * 1024  # the smallest resumable chunk


@pytest.fixture(scope="module")
def bucket(gcs):
    return gcs.client.create_bucket("batch-io")


def threads_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_read_ahead_hands_over_every_piece_in_order(bucket):
    data = os.urandom(3 * CHUNK + 12345)
    bucket.blob("input.bin").upload_from_string(data)
    with bucket.blob("input.bin").open("rb", chunk_size=CHUNK) as raw:
        pieces = list(read_ahead(lambda: raw.read(100_000), depth=2))
    assert b"".join(pieces) == data
    assert max(map(len, pieces)) <= 100_000
    assert not threads_named("batch-read")


def test_a_failed_read_is_raised_after_the_pieces_before_it():
    pieces = iter([b"one", b"two"])

    def read() -> bytes:
        piece = next(pieces, None)
        if piece is None:
            raise ConnectionResetError("the download broke")
        return piece

    got = []
    with pytest.raises(ConnectionResetError, match="broke"):
        got.extend(read_ahead(read))
    assert got == [b"one", b"two"]
    assert not threads_named("batch-read")


def test_a_reader_stopped_early_stops_its_thread():
    reader = read_ahead(lambda: b"x" * 10, depth=1)
    assert next(reader) == b"x" * 10
    assert threads_named("batch-read")
    reader.close()
    assert not threads_named("batch-read")


def test_writes_behind_land_in_order_and_finish_the_object(bucket):
    parts = [os.urandom(100_000) for _ in range(12)]
    with WriteBehind(bucket.blob("out.bin").open("wb", chunk_size=CHUNK), depth=2) as out:
        for part in parts:
            out.write(part)
    assert bucket.blob("out.bin").download_as_bytes() == b"".join(parts)
    assert not threads_named("batch-write")


def test_a_failure_while_scoring_cancels_the_upload(bucket):
    target = bucket.blob("cancelled.bin").open("wb", chunk_size=CHUNK)
    with pytest.raises(RuntimeError, match="scoring failed"), WriteBehind(target) as out:
        out.write(os.urandom(3 * CHUNK))  # a chunk or more already sent
        raise RuntimeError("scoring failed")
    assert bucket.get_blob("cancelled.bin") is None


def test_a_failed_upload_is_raised_in_the_writing_thread(gcs):
    target = gcs.client.bucket("no-such-bucket").blob("out.bin").open("wb", chunk_size=CHUNK)
    with pytest.raises(InvalidResponse, match="404"), WriteBehind(target, depth=1) as out:
        for _ in range(20):
            out.write(os.urandom(CHUNK))
    assert not threads_named("batch-write")


def test_a_slow_reader_holds_the_fetching_thread_back_without_losing_a_piece():
    import time

    pieces = iter([b"a", b"b", b"c", b"d"])
    got = []
    for piece in read_ahead(lambda: next(pieces, b""), depth=1):
        time.sleep(0.25)  # longer than the fetching thread waits for room before it tries again
        got.append(piece)
    assert got == [b"a", b"b", b"c", b"d"]
