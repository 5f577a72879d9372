"""A worker handler: a stand-in for a language model that "summarizes" by truncating.

Run it from the repository against a server, with an API key of a user holding
jobs.work (see docs/running-workers.md):

    JOBSAPI_API_KEY=jak_... .venv/bin/python -m jobsapi.worker \\
        --url http://127.0.0.1:8000 --handler examples.worker_handler:handle
"""

from jobsapi.worker import Permanent, Result

MAX_WORDS = 8


def handle(job):
    """Each prompt cut to its first words; token counts as the processing metrics."""
    if job["operation"] != "summarize":
        raise Permanent(f"unsupported operation: {job['operation']}")
    max_words = job["requestData"].get("maxWords", MAX_WORDS)
    if not isinstance(max_words, int) or max_words < 1:
        raise Permanent("requestData.maxWords must be a positive integer")
    # A real model call goes here. On a rate limit or a timeout, raise
    # Retry("rate limited", after=30): the job is tried again later.
    summaries = [" ".join(prompt.split()[:max_words]) for prompt in job["prompts"]]
    return Result(
        response_data={"summaries": summaries, "model": job["model"]},
        processing_metrics={"promptTokens": tokens(job["prompts"]),
                            "completionTokens": tokens(summaries)},
    )


def tokens(texts):
    """Words stand in for tokens."""
    return sum(len(text.split()) for text in texts)
