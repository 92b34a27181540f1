"""What the browser tests share: the dashboard served by a real uvicorn server on the embedded default,
a headless Chromium signed in to it, and the helpers that wait, read and keep screenshots.

``dashboard_server(home)`` runs ``create_app(settings)`` in a thread on a free 127.0.0.1 port
(SQLite migrated first, file broker, no worker) with a token for ``alice``; ``chromium(profile)``
starts Debian's headless Chromium through its chromedriver; ``sign_in`` pastes the token into the
login form. Screenshots go to ``tests/artifacts/screenshots/`` (git-ignored), their paths printed.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``)
and the ``selenium`` package: ``needs_chromium`` skips with the reason when one is missing.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from service.db.session import dispose_engines, get_sessionmaker
from service.migrate import upgrade
from service.settings import Settings, get_settings
from service.tokens import create_token
from tests.fixtures.servers import free_port

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver on PATH (apt-get install -y chromium chromium-driver)",
)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
WAIT_S = 10.0


class ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread belongs to pytest
        pass


@contextmanager
def dashboard_server(root: Path, name: str) -> Iterator[tuple[str, Settings, str]]:
    """(URL, settings, alice's token) of the dashboard served from a fresh ``SDD_HOME`` under ``root``;
    every other ``SDD_*`` variable of this process set aside meanwhile."""
    with pytest.MonkeyPatch.context() as env:
        for variable in [n for n in os.environ if n.startswith("SDD_")]:
            env.delenv(variable)
        env.setenv("SDD_HOME", str(root / "sdd_home"))
        get_settings.cache_clear()
        dispose_engines()
        settings = get_settings()
        settings.ensure_dirs()
        upgrade(str(settings.database_url))
        with get_sessionmaker(settings)() as session:
            token, _ = create_token(session, "alice")
            session.commit()
        server = ThreadedServer(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning")
        )
        thread = threading.Thread(target=server.run, name=f"{name}-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, f"the {name} server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{server.config.port}", settings, token
        finally:
            server.should_exit = True
            thread.join(WAIT_S)
            get_settings.cache_clear()
            dispose_engines()


@contextmanager
def chromium(profile: Path, window: str = "1366,900") -> Iterator[WebDriver]:
    """Headless Chromium with a profile folder of its own and a ``window`` ("width,height") size."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={window}", "--no-first-run", "--disable-extensions",
                     f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, url: str, token: str, page: str = "/ui", ready: str = "jobs-table") -> None:
    """Open ``page``; when it sends us to the login form, paste ``token`` and wait for the element
    whose id is ``ready``."""
    driver.get(url + page)
    if "/ui/login" not in driver.current_url:
        return
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, ready), f"#{ready} after signing in")


def screenshot(driver: WebDriver, name: str, css: str | None = None) -> Path:
    """Save the window (or the element ``css`` selects) as ``tests/artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if css is None:
        driver.save_screenshot(str(path))
    else:
        element = driver.find_element(By.CSS_SELECTOR, css)
        driver.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def wait_for(driver: WebDriver, condition: Any, what: str, timeout: float = WAIT_S) -> Any:
    """Wait until ``condition(driver)`` is truthy; on timeout save a screenshot and say what was awaited."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        shot = screenshot(driver, "failed-" + what.replace(" ", "-").replace("#", "")[:40])
        pytest.fail(f"timed out waiting for {what} on {driver.current_url} (screenshot {shot})")


def text_of(driver: WebDriver, css: str) -> str | None:
    """The rendered text of the element ``css`` selects (None if absent), read in one step: our JS
    replaces parts of the page while it is read, so a held element reference can go stale."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", css
    )
