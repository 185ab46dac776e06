"""The XLSX writers measured for the responses export, on the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_exports \\
        .venv/bin/python bench/xlsx_writers.py [--responses 100000] [--rows 20000]

Reads the first --rows rows of the bench survey `bench-exports-<responses>` (built by
bench/exports.py) into memory once, then writes them as the "Responses" sheet with each
writer, each in a child process of its own (so that its peak memory is its own), and prints
seconds of CPU and wall time, the file size and the peak memory (RSS) of the child:
- openpyxl 3.1 in write-only mode (what the export used before),
- XlsxWriter 3.3 in constant_memory mode, a cell at a time (write_row writes blanks too),
- rustpy-xlsxwriter 0.8 (Rust rust_xlsxwriter behind a Python binding), fed dicts.
"""

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
WRITERS = ("openpyxl", "xlsxwriter", "rustpy_xlsxwriter")


def rows_dump(responses: int, count: int, path: Path) -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eccp_survey.settings")
    import itertools

    import django

    django.setup()
    from surveys.models import Survey
    from surveys.results.exports import responses_export_prepare
    from surveys.results.filters import StatsFilter

    survey = Survey.objects.get(slug=f"bench-exports-{responses}")
    export = responses_export_prepare(survey=survey, filters=StatsFilter(), identified=True)
    rows = list(itertools.islice(export.rows(), count))
    path.write_bytes(pickle.dumps((export.names, rows)))


def write(writer: str, source: Path, target: Path) -> dict:
    names, rows = pickle.loads(source.read_bytes())
    started, cpu = time.perf_counter(), time.process_time()
    if writer == "openpyxl":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Responses")
        sheet.append(names)
        for row in rows:
            sheet.append(row)
        workbook.save(target)
    elif writer == "xlsxwriter":
        import xlsxwriter

        workbook = xlsxwriter.Workbook(str(target), {"constant_memory": True})
        sheet = workbook.add_worksheet("Responses")
        sheet.write_row(0, 0, names)
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        number, string, moment_write = sheet.write_number, sheet.write_string, sheet.write_datetime
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    string(r, c, value)
                elif hasattr(value, "year"):
                    moment_write(r, c, value, moment)
                else:
                    number(r, c, value)
        workbook.close()
    else:
        from rustpy_xlsxwriter import FastExcel

        FastExcel(str(target)).sheet(
            "Responses", (dict(zip(names, row, strict=True)) for row in rows)
        ).save()
    return {
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - started,
        "size": target.stat().st_size,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        writer, source, target = args.child
        print(json.dumps(write(writer, Path(source), Path(target))))
        return
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "rows.pickle"
        rows_dump(args.responses, args.rows, source)
        print(f"{args.rows:,} rows of bench-exports-{args.responses}; load: {os.getloadavg()}")
        for writer in WRITERS:
            target = f"{folder}/{writer}.xlsx"
            out = subprocess.run(
                [sys.executable, __file__, "--child", writer, str(source), target],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(out.stdout)
            print(
                f"  {writer:18} {figures['cpu']:6.2f} s CPU  {figures['wall']:6.2f} s wall  "
                f"{figures['rows'] / figures['cpu']:8,.0f} rows/s CPU  "
                f"{figures['size'] / 1e6:6.1f} MB  peak {figures['peak']:5.0f} MB"
            )


if __name__ == "__main__":
    main()
