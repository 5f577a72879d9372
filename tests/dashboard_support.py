"""What the dashboard's tests share: users made through the API, a browser-like client
signed in to the dashboard, and jobs brought to a status the way workers bring them."""

import re
import secrets

from conftest import ADMIN_PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
JOB = {"operation": "summarize", "prompts": ["p"], "model": "m", "requestData": {"k": 1}}


class World:
    """An app's test clients: the admin's API token, and users made on demand."""

    def __init__(self, app):
        self.app = app
        self.api = app.test_client()
        self.token = self.login_api("admin", ADMIN_PASSWORD)
        self.passwords = {"admin": ADMIN_PASSWORD}

    def login_api(self, username, password):
        response = self.api.post("/api/auth/login", json={"username": username,
                                                          "password": password})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["accessToken"]

    def headers(self, token=None):
        return {"Authorization": f"Bearer {token or self.token}"}

    def user(self, role="client", permissions=()):
        """A new user's name (its password kept in self.passwords)."""
        username, password = f"{role}-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
        response = self.api.post("/api/users", headers=self.headers(), json={
            "username": username, "password": password, "role": role,
            "permissions": list(permissions)})
        assert response.status_code == 201, response.get_data(as_text=True)
        self.passwords[username] = password
        return username

    def browser(self, username=None, **kwargs):
        """A test client signed in to the dashboard as `username` (None: signed out)."""
        return Browser(self.app, username, self.passwords.get(username), **kwargs)

    def jobs(self, username, count=1, **fields):
        """Create jobs as `username`; their ids."""
        token = self.login_api(username, self.passwords[username])
        response = self.api.post("/jobs/batch", headers=self.headers(token),
                                 json={"jobs": [{**JOB, **fields} for _ in range(count)]})
        assert response.status_code == 201, response.get_data(as_text=True)
        return [job["jobId"] for job in response.get_json()]

    def fail(self, model, count, error, processed=0):
        """Claim `count` + `processed` jobs of `model` as a worker: fail `count` of them
        for good with `error`, complete the rest."""
        worker = getattr(self, "_worker", None) or self.user("client", ["jobs.work"])
        self._worker = worker
        token = self.login_api(worker, self.passwords[worker])
        response = self.api.post("/jobs/claim", headers=self.headers(token), json={
            "workerId": "w-1", "limit": count + processed, "models": [model]})
        claimed = response.get_json()["jobs"]
        assert len(claimed) == count + processed, response.get_data(as_text=True)
        for index, job in enumerate(claimed):
            lease = job["lease"]["token"]
            if index < count:
                body = {"leaseToken": lease, "error": {**error, "retryable": False}}
                path = f"/jobs/{job['jobId']}/fail"
            else:
                body, path = {"leaseToken": lease}, f"/jobs/{job['jobId']}/complete"
            answer = self.api.post(path, headers=self.headers(token), json=body)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        return [job["jobId"] for job in claimed]

    def job(self, job_id):
        response = self.api.get(f"/jobs/{job_id}", headers=self.headers())
        return response.get_json() if response.status_code == 200 else None

    def activities(self, action):
        response = self.api.get(f"/api/activities?action={action}", headers=self.headers())
        return response.get_json()["activities"]


class Browser:
    """A test client that signs in through the form and sends the CSRF token as a
    browser would (from the page it was given)."""

    def __init__(self, app, username, password, base_url="http://localhost"):
        self.client = app.test_client()
        self.base_url = base_url
        self.csrf = None
        if username:
            response = self.sign_in(username, password)
            assert response.status_code == 302, response.get_data(as_text=True)

    def get(self, path, **kwargs):
        response = self.client.get(path, base_url=self.base_url, **kwargs)
        found = CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path, data=None, csrf=True, htmx=False, **kwargs):
        data = dict(data or {})
        if csrf:
            if self.csrf is None:
                self.get("/dashboard/login")
            data.setdefault("csrf_token", self.csrf)
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(path, data=data, headers=headers, base_url=self.base_url,
                                **kwargs)

    def sign_in(self, username, password):
        self.get("/dashboard/login")
        response = self.post("/dashboard/login", {"username": username, "password": password})
        if response.status_code == 302:  # a new session: the pages carry its new token
            self.get("/dashboard/")
        return response

    def text(self, path):
        response = self.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]
        return response.get_data(as_text=True)
