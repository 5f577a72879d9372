"""Backups through real servers: a backup made by the service restores to a working one."""

import re
import secrets
import shutil

from conftest import ADMIN_PASSWORD, Api, LiveServer, wait_for

JOB = {"operation": "summarize", "prompts": ["p"], "model": "m", "requestData": {"k": 1}}


def created(response):
    assert response.status_code == 201, response.text
    return response.json()


def finished_run(api, job_id, run_id):
    def entry():
        logs = api.get(f"/api/jobs/{job_id}/logs", params={"limit": 100}).json()["logs"]
        found = next((log for log in logs if log["id"] == run_id), None)
        return found if found and found["result"] != "running" else None

    return wait_for(entry, timeout=30)


def test_a_backup_restores_as_the_readme_says(tmp_path):
    """Back up through the trigger, stop, copy the backup over a database file, start."""
    username, password = f"client-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    first = LiveServer(tmp_path / "first", JOBSAPI_SCHEDULER="0")
    (tmp_path / "first").mkdir()
    first.start()
    try:
        admin = Api(first, "admin", ADMIN_PASSWORD)
        created(admin.post("/api/users", json={"username": username, "password": password}))
        client = Api(first, username, password)
        kept = created(client.post("/jobs", json=JOB))["jobId"]
        run_id = admin.post("/api/jobs/backup-database/trigger").json()["runId"]
        run = finished_run(admin, "backup-database", run_id)
        assert run and run["result"] == "success", run
        backup = re.fullmatch(r"Backed up the database to (\S+) \((\d+) bytes\); "
                              r"removed 0 older backups", run["details"])
        assert backup, run["details"]
        later = created(client.post("/jobs", json=JOB))["jobId"]  # after the backup
    finally:
        first.stop()

    (tmp_path / "restored").mkdir()
    restored = LiveServer(tmp_path / "restored", JOBSAPI_SCHEDULER="0")
    shutil.copyfile(backup.group(1), restored.database)
    assert restored.database.stat().st_size == int(backup.group(2))
    restored.start()
    try:
        client = Api(restored, username, password)
        assert client.get(f"/jobs/{kept}").status_code == 200
        assert client.get(f"/jobs/{later}").status_code == 404
        admin = Api(restored, "admin", ADMIN_PASSWORD)
        assert admin.get("/api/users").status_code == 200
    finally:
        restored.stop()
