"""A real OpenID provider for tests: the OpenID Certified ``oidc-provider`` (npm) run with
Node.js from tests/oidc_provider, its accounts and signing keys in files a test may change,
and a small browser that signs in on its own login, consent and device pages.

Accounts seeded (any password signs them in): ``alice`` (staff), ``bob`` (students),
``carol`` (compax-admins) and ``dave`` (staff, eng-facilities). The client may redirect to
``WEB_REDIRECT_URI`` and to ``http://127.0.0.1:<any port>/callback`` or
``http://localhost:<any port>/callback``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import IO, NoReturn

import pytest
from joserfc.jwk import RSAKey

from tests.conftest import IN_CI

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_ID = "compax-tests"
CLIENT_SECRET = "compax-tests-client-secret"
WEB_REDIRECT_URI = "https://compax.campus.example/sso/callback"
LOOPBACK_REDIRECT_URIS = ("http://127.0.0.1/callback", "http://localhost/callback")
DEFAULT_ACCOUNT = "alice"
SEEDED_ACCOUNTS: dict[str, dict[str, object]] = {
    "alice": {"name": "Alice Mensah", "email": "alice@campus.example", "groups": ["staff"]},
    "bob": {"name": "Bob Owusu", "email": "bob@campus.example", "groups": ["students"]},
    "carol": {
        "name": "Carol Boateng",
        "email": "carol@campus.example",
        "groups": ["compax-admins"],
    },
    "dave": {
        "name": "Dave Asante",
        "email": "dave@campus.example",
        "groups": ["staff", "eng-facilities"],
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: oidc-provider 9 uses ``URL.parse``, which Node.js has since 20.18.
OLDEST_NODE = (20, 18)


def _cannot_run(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(message + " and CI=true forbids skipping")
    pytest.skip("SKIPPING OPENID PROVIDER TESTS: " + message)


def node_binary() -> str:
    """The ``node`` command with the provider's packages installed (``npm ci`` when they are
    missing); skipped loudly when Node.js is missing or too old here, a failure in CI."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        _cannot_run("Node.js is not installed (apt-get install -y nodejs npm); .ci/run does so")
    version = subprocess.run(
        [node, "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    if tuple(int(part) for part in version.lstrip("v").split(".")[:2]) < OLDEST_NODE:
        _cannot_run(f"oidc-provider needs Node.js 20.18 or later, and {node} is {version}")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(PROVIDER_DIR)],
            check=True,
            capture_output=True,
        )
    return node


def new_signing_keys(kid: str) -> dict[str, object]:
    """A JWKS holding one new RSA signing key named ``kid``, private parts included."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": [key.as_dict(private=True)]}


class _Forms(HTMLParser):
    """The forms of a page: each one's action and the values of its named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1][1][values["name"]] = values.get("value", "")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class _Page:
    url: str
    status: int
    location: str | None
    body: str


class _Browser:
    """One browser session (its own cookies) at the provider, redirects followed by hand so
    the one leaving the provider can be returned instead of followed."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirects()
        )

    def open(self, url: str, form: dict[str, str] | None = None) -> _Page:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self._opener.open(url, data=data, timeout=10) as response:
                return _Page(url, response.status, None, response.read().decode())
        except urllib.error.HTTPError as answer:
            location = answer.headers.get("Location")
            body = answer.read().decode(errors="replace")
            target = urllib.parse.urljoin(url, location) if location else None
            return _Page(url, answer.code, target, body)

    def until_leaving(self, page: _Page, account_id: str) -> str:
        """Follow redirects and fill the login and consent forms until a redirect leaves the
        provider; that redirect's URL."""
        for _ in range(20):
            if page.location is not None:
                if not page.location.startswith(self.issuer + "/"):
                    return page.location
                page = self.open(page.location)
            elif page.status == 200:
                page = self.submit(page, account_id)
            else:
                raise AssertionError(f"the provider answered {page.status}: {page.body[:500]}")
        raise AssertionError("the provider kept redirecting")

    def submit(self, page: _Page, account_id: str) -> _Page:
        """Fill and send the page's form: login, consent or device confirmation."""
        forms = _Forms()
        forms.feed(page.body)
        if not forms.forms:
            raise AssertionError(f"no form on the provider's page: {page.body[:500]}")
        action, fields = forms.forms[0]
        if fields.get("prompt") == "login":
            fields |= {"login": account_id, "password": "any-password"}
        return self.open(urllib.parse.urljoin(page.url, action), fields)


