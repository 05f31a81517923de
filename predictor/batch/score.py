"""`score_file`: a CSV or JSONL object finalized under BATCH_INPUT_PREFIX comes back scored as
`<name>.predictions.jsonl`, `<name>.errors.jsonl` and, written last, `<name>.summary.json`.

Every data row lands in exactly one of the two line files. Redelivery is idempotent because the
outputs are keyed by the input's generation: each output records it in its metadata, and a
summary for this generation (or a newer one) means the event was handled. A file that cannot be
read at all is answered with a summary and an errors file saying why, and the function returns
(no retry storm); a GCS fault raises, so the platform delivers the event again.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..errors import ConfigurationError, InvalidInput, MissingValues, NotFound
from ..inputs.extra_features import drop_unknown
from ..inputs.schema import MAX_NAME_SHOWN, MAX_UNKNOWN_LISTED, brief, json_type, shown
from ..loading.lifecycle import ModelLifecycle
from ..loading.repository import ModelRepository
from ..loading.storage import retry_within
from ..scoring import missing_cells
from . import lines
from .rows import NotARecord, Proven, Row, UnreadableFile, chunks
from .transfers import WriteBehind, read_ahead

log = logging.getLogger(__name__)
KINDS = {".csv": "csv", ".jsonl": "jsonl"}
GENERATION = "input-generation"  # the output objects' metadata key
READ_CHUNK_BYTES = 4 * 1024 * 1024  # per ranged GET
PIECE_BYTES = 1024 * 1024  # per piece handed to the scoring thread (less held at once)
WRITE_CHUNK_BYTES = 4 * 1024 * 1024  # a multiple of 256 KiB, as resumable uploads want
KEY_TYPES = (str, int, float, bool, type(None))  # a BATCH_KEY_FIELD value: a JSON scalar


@dataclass(frozen=True)
class Input:
    bucket: str
    name: str
    generation: int

    def fields(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "name": self.name, "generation": self.generation}


def score_event(models: ModelRepository, data: dict[str, Any]) -> dict[str, Any] | None:
    """Handle one storage event's data; the summary written, or None when there was nothing to do.
    With MODELS, BATCH_INPUT_PREFIX/<name>/... is scored by the model `name` names (a file
    directly under the prefix, by DEFAULT_MODEL)."""
    settings = models.checked_settings()
    source = _input(data)
    if source is None:  # redelivering it could never help: acknowledged
        return None
    kind = KINDS.get(PurePosixPath(source.name).suffix.lower())
    own_output = (settings.batch_output_bucket or source.bucket) == source.bucket and source.name.startswith(
        settings.batch_output_prefix
    )
    if not source.name.startswith(settings.batch_input_prefix) or kind is None or own_output:
        log.info("not a batch input; left alone", extra={"json_fields": {"input": source.fields()}})
        return None
    relative = source.name[len(settings.batch_input_prefix) :]
    with models.request():
        try:
            lifecycle = models.lifecycle(_model_named(models, relative))
        except (NotFound, InvalidInput) as error:  # a retry could never help: acknowledged
            log.warning(
                "%s; the file is left alone",
                error.message,
                extra={"json_fields": {"input": source.fields()}},
            )
            return None
        return _fetch_and_score(lifecycle, source, kind, relative)


def _model_named(models: ModelRepository, relative: str) -> str | None:
    """With MODELS, the model a file's first folder under the input prefix names."""
    if not models.named or "/" not in relative:
        return None
    return relative.split("/", 1)[0]


def _fetch_and_score(
    lifecycle: ModelLifecycle, source: Input, kind: str, relative: str
) -> dict[str, Any] | None:
    """Score the file unless its summary says this generation is done, or it is gone."""
    from google.cloud import storage

    settings = lifecycle.checked_settings()
    client = storage.Client()
    out_bucket = client.bucket(settings.batch_output_bucket or source.bucket)
    base = f"{settings.batch_output_prefix}{relative}"
    summary_blob = out_bucket.get_blob(f"{base}.summary.json", **_bounded(settings))
    done = int((summary_blob.metadata or {}).get(GENERATION, 0)) if summary_blob else 0
    if done >= source.generation:
        log.info("already scored; nothing to do", extra={"json_fields": {"input": source.fields()}})
        return None
    input_blob = client.bucket(source.bucket).get_blob(
        source.name, generation=source.generation, **_bounded(settings)
    )
    if input_blob is None:  # replaced or deleted since the event: a retry could never succeed
        log.warning(
            "the input generation is gone; left alone", extra={"json_fields": {"input": source.fields()}}
        )
        return None
    return _score(lifecycle, client, source, kind, out_bucket, base)


