"""The reference .sav writer: pyreadstat from a whole polars frame (what
surveys.results.exports.responses_export_sav did before it streamed its cases)."""

from pathlib import Path
from typing import Any

from surveys.results.exports import (
    _NUMBER,
    _RANK,
    SAV_ROWS_PER_CHUNK,
    ResponsesExport,
    _sav_dtype,
    sav_dictionary,
)


def sav_whole_frame_write(*, export: ResponsesExport, path: str | Path) -> int:
    """The .sav as responses_export_sav wrote it until 27 November (eighth session): the whole
    frame in memory, written by pyreadstat. The reference that the streamed writer's file is
    compared with, byte for byte."""
    import polars
    import pyreadstat

    columns = export.columns
    kinds = {index: "number" for how, index in export.targets.questions.values() if how == _NUMBER}
    kinds.update(
        {index: "rank" for how, index, _ in export.targets.choices.values() if how == _RANK}
    )
    dtypes = [_sav_dtype(column, kinds.get(index, "")) for index, column in enumerate(columns)]
    texts = set(export.indexes("text"))
    chunks: list[list[Any]] = [[] for _ in columns]
    count = 0

    def flush(batch: list[list[Any]]) -> None:
        for index, values in enumerate(zip(*batch, strict=True)):
            if index in texts:
                values = tuple("" if v is None else v for v in values)
            chunks[index].append(polars.Series(columns[index].name, values, dtype=dtypes[index]))

    batch: list[list[Any]] = []
    for row in export.rows():
        batch.append(row)
        if len(batch) == SAV_ROWS_PER_CHUNK:
            flush(batch)
            count += len(batch)
            batch = []
    if batch or not count:
        flush(batch or [[None] * len(columns)])
        count += len(batch)
    frame = polars.DataFrame([polars.concat(series, rechunk=False) for series in chunks])
    if not count:
        frame = frame.clear()
    pyreadstat.write_sav(frame, str(path), **sav_dictionary(export))
    return count
