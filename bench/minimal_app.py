"""The reads reference: a minimal Flask route returning a small JSON object, served by
waitress with the service's settings. Usage: python -m bench.minimal_app PORT THREADS"""

import sys

import waitress
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify({"status": "ok"})


@app.get("/jobs/<job_id>")
def job(job_id):
    return jsonify({"jobId": job_id, "status": "PENDING", "priority": 500})


if __name__ == "__main__":
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
                   ident="jobsapi")
