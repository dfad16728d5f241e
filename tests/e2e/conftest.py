"""Fixtures: the real binary, started once per session on a fresh data directory."""

from __future__ import annotations

import pytest

import harness
from harness import Server


def pytest_report_header(config):
    return f"passerelle binary: {harness.BIN}"


@pytest.fixture(scope="session")
def binary():
    if not harness.BIN.exists():
        pytest.exit(f"{harness.BIN} does not exist: run `cargo build -p passerelle` or set PASSERELLE_BIN", returncode=2)
    return harness.BIN


@pytest.fixture(scope="session")
def server(binary, tmp_path_factory):
    """The shared server: SQLite in a new temporary data directory, port 0, debug logs."""
    s = Server(tmp_path_factory.mktemp("shared") / "data", env={"PASSERELLE_LOG": "debug"})
    s.start()
    yield s
    assert s.stop() == 0, "passerelle must exit with 0 on SIGTERM"


@pytest.fixture(scope="session")
def personas(binary) -> list[dict]:
    return harness.personas_json()


@pytest.fixture(scope="session")
def by_behaviour(personas):
    def pick(behaviour: str, country: str = "BE") -> dict:
        return next(p for p in personas if p["behaviour"] == behaviour and p["country"] == country)

    return pick


@pytest.fixture(scope="session")
def sandbox_client(server) -> dict:
    """A sandbox client with client_secret_basic, shared by the tests that need nothing special."""
    return server.add_client("E2E Shop")
