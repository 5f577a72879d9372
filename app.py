"""Entry point: build the app, serve it with waitress, stop cleanly on SIGTERM."""

import jobsapi
from jobsapi import create_app  # noqa: F401  (`flask --app app` finds the factory here)


def main():
    jobsapi.serve(jobsapi.create_app())


if __name__ == "__main__":
    main()
