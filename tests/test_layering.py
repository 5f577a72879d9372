"""The engine stands alone: `schedules` never imports flask or jobsapi (jobsapi → schedules only)."""

import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGINE = ROOT / "schedules"
# playhouse ships with peewee; psycopg is PostgreSQL's driver (wake-ups there: notify.py)
ALLOWED_THIRD_PARTY = {"peewee", "playhouse", "croniter", "psycopg"}


def test_importing_schedules_loads_neither_flask_nor_jobsapi():
    code = ("import json, schedules, sys; "
            "print(json.dumps(sorted(name for name in sys.modules "
            "if name.split('.')[0] in ('flask', 'jobsapi', 'schedules'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, check=True)
    loaded = json.loads(result.stdout)
    assert "schedules.engine" in loaded  # the import did happen
    assert [name for name in loaded if not name.startswith("schedules")] == []


def test_no_engine_file_mentions_flask_or_jobsapi():
    files = sorted(ENGINE.rglob("*.py"))
    assert files
    for path in files:
        text = path.read_text()
        assert "import flask" not in text and "from flask" not in text, path
        assert "jobsapi" not in text, path


def test_the_engine_imports_only_the_standard_library_peewee_croniter_and_psycopg():
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (path, name)
