"""What happens to work jobs, announced for whoever counts it (metrics, logs), through
blinker signals like Flask's own. Senders pass the objects; receivers must not fail."""

from blinker import Namespace

_signals = Namespace()

# sender: the claiming user; claimed: [claims.Claimed], worker_id: str
jobs_claimed = _signals.signal("jobs-claimed")
# sender: the job (after the change); outcome: processed, failed, retrying, released,
# canceled or lease_expired; attempt: the JobAttempt that ended
attempt_ended = _signals.signal("attempt-ended")