def _input(data: Any) -> Input | None:
    """The object a storage event names; None (a warning logged) if the event is malformed."""
    fields = data if isinstance(data, dict) else {}
    bucket, name, generation = fields.get("bucket"), fields.get("name"), fields.get("generation")
    if isinstance(generation, str) and generation.isascii() and generation.isdigit():
        generation = int(generation)  # GCS writes it as a string
    problems = [
        what
        for what, bad in [
            ("data is not a JSON object", not isinstance(data, dict)),
            ("bucket is not a non-empty string", not (isinstance(bucket, str) and bucket)),
            ("name is not a non-empty string", not (isinstance(name, str) and name)),
            ("generation is not a positive integer", not (type(generation) is int and generation > 0)),
        ]
        if bad
    ]
    if problems:
        received = {key: brief(fields.get(key)) for key in ("bucket", "name", "generation")}
        log.warning(
            "malformed storage event (%s); acknowledged and left alone",
            "; ".join(problems),
            extra={"json_fields": {"event": received if isinstance(data, dict) else brief(data)}},
        )
        return None
    return Input(bucket, name, generation)


def _bounded(settings) -> dict[str, Any]:
    """Every GCS call's timeout, and the storage client's retries bounded by it."""
    return {"timeout": settings.gcs_timeout_seconds, "retry": retry_within(settings.gcs_timeout_seconds)}


def _score(lifecycle, client, source: Input, kind: str, out_bucket, base: str) -> dict[str, Any]:
    settings = lifecycle.checked_settings()
    bounded = _bounded(settings)
    started = time.perf_counter()
    model = lifecycle.model()
    if settings.batch_output == "proba" and not callable(getattr(model.estimator, "predict_proba", None)):
        # the delivery fails and is retried: once the setting is fixed, the file is scored
        raise ConfigurationError(
            "BATCH_OUTPUT",
            f"is proba, but this model ({type(model.estimator).__name__}) has no "
            "predict_proba; set BATCH_OUTPUT=label",
        )
    metadata = {GENERATION: str(source.generation)}
    counts = {"rows": 0, "predicted": 0, "failed": 0}
    blob = client.bucket(source.bucket).blob(source.name, generation=source.generation)
    predictions_blob = out_bucket.blob(f"{base}.predictions.jsonl")
    errors_blob = out_bucket.blob(f"{base}.errors.jsonl")
    for output in (predictions_blob, errors_blob):
        output.metadata = metadata
    upload = {"chunk_size": WRITE_CHUNK_BYTES, "content_type": "application/jsonl", **bounded}
    with (
        blob.open("rb", chunk_size=READ_CHUNK_BYTES, **bounded) as raw,
        closing(read_ahead(partial(raw.read, PIECE_BYTES))) as pieces,
        WriteBehind(predictions_blob.open("wb", **upload)) as predictions_out,
        WriteBehind(errors_blob.open("wb", **upload)) as errors_out,
    ):
        key_field = settings.batch_key_field
        ignored = {} if settings.unknown_features == "ignore" and model.features.named else None
        try:
            for chunk in chunks(pieces, kind, model.features, settings.batch_chunk_rows, key_field, ignored):
                if isinstance(chunk, Proven):
                    _score_proven(model, chunk, settings, predictions_out, counts)
                else:
                    _score_chunk(model, chunk, settings, predictions_out, errors_out, counts, ignored)
        except UnreadableFile as exc:
            errors_out.write(lines.line({"row": None, "error": exc.body()["error"]}))
            counts["unreadable"] = exc.message
        for output in (predictions_out, errors_out):
            output.finish()  # both uploads finalize at once
    if ignored:  # the first names dropped, each cut short, as the HTTP answer's header lists them
        counts["ignored_features"] = [name[:MAX_NAME_SHOWN] for name in list(ignored)[:MAX_UNKNOWN_LISTED]]
    summary = {
        **counts,
        "input": source.fields(),
        "model": model.identity(lifecycle.name),
        "seconds": round(time.perf_counter() - started, 3),
    }
    summary_blob = out_bucket.blob(f"{base}.summary.json")
    summary_blob.metadata = metadata
    summary_blob.upload_from_string(orjson.dumps(summary), content_type="application/json", **bounded)
    log.info("batch scored", extra={"json_fields": {"summary": summary}})
    return summary


