"""Mutation testing of the modules that guard data and delivery (`make mutation`).

Runs mutmut (configured in pyproject.toml, [tool.mutmut]) module by module, on the functions each
guarding module names below, niced and with at most two test processes at a time; then writes
docs/mutation-survivors.md: the score of each module and every surviving mutant with its diff
and the reason it survives (docs/mutation-explanations.toml: killed by a test since, or
equivalent). Results stay in mutants/ between runs: `--report` rewrites the file from them.

    python tools/mutation.py                    # every module, then the report
    python tools/mutation.py --module tokens    # one module (repeatable), then the report
    python tools/mutation.py --survivors        # only the last run's survivors (new tests)
    python tools/mutation.py --report           # the report from the last results only
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
REPORT = ROOT / "docs" / "mutation-survivors.md"
EXPLANATIONS = ROOT / "docs" / "mutation-explanations.toml"
MUTMUT = [str(Path(sys.executable).parent / "mutmut")]
TARGET = 90.0


@dataclass
class Module:
    key: str
    title: str
    patterns: list[str]
    # The test files that prove this module's rules: a mutant runs those of them that called
    # its function (mutmut's coverage), not every test that happens to pass through it.
    tests: list[str]
    # A helper rewriting this code meanwhile: its survivors may move.
    rewritten_by: str = ""
    notes: list[str] = field(default_factory=list)


def _functions(module: str, *names: str) -> list[str]:
    return [f"{module}.{name}__mutmut_*" for name in names]


# In the order they run: the cheapest first.
MODULES = [
    Module(
        "tokens",
        "Personal tokens and their lookup",
        ["surveys.questionnaire.invitations.*"],
        [
            "tests/questionnaire/test_token_privacy.py",
            "tests/questionnaire/test_invitations.py",
            "tests/questionnaire/test_respondent_flow.py",
            "tests/outreach/test_opt_out.py",
        ],
    ),
    Module(
        "roles",
        "Roles and permission helpers",
        ["accounts.roles.*", *_functions("surveys.outreach.admin", "xǁWaveAdminǁ_wave")],
        [
            "tests/accounts/",
            "tests/outreach/test_admin_outreach.py",
            "tests/results/test_small_cells.py",
            "tests/results/test_exports.py",
        ],
    ),
    Module(
        "responses",
        "Response save and submit",
        ["surveys.questionnaire.responses.*"],
        [
            "tests/questionnaire/test_response_services.py",
            "tests/questionnaire/test_respondent_flow.py",
            "tests/questionnaire/test_concurrent_submit.py",
            "tests/questionnaire/test_conditional_display.py",
            "tests/questionnaire/test_questionnaire.py",
        ],
    ),
    Module(
        "rates",
        "Statistics' rates and rounding",
        [
            *_functions("surveys.questionnaire.types.base", "x_percent", "x_mean_rounded"),
            *_functions("surveys.results.statistics", "x__rates"),
            *_functions("surveys.results.report", "x_percent_wording", "x_whole_percent"),
        ],
        [
            "tests/results/test_statistics.py",
            # The statistics pages are served by the summaries (summaries.py calls _rates).
            "tests/results/test_summaries_exact.py",
            "tests/results/test_report.py",
            "tests/questionnaire/test_question_types.py",
        ],
    ),
    Module(
        "exports",
        "Export neutralisation and identification",
        _functions(
            "surveys.results.exports",
            "x_cell_text_neutralise",
            "x__xlsx_text",
            # The CSV neutralises its text cells itself (a loop over the text columns).
            "x_responses_export_csv",
            "x_respondent_pseudonym",
            # The identification cells of a row: on PostgreSQL (_identification_cells, what
            # runs), elsewhere (_response_rows, the portable rows).
            "x__identification_cells",
            "xǁResponsesExportǁ_response_rows",
        ),
        [
            "tests/results/test_exports.py",
            "tests/results/test_export_jobs.py",
            # The PostgreSQL rows against the portable rows, for both identifications.
            "tests/results/test_export_streaming.py",
        ],
    ),
    Module(
        "waves",
        "Wave launch and scheduling",
        ["surveys.outreach.waves.*"],
        [
            "tests/outreach/test_waves.py",
            "tests/outreach/test_wave_scheduling.py",
            "tests/outreach/test_admin_outreach.py",
            "tests/outreach/test_send_rules.py",
        ],
    ),
    Module(
        "reminders",
        "Reminders",
        ["surveys.outreach.reminders.*"],
        ["tests/outreach/test_reminders.py", "tests/outreach/test_wave_scheduling.py"],
    ),
    Module(
        "send",
        "The send path: claim, eligibility re-check, status write, retries, sweep",
        ["surveys.outreach.deliveries.*", "surveys.outreach.sweep.*"],
        [
            "tests/outreach/test_send_rules.py",
            "tests/outreach/test_waves.py",
            "tests/outreach/test_reminders.py",
            "tests/outreach/test_opt_out.py",
            "tests/outreach/test_tracking_webhook.py",
            # The sweep's own tests (it launches scheduled waves).
            "tests/outreach/test_wave_scheduling.py",
        ],
        notes=[
            "surveys/outreach/tasks.py has no mutant: mutmut 3 leaves decorated functions "
            "alone, and both tasks are `@shared_task` wrappers of services (tests/test_tasks.py "
            "checks that they are registered under the names the services queue); the send "
            "task's one rule, when to retry by a countdown, is `retry_countdown` in "
            "deliveries.py, mutated with it.",
        ],
    ),
]

# mutmut's exit codes (mutmut/stats.py): a kill is a failing test run; a timeout also means the
# mutant changed what the code does (it never finished).
KILLED = {1, 3}
TIMEOUT = {-24, 24, 152, 255, 36}


def status(exit_code: int | None) -> str:
    if exit_code in KILLED:
        return "killed"
    if exit_code in TIMEOUT:
        return "timeout"
    if exit_code == 0:
        return "survived"
    if exit_code in {5, 33}:
        return "no tests"
    if exit_code is None:
        return "not checked"
    return f"exit {exit_code}"


def results() -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.meta"):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def of_module(module: Module, every: dict[str, int | None]) -> dict[str, int | None]:
    return {
        name: code
        for name, code in sorted(every.items())
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in module.patterns)
    }


def database_prepare() -> None:
    """Migrate the database DATABASE_URL names: each test process copies it as its own test
    database (tests/conftest.py, ECCP_MUTATION), and drop copies that killed runs left."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
    subprocess.run([*manage, "createcachetable"], cwd=ROOT, check=True)
    drop = (
        "from django.db import connection\n"
        "name = connection.settings_dict['NAME']\n"
        "with connection._nodb_cursor() as cursor:\n"
        "    cursor.execute('SELECT datname FROM pg_database WHERE datname LIKE %s',"
        " [f'test_{name}_mutant_%'])\n"
        "    for (stale,) in cursor.fetchall():\n"
        "        cursor.execute(f'DROP DATABASE IF EXISTS \"{stale}\"')\n"
    )
    subprocess.run([*manage, "shell", "--no-imports", "-c", drop], cwd=ROOT, check=True)


