"""score_file's bounds, kept: a record or a chunk of records is bounded in bytes whatever the file
holds, so a hostile file costs its own rows and never the worker (a crash would repeat on each
redelivery). Memory is the worker's peak, measured as tests/test_abuse.py measures it."""

import orjson
import pytest

from predictor.batch.rows import MAX_RECORD_CHARS, NotARecord, chunks
from predictor.inputs.schema import features_for
from support import peak_growth
from test_batch import BUCKET, drop, event, outputs, start_scorer

# what one file may add to the worker's peak (deploy-batch deploys 1 GiB); a chunk of 10,000
# wine rows checked and scored row by row stays well under it
PEAK_GROWTH_LIMIT_MIB = 128


@pytest.fixture(scope="module")
def scorer(start_server, gcs, trained):
    server = start_scorer(start_server, gcs, BATCH_KEY_FIELD="id")
    warm = trained.test_x.head(50).assign(id="w").to_csv(index=False).encode()
    assert (
        event(server.url, BUCKET, "incoming/warm.csv", drop(gcs, "incoming/warm.csv", warm)).status_code
        == 200
    )
    return server


def csv_lines(frame, keys) -> list[bytes]:
    """The frame's rows as CSV lines, each led by its key (ids are written by the caller)."""
    body = frame.to_csv(index=False, header=False).encode().splitlines(keepends=True)
    return [key.encode() + b"," + line for key, line in zip(keys, body, strict=True)]


def score(server, gcs, name, content):
    generation = drop(gcs, name, content)
    answers = []
    growth = peak_growth(server, lambda: answers.append(event(server.url, BUCKET, name, generation)))
    assert answers[0].status_code == 200, answers[0].text
    return (*outputs(gcs, name.replace("incoming/", "predictions/")), growth)


def test_a_quoted_record_spanning_many_lines_is_its_rows_error(scorer, gcs, trained):
    """20 MB in one open quote used to add 311 MB to the worker; the rows after it are scored."""
    rows = trained.test_x.head(6)
    header = b"id," + ",".join(rows.columns).encode() + b"\n"
    lines = csv_lines(rows, [f"w{i}" for i in range(6)])
    endless = b'"' + b"a line of a cell left open\n" * 800_000 + b'",' + b",".join([b"1"] * 11) + b"\n"
    content = header + b"".join(lines[:3]) + endless + b"".join(lines[3:])
    predicted, failed, summary, growth = score(scorer, gcs, "incoming/open-quote.csv", content)
    assert [(f["row"], f["key"]) for f in failed] == [(3, None)]
    assert f"longer than {MAX_RECORD_CHARS:,} characters" in failed[0]["error"]["message"]
    assert [p["key"] for p in predicted] == ["w0", "w1", "w2", "w3", "w4", "w5"]
    assert [p["row"] for p in predicted] == [0, 1, 2, 4, 5, 6]
    expected = trained.model.predict(rows).tolist()
    assert [p["prediction"] for p in predicted] == pytest.approx(expected, rel=1e-12)
    assert (summary["rows"], summary["failed"]) == (7, 1)
    assert growth < PEAK_GROWTH_LIMIT_MIB, f"+{growth} MiB"


def test_a_cell_longer_than_the_csv_modules_default_limit_is_read(scorer, gcs, trained):
    """131,072 characters was the csv module's limit: the cell's block was unreadable."""
    rows = trained.test_x.head(4)
    header = b"id," + ",".join(rows.columns).encode() + b"\n"
    long_key = "k" * 300_000
    lines = csv_lines(rows, ["a", f'"{long_key}"', "b", "c"])
    predicted, failed, summary, _ = score(scorer, gcs, "incoming/long-cell.csv", header + b"".join(lines))
    assert failed == [] and "unreadable" not in summary
    assert [p["key"] for p in predicted] == ["a", long_key, "b", "c"]


def test_jsonl_chunks_are_bounded_in_bytes_not_only_in_rows(scorer, gcs, trained):
    """Records of 85,000 keys, 10,000 to a chunk, used to add 653 MB for 80 of them."""
    wide = orjson.dumps({f"x{i}": 0 for i in range(85_000)})
    assert len(wide) < 1024 * 1024  # each is a line the reader takes
    good = [orjson.dumps({**row, "id": i}) for i, row in enumerate(trained.test_x.head(3).to_dict("records"))]
    content = b"\n".join([good[0], *[wide] * 40, *good[1:]]) + b"\n"
    predicted, failed, summary, growth = score(scorer, gcs, "incoming/wide.jsonl", content)
    assert [p["key"] for p in predicted] == [0, 1, 2] and len(failed) == 40 == summary["failed"]
    assert "unknown" in failed[0]["error"]["message"]
    assert growth < PEAK_GROWTH_LIMIT_MIB, f"+{growth} MiB"


def csv_records(data: bytes) -> list:
    """The rows `chunks` reads from a CSV of a number `a` and a string `b` (no bulk path)."""
    features = features_for(
        object(), {"inputs": [{"type": "double", "name": "a"}, {"type": "string", "name": "b"}]}
    )
    rows = [row for chunk in chunks([data], "csv", features, 100, None) for row in chunk]
    return [(number, "too long" if isinstance(record, NotARecord) else record) for number, record in rows]


LINES_PAST_THE_BOUND = MAX_RECORD_CHARS // 10 + 1  # lines of 10 characters


@pytest.mark.parametrize(
    "middle, after",
    [
        (b'2,"' + b'say ""hi""\n' * LINES_PAST_THE_BOUND + b'end"\n', [(2, {"a": 3.0, "b": "y"})]),
        (b'2,"never closed\n' + b"123456789\n" * LINES_PAST_THE_BOUND, []),  # the rest is that record
    ],
)
def test_past_the_bound_a_record_is_skipped_to_its_closing_quote(middle, after):
    records = csv_records(b"a,b\n1,x\n" + middle + b"3,y\n")
    assert records == [(0, {"a": 1.0, "b": "x"}), (1, "too long"), *after]


def test_a_record_within_the_bound_spans_as_many_lines_as_it_likes():
    cell = "z\n" * (MAX_RECORD_CHARS // 2 - 10)
    records = csv_records(b'a,b\n1,"' + cell.encode() + b'"\n3,y\n')
    assert records == [(0, {"a": 1.0, "b": cell}), (1, {"a": 3.0, "b": "y"})]