class OidcProvider:
    """oidc-provider on a free port of 127.0.0.1, its files in ``directory``; without
    ``claims_in_id_token`` its ID tokens carry no profile claims (nor groups), which only its
    userinfo endpoint gives."""

    def __init__(self, node: str, directory: Path, *, claims_in_id_token: bool = True) -> None:
        self.node = node
        self.claims_in_id_token = claims_in_id_token
        self.directory = directory
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.web_redirect_uri = WEB_REDIRECT_URI
        self.accounts_file = directory / "accounts.json"
        self.jwks_file = directory / "jwks.json"
        self.log_path = directory / "provider.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.accounts_file.write_text(json.dumps(SEEDED_ACCOUNTS))
        self.key_generation = 1
        self.jwks_file.write_text(json.dumps(new_signing_keys("key-1")))
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self.node, str(PROVIDER_DIR / "provider.mjs")],
            cwd=PROVIDER_DIR,
            env={
                **os.environ,
                "PORT": str(self.port),
                "ACCOUNTS_FILE": str(self.accounts_file),
                "JWKS_FILE": str(self.jwks_file),
                "CLIENT_ID": self.client_id,
                "CLIENT_SECRET": self.client_secret,
                "REDIRECT_URIS": " ".join([WEB_REDIRECT_URI, *LOOPBACK_REDIRECT_URIS]),
                "CLAIMS_IN_ID_TOKEN": "1" if self.claims_in_id_token else "0",
            },
            stdout=self._log,
            stderr=self._log,
        )
        self._wait_for_discovery()

    def _wait_for_discovery(self) -> None:
        assert self._process is not None
        url = f"{self.issuer}/.well-known/openid-configuration"
        for _ in range(200):
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"oidc-provider exited with {self._process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"oidc-provider never served discovery; see {self.log_path}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def set_account(
        self,
        account_id: str,
        *,
        groups: list[str],
        name: str | None = None,
        email: str | None = None,
        email_verified: bool = True,
    ) -> None:
        """Create or change an account; the provider reads the file at its next lookup."""
        accounts = json.loads(self.accounts_file.read_text())
        before = accounts.get(account_id, {})
        accounts[account_id] = {
            "name": name if name is not None else before.get("name", account_id.title()),
            "email": email if email is not None else before.get("email"),
            "email_verified": email_verified,
            "groups": groups,
        }
        self.accounts_file.write_text(json.dumps(accounts))

    def rotate_keys(self) -> str:
        """Restart on the same port signing with a new key only; the new key's ``kid``."""
        self.key_generation += 1
        kid = f"key-{self.key_generation}"
        self.jwks_file.write_text(json.dumps(new_signing_keys(kid)))
        self.stop()
        self.start()
        return kid

    def log_in_and_consent(self, url: str, account_id: str = DEFAULT_ACCOUNT) -> str:
        """Open the authorization ``url`` in a new browser session, sign in as ``account_id``
        and consent; the redirect back to the client (``...?code=...&state=...``)."""
        browser = _Browser(self.issuer)
        return browser.until_leaving(browser.open(url), account_id)

    def enter_user_code(self, user_code: str, account_id: str = DEFAULT_ACCOUNT) -> None:
        """Approve a device's ``user_code`` as ``account_id``: the verification page, the
        confirmation, the login and the consent, in a new browser session."""
        browser = _Browser(self.issuer)
        page = self._confirmation_page(browser, user_code)
        for _ in range(20):
            if page.location is not None:
                page = browser.open(page.location)
            elif page.status == 200 and "<form" in page.body:
                page = browser.submit(page, account_id)
            elif page.status == 200:
                if "Sign-in Success" not in page.body:
                    raise AssertionError(f"the device was not approved: {page.body[:500]}")
                return
            else:
                raise AssertionError(f"the provider answered {page.status}: {page.body[:500]}")
        raise AssertionError("the device pages never ended")

    def deny_user_code(self, user_code: str) -> None:
        """Abort a device's ``user_code`` on its confirmation page, as a person who did not
        start that sign-in would."""
        browser = _Browser(self.issuer)
        page = self._confirmation_page(browser, user_code)
        forms = _Forms()
        forms.feed(page.body)
        action, fields = forms.forms[0]
        browser.open(urllib.parse.urljoin(page.url, action), fields | {"abort": "yes"})

    def _confirmation_page(self, browser: _Browser, user_code: str) -> _Page:
        page = browser.open(f"{self.issuer}/device")
        forms = _Forms()
        forms.feed(page.body)
        action, fields = forms.forms[0]
        return browser.open(
            urllib.parse.urljoin(page.url, action), fields | {"user_code": user_code}
        )


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A running provider for the tests of one module, stopped at its end."""
    provider = OidcProvider(node_binary(), tmp_path_factory.mktemp("oidc-provider"))
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
