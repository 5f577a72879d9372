"""Entry point: build the app, serve it with waitress, stop cleanly on SIGTERM."""

import logging
import signal
import sys

import waitress

from jobsapi import create_app, logwriter
from jobsapi.accesslog import AccessLog
from jobsapi.scheduling import scheduler


def _exit_on_sigterm(signum, frame):
    # waitress swallows SystemExit raised in its threads, not in the main one: exit here.
    sys.exit(0)


def main():
    app = create_app()
    log_writer = logwriter.configure(app.config["JOBSAPI_LOG_LEVEL"])
    # Under load waitress warns about its task queue on every request; keep errors only.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    host, port = app.config["JOBSAPI_HOST"], app.config["JOBSAPI_PORT"]
    logging.getLogger("jobsapi").info("serving on http://%s:%s", host, port)
    try:
        if app.config["JOBSAPI_SCHEDULER"]:
            scheduler.start()
        waitress.serve(
            AccessLog(app, defer=log_writer.defer),
            host=host,
            port=port,
            threads=app.config["JOBSAPI_THREADS"],
            ident="jobsapi",
        )
    finally:
        scheduler.stop()
        logging.getLogger("jobsapi").info("stopped")
        log_writer.stop()


if __name__ == "__main__":
    main()
