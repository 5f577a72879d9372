"""Firing: which slots are due, and claiming them through the database, once each."""

import datetime as dt
import functools
import logging

import peewee as pw

from . import cron
from .models import JobRun, ScheduledJob, write_transaction

log = logging.getLogger("schedules")

CHUNK = 500  # rows per INSERT


@functools.lru_cache(maxsize=8192)
def next_fire(expression, after, tz_name):
    return cron.next_fire(expression, after, cron.zone(tz_name))


@functools.lru_cache(maxsize=1024)
def previous_fire(expression, at, tz_name):
    return cron.previous_fire(expression, at, cron.zone(tz_name))


class SlotClaims:
    """The Scheduler's firing half: `tick` finds the due slots and claims them."""

    def tick(self, now=None):
        """Claim every due slot; return (claimed runs, the next fire time or None)."""
        now = now or self.clock()
        due, soonest = [], None
        # Read all rows first: a SELECT still being stepped holds a read snapshot, and
        # BEGIN IMMEDIATE from a snapshot fails at once ("database is locked") instead of
        # waiting its turn while another connection writes.
        for row in list(ScheduledJob.select()):
            if row.id not in self.registry or not self.is_scheduled(row):
                continue
            try:
                expression = self.schedule_of(row)
                first = next_fire(expression, row.last_slot or now, self.timezone)
                if first <= now:
                    due.append(row.id)
                    first = next_fire(expression, now, self.timezone)
            except Exception:  # one broken job must not stop the others
                log.exception("scheduling job %s failed", row.id)
                continue
            soonest = first if soonest is None else min(soonest, first)
        return self._claim_all(due, now), soonest

    def _claim_all(self, job_ids, now):
        """Claim the due jobs' slots in one write transaction; return the runs to start.

        Each job's row is read again inside the transaction: a slot another process
        already handled (its last_slot moved on) is left alone. The slot is marked
        handled even when a run row for it exists already, so a job can never get stuck
        re-claiming one slot; the unique (job, slot) and one-running-run-per-job indexes
        make every insert a no-op rather than a duplicate.
        """
        if not job_ids:
            return []
        handled, records, starts = {}, [], {}
        with write_transaction(self.db):
            rows = {row.id: row for row in ScheduledJob.select().where(
                ScheduledJob.id.in_(job_ids))}
            active = dict(JobRun.select(JobRun.job, JobRun.id).where(
                JobRun.result == "running").tuples())
            for job_id in job_ids:
                try:
                    plan = self._plan(rows.get(job_id), now, active.get(job_id))
                except Exception:  # one broken job must not stop the others
                    log.exception("claiming a slot of %s failed", job_id)
                    continue
                if plan is not None:
                    latest, job_records, start = plan
                    handled.setdefault(latest, []).append(job_id)
                    records.extend(job_records)
                    if start:
                        starts[job_id] = latest
            # updated_at stays: it marks admins' changes, which make the loops read again.
            for slot, ids in handled.items():
                ScheduledJob.update(last_slot=slot).where(ScheduledJob.id.in_(ids)).execute()
            for chunk in _chunks(records):
                JobRun.insert_many(chunk).on_conflict_ignore().execute()
            claimed = self._insert_runs(starts, now)
        self._inflight.update(run.id for run in claimed)
        if claimed:
            self._bell.ring()
        return claimed

    def _insert_runs(self, starts, now):
        """Insert a running run per {job: slot}; the ones inserted, as JobRun objects."""
        claimed = []
        for chunk in _chunks(list(starts.items())):
            values = [dict(job=job_id, scheduled_for=slot, started_at=now, result="running",
                           triggered_by="scheduler", owner=self.owner, heartbeat_at=now)
                      for job_id, slot in chunk]
            inserted = JobRun.insert_many(values).on_conflict_ignore().returning(
                JobRun.id, JobRun.job).tuples().execute()
            claimed.extend(JobRun(id=run_id, job=job_id, scheduled_for=starts[job_id],
                                  started_at=now, result="running", triggered_by="scheduler",
                                  owner=self.owner) for run_id, job_id in inserted)
        return claimed

    def _plan(self, row, now, active_run_id):
        """What to do for a due job: (slot to mark handled, rows to record, start a run?)."""
        if row is None or not self.is_scheduled(row):
            return None
        expression = self.schedule_of(row)
        first = next_fire(expression, row.last_slot or now, self.timezone)
        if first > now:
            return None  # another process took this slot
        if next_fire(expression, first, self.timezone) > now:
            latest = first  # the usual case: exactly one slot is due
        else:
            latest = max(previous_fire(expression, now, self.timezone), first)
        if now - latest > self.misfire_grace:
            missed = self._missed(expression, first, latest)
            return latest, [_finished(row.id, first, "missed", now, missed)], False
        records = []
        if first < latest:
            earlier = cron.previous_fire(expression, latest - dt.timedelta(seconds=1),
                                         cron.zone(self.timezone))
            records.append(_finished(row.id, first, "missed", now,
                                     self._missed(expression, first, earlier)))
        if active_run_id is not None:
            records.append(_finished(row.id, latest, "skipped", now,
                                     f"Still running (run {active_run_id})."))
            return latest, records, False
        return latest, records, True

    def _missed(self, expression, first, last):
        """The details of a `missed` row for the slots from `first` to `last`."""
        count = len(cron.fires_between(expression, first - dt.timedelta(microseconds=1), last,
                                       cron.zone(self.timezone), limit=10000))
        more = "+" if count >= 10000 else ""
        if count <= 1:
            return f"Missed the slot of {first.isoformat()}Z while the service was down."
        return (f"Missed {count}{more} slots from {first.isoformat()}Z to "
                f"{last.isoformat()}Z while the service was down.")

    @staticmethod
    def jobs_version():
        """The newest updated_at among the jobs: it moves when an admin changes one."""
        return ScheduledJob.select(pw.fn.MAX(ScheduledJob.updated_at)).scalar()


def _finished(job_id, slot, result, now, details):
    """The row of a slot that ends as soon as it is recorded (skipped or missed)."""
    return dict(job=job_id, scheduled_for=slot, started_at=now, completed_at=now,
                duration_ms=0, result=result, triggered_by="scheduler", details=details)


def _chunks(items, size=CHUNK):
    return (items[start:start + size] for start in range(0, len(items), size))