def tests_selected_check() -> None:
    """Every module's test files are among those mutmut's statistics run runs (pyproject.toml,
    pytest_add_cli_args_test_selection): a file missing there would be run for no mutant."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    selected = tuple(config["pytest_add_cli_args_test_selection"])
    missing = sorted(
        path for module in MODULES for path in module.tests if not path.startswith(selected)
    )
    if missing:
        sys.exit(f"not in [tool.mutmut] pytest_add_cli_args_test_selection: {missing}")


def run(module: Module, *, survivors_only: bool = False) -> None:
    env = {**os.environ, "ECCP_MUTATION": "1", "ECCP_MUTATION_TESTS": " ".join(module.tests)}
    names = module.patterns
    if survivors_only:
        # The module's mutants that no test killed in the last run, except those explained as
        # equivalent: after new tests, only those need running again (mutmut re-runs the
        # mutants it is given by name). Changing [tool.mutmut] in pyproject.toml (a test file
        # added to the selection) makes mutmut forget every result: run everything then.
        explanations = tomllib.loads(EXPLANATIONS.read_text()) if EXPLANATIONS.exists() else {}
        names = [
            name
            for name, code in of_module(module, results()).items()
            if status(code) in {"survived", "no tests"}
            and not str(explanations.get(name, "")).startswith("equivalent")
        ]
        if not names:
            print(f"== {module.title}: no survivor to run again", flush=True)
            return
    command = ["nice", "-n", "15", *MUTMUT, "run", "--max-children", "2", *names]
    print(f"== {module.title}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    print(f"== {module.title}: {time.monotonic() - started:.0f} s", flush=True)


def diff(name: str) -> str:
    shown = subprocess.run(
        [*MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("-", "+"))]
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def report() -> bool:
    every = results()
    explanations = tomllib.loads(EXPLANATIONS.read_text()) if EXPLANATIONS.exists() else {}
    lines = [
        "# Surviving mutants",
        "",
        "Written by `make mutation` (tools/mutation.py) from mutmut's results; the reasons come",
        "from docs/mutation-explanations.toml. Score: mutants killed (a test failed, or the run",
        "timed out) out of all mutants of the module's functions. How it runs, and what it",
        "cannot reach: docs/mutation-testing.md.",
        "",
        "The last column leaves out the survivors explained as equivalent (no behaviour can tell",
        "them from the original, so no test can kill them).",
        "",
        "| module | mutants | killed | timeout | survived | no tests | not checked | score |"
        " equivalent | score without them |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    all_good = True
    for module in MODULES:
        mine = of_module(module, every)
        counts = {s: 0 for s in ("killed", "timeout", "survived", "no tests", "not checked")}
        for code in mine.values():
            counts[status(code)] = counts.get(status(code), 0) + 1
        total = len(mine)
        dead = counts["killed"] + counts["timeout"]
        score = 100 * dead / total if total else 0.0
        alive = [name for name, code in mine.items() if status(code) in {"survived", "no tests"}]
        equivalent = sum(str(explanations.get(name, "")).startswith("equivalent") for name in alive)
        scored = total - equivalent
        score_net = 100 * dead / scored if scored else 0.0
        all_good &= score_net >= TARGET and not counts["not checked"]
        if counts["not checked"] == total:
            shown, shown_net = "not run", "not run"
        else:
            partly = " (part checked)" if counts["not checked"] else ""
            shown, shown_net = f"{score:.1f}%{partly}", f"{score_net:.1f}%{partly}"
        lines.append(
            f"| {module.title} | {total} | {counts['killed']} | {counts['timeout']} | "
            f"{counts['survived']} | {counts['no tests']} | {counts['not checked']} | "
            f"{shown} | {equivalent} | {shown_net} |"
        )
        details += ["", f"## {module.title}", ""]
        if module.rewritten_by:
            details.append(
                f"This code is being rewritten by helper `{module.rewritten_by}`: the entries "
                "below describe the code as mutated here, and may move with the rewrite."
            )
            details.append("")
        details += [f"Note: {note}" for note in module.notes]
        if module.notes:
            details.append("")
        if counts["not checked"] == total:
            details.append("Not run.")
        elif not alive:
            details.append("No survivor.")
        for name in alive:
            reason = explanations.get(name, "NOT EXPLAINED YET")
            all_good &= name in explanations
            details += [
                f"### `{name}` ({status(mine[name])})",
                "",
                "```diff",
                diff(name),
                "```",
                "",
                str(reason),
                "",
            ]
    REPORT.write_text("\n".join([*lines, *details]).rstrip() + "\n")
    print("\n".join(lines))
    print(f"Wrote {REPORT.relative_to(ROOT)}")
    return all_good


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=[m.key for m in MODULES])
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run again only the mutants that survived the last run (after new tests)",
    )
    options = parser.parse_args()
    if not options.report:
        tests_selected_check()
        database_prepare()
        for module in MODULES:
            if not options.module or module.key in options.module:
                run(module, survivors_only=options.survivors)
        database_prepare()
    return 0 if report() else 1


if __name__ == "__main__":
    sys.exit(main())
