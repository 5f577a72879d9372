"""Entry point: build the app, serve it with waitress, stop cleanly on SIGTERM."""

import jobsapi


def main():
    jobsapi.serve(jobsapi.create_app())


if __name__ == "__main__":
    main()


def create_app():
    """The app `flask --app app ...` uses: the server's, except that it creates no
    database (nor secret key, nor admin) where none is; `users create` does, on purpose."""
    return jobsapi.create_app({"JOBSAPI_CREATE_DATABASE": False})
