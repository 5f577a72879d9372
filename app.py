"""Entry point: build the app, serve it with waitress, stop cleanly on SIGTERM."""

import jobsapi


def main():
    jobsapi.serve(jobsapi.create_app())


if __name__ == "__main__":
    main()
