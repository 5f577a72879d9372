"""Realistic work-job bodies: a few operations and models, prompts and request data of
the size an LLM job carries."""

import json
import random

OPERATIONS = ("summarize", "classify", "extract", "translate")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b")
TEXTS = tuple(
    f"Ticket {n}: the customer reports that the export of monthly invoices stops at page "
    f"{n * 7} with a timeout; they tried twice from the web app and once from the API, and "
    "they need the file for their accountant before the end of the week."
    for n in range(1, 9)
)


def job(rng, index):
    """One job body as a client posts it."""
    text = TEXTS[index % len(TEXTS)]
    return {
        "operation": OPERATIONS[index % len(OPERATIONS)],
        "prompts": [f"Summarize ticket {index} for the support lead in two sentences.", text],
        "model": MODELS[rng.randrange(len(MODELS))],
        "temperature": round(rng.uniform(0, 1), 2),
        "priority": rng.randint(1, 1000),
        "requestData": {"ticketId": f"T-{index}", "language": "en", "maxTokens": 256},
        "clientReference": {"ref": f"order-{index % 5000}", "batch": f"b-{index // 1000}"},
    }


def create_batch(size, seed):
    """The body of POST /jobs/batch with `size` jobs."""
    rng = random.Random(seed)
    return json.dumps({"jobs": [job(rng, seed * size + n) for n in range(size)]}).encode()


def update_batch(job_ids, status, priority):
    """The body of PATCH /jobs/batch: a worker moving `job_ids` to `status`."""
    return json.dumps(
        {"jobs": [{"jobId": job_id, "status": status, "priority": priority} for job_id in job_ids]}
    ).encode()


def update_rounds(groups, rounds):
    """`rounds` update bodies cycling over `groups` of job ids (all PENDING at first):
    each pass over the groups moves them PENDING -> PROCESSING or back, both allowed."""
    bodies = []
    for round_ in range(rounds):
        group = groups[round_ % len(groups)]
        status = "PROCESSING" if (round_ // len(groups)) % 2 == 0 else "PENDING"
        bodies.append(update_batch(group, status, round_ % 1000 + 1))
    return bodies