def _score_chunk(model, chunk: list[Row], settings, predictions_out, errors_out, counts, ignored) -> None:
    """`ignored`: None, or where the JSONL fields the model does not take are recorded as dropped."""
    key_field, features = settings.batch_key_field, model.features
    good: list[Row] = []
    keys: list[Any] = []
    for number, record in chunk:
        key = record.pop(key_field, None) if key_field and isinstance(record, dict) else None
        no_key = None if key_field else lines.NO_KEY
        if isinstance(record, NotARecord):
            errors_out.write(lines.error(number, record.message, key=no_key))
        elif not isinstance(key, KEY_TYPES):
            message = (
                f"the key field '{key_field}' must be a string, number, boolean or null, not {json_type(key)}"
            )
            errors_out.write(lines.error(number, message, {"field": key_field}, key=no_key))
        else:
            good.append((number, record))
            keys.append(key)
    if ignored is not None:
        records, dropped = drop_unknown([record for _, record in good], features)
        ignored.update(dict.fromkeys(dropped[: max(0, MAX_UNKNOWN_LISTED - len(ignored))]))
        good = [(number, record) for (number, _), record in zip(good, records, strict=True)]
    records = [record for _, record in good]
    try:
        checked = features.check(records)
    except InvalidInput:
        checked, good, keys = _split_invalid(features, good, keys, errors_out, key_field)
    try:
        outputs = model.predict(checked, settings.batch_output) if good else []
    except MissingValues:  # this model takes none: those rows are errors, the others answer
        checked, good, keys = _split_missing(model, checked, good, keys, errors_out, key_field)
        outputs = model.predict(checked, settings.batch_output) if good else []
    counts["rows"] += len(chunk)
    counts["failed"] += len(chunk) - len(good)
    if not good:
        return
    predictions_out.write(
        lines.predictions([number for number, _ in good], outputs, keys if key_field else None)
    )
    counts["predicted"] += len(good)


def _score_proven(model, proven: Proven, settings, predictions_out, counts) -> None:
    """A block of rows already proven valid: predicted and written in one go."""
    outputs = model.predict(proven.matrix, settings.batch_output)
    numbers = range(proven.first, proven.first + len(outputs))
    keys = (proven.keys or [None] * len(outputs)) if settings.batch_key_field else None
    predictions_out.write(lines.predictions(numbers, outputs, keys))
    counts["rows"] += len(outputs)
    counts["predicted"] += len(outputs)


def _split_missing(model, checked, good: list[Row], keys: list[Any], errors_out, key_field: str | None):
    """An error line for each row with missing values; the others (and their keys) kept."""
    missing = missing_cells(model.features, checked)
    for index, names in missing.items():
        number = good[index][0]
        message = f"row {number}: this model cannot take missing values; {shown(names)} missing"
        key = keys[index] if key_field else lines.NO_KEY
        errors_out.write(lines.error(number, message, {"missing": names}, key=key, kind=MissingValues))
    kept = [i for i in range(len(good)) if i not in missing]
    if isinstance(checked, np.ndarray):
        checked = checked[kept]
    else:
        checked = [checked[i] for i in kept]
    return checked, [good[i] for i in kept], [keys[i] for i in kept]


def _split_invalid(features, good: list[Row], keys: list[Any], errors_out, key_field: str | None):
    """Row by row, for a chunk that failed as a whole: each invalid row's error line written
    (with its key, when keys are carried), the valid rows (and their keys) kept and checked together."""
    kept, kept_keys = [], []
    for (number, record), key in zip(good, keys, strict=True):
        try:
            features.check([record])
        except InvalidInput as exc:
            fields = (exc.details or {}).get("rows", {}).get("0", {})
            where = ", ".join(f"'{field}': {'; '.join(messages)}" for field, messages in fields.items())
            message = f"row {number}, {where}"
            errors_out.write(lines.error(number, message, fields, key=key if key_field else lines.NO_KEY))
            continue
        kept.append((number, record))
        kept_keys.append(key)
    checked = features.check([record for _, record in kept]) if kept else []
    return checked, kept, kept_keys
