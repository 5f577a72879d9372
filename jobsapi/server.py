"""Serve an app with waitress and the access log, its scheduler running, until SIGTERM."""

import logging
import signal
import sys

import waitress

from . import logwriter
from .accesslog import AccessLog

log = logging.getLogger("jobsapi")


def serve(app):
    """Listen on JOBSAPI_HOST:JOBSAPI_PORT, start the scheduler (unless JOBSAPI_SCHEDULER
    is off), serve until SIGTERM or Ctrl-C, then stop the scheduler. Call it from the main
    thread: it installs the SIGTERM handler. When the address cannot be had it exits with
    one line saying why, before anything has started."""
    config = app.config
    host, port = config["JOBSAPI_HOST"], config["JOBSAPI_PORT"]
    access_log = AccessLog(app)
    try:
        # waitress binds in create_server: fail here, before the log writer and the
        # scheduler start, rather than after telling the world it serves.
        server = waitress.create_server(
            access_log, host=host, port=port, threads=config["JOBSAPI_THREADS"], ident="jobsapi",
        )
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    log_writer = logwriter.configure(config["JOBSAPI_LOG_LEVEL"],
                                    log_format=config["JOBSAPI_LOG_FORMAT"])
    # Under load waitress warns about its task queue on every request; keep errors only.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    scheduler = app.extensions["jobsapi.scheduler"]
    try:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        for address in _addresses(server):
            log.info("serving on http://%s:%s", *address)
        if config["JOBSAPI_SCHEDULER"]:
            scheduler.start()
        server.run()  # returns on SIGTERM or Ctrl-C: waitress catches SystemExit in it
    finally:
        scheduler.stop()
        log.info("stopped")
        log_writer.stop()


def _exit_on_sigterm(signum, frame):
    # waitress swallows SystemExit raised in its threads, not in the main one: exit here.
    sys.exit(0)


def _reason(error):
    """`Address already in use` as `address already in use`."""
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


def _addresses(server):
    """The (host, port) pairs `server` listens on: waitress makes one server per address."""
    listen = getattr(server, "effective_listen", None)
    return listen or [(server.effective_host, server.effective_port)]
