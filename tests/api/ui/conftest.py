"""Signed-in dashboard users: ``alice`` and ``bob``, one per tenant of the ``api`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Api
from tests.api.ui.test_pages import Browser, browser_for


@pytest.fixture
def alice(api: Api) -> Iterator[Browser]:
    browser = browser_for(api, api.token)
    yield browser
    browser.client.close()


@pytest.fixture
def bob(api: Api) -> Iterator[Browser]:
    browser = browser_for(api, api.other_token)
    yield browser
    browser.client.close()
