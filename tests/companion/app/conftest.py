"""The companion page under Starlette's test client: a fixed port, fixed secrets, a synced
history of a few hundred sessions, and a client that holds the cookie the page set."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the companion page needs the 'app' extra: pip install '.[app]'")

from starlette.testclient import TestClient  # noqa: E402

from companion.app.device_desk import DeviceDesk  # noqa: E402
from companion.app.guard import Secrets  # noqa: E402
from companion.app.web import AppConfig, create_app  # noqa: E402
from tests.support.synced_history import fill  # noqa: E402

from tests.support.app_testing import NOW, PORT  # noqa: E402


@pytest.fixture(scope="session")
def history_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synced") / "synced.db"
    fill(path, 300, now=NOW, seed=15)
    return path


@pytest.fixture
def keys() -> Secrets:
    return Secrets(port=PORT)


@pytest.fixture
def config(keys, history_db, tmp_path) -> AppConfig:
    return AppConfig(keys=keys, db_path=history_db, routines_dir=tmp_path / "routines",
                     desk=DeviceDesk(db_path=history_db, port=str(tmp_path / "no-such-port"), timeout=1.0),
                     now=lambda: NOW)


@pytest.fixture
def stranger(config) -> TestClient:
    """A client at the right address without the token."""
    return TestClient(create_app(config), base_url=f"http://127.0.0.1:{PORT}")


@pytest.fixture
def client(stranger, keys) -> TestClient:
    """The browser `facepace app` opened: it followed the address with the token once."""
    opened = stranger.get(f"/?token={keys.token}", follow_redirects=False)
    assert opened.status_code == 303
    return stranger
