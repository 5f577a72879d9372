"""jobsapi inside an app of your own: your routes, your task, served like `make run`.

Run it from the repository, once `make run` has installed the service:

    .venv/bin/python examples/embedded.py

It reads the JOBSAPI_* environment variables app.py reads (JOBSAPI_PORT,
JOBSAPI_DATABASE, ...) and stops on Ctrl-C or SIGTERM.
"""

import flask

import jobsapi
from jobsapi.scheduling import registry

CATALOG = ["red", "green", "blue"]  # stands in for your external source

site = flask.Blueprint("site", __name__)


@site.get("/hello")
def hello():
    return {"hello": "from the site"}


# Register tasks before the app is built: building it records them in the database.
@registry.task("catalog-sync", name="Catalog Sync",
               description="Synchronizes the catalog from external sources",
               schedule="0 */6 * * *")
def catalog_sync(context):
    synced = 0
    for item in CATALOG:
        if context.stopping:  # the service is stopping: return what was done
            break
        context.logger.info("synced %s", item)
        synced += 1
    return f"Synced {synced} items"


if __name__ == "__main__":
    app = jobsapi.create_app()
    app.register_blueprint(site)
    jobsapi.serve(app)  # returns after SIGTERM or Ctrl-C, the scheduler stopped
