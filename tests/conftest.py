"""Shared fixtures: a throwaway database on the real PostgreSQL and a throwaway vhost on the real
RabbitMQ per test session, so tests never see each other's data or queues."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import mint_token
from shared.settings import DEV_AUDIENCE, DEV_ISSUER
from tests.support.throwaway import throwaway_database, throwaway_vhost
from tests.system import RunningSystem, run_system

ADMIN_DATABASE_URL = os.environ.get(
    "KM_TEST_ADMIN_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BROKER_BASE_URL = os.environ.get("KM_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def fresh_database() -> AbstractAsyncContextManager[str]:
    """A new, empty database on the shared PostgreSQL, dropped afterwards."""
    return throwaway_database(ADMIN_DATABASE_URL, "km_test")


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A database of the test's own, for services started by the test itself (not the session's
    systems, whose relays would claim their outbox rows)."""
    async with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A private vhost on the shared RabbitMQ: queues and exchanges of one test run only."""
    with throwaway_vhost(BROKER_BASE_URL, "km-test") as url:
        yield url


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def token_for(signing_key: rsa.RSAPrivateKey):  # type: ignore[no-untyped-def]
    def make(sub: str = "it-1", *roles: str) -> dict[str, str]:
        token = mint_token(signing_key, subject=sub, roles=list(roles or ("it-service",)),
                           issuer=DEV_ISSUER, audience=DEV_AUDIENCE)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture(scope="session")
async def system_inprocess(signing_key: rsa.RSAPrivateKey) -> AsyncIterator[RunningSystem]:
    async with fresh_database() as url, run_system(url, None, signing_key) as system:
        yield system


@pytest.fixture(scope="session")
async def system_rabbitmq(
    signing_key: rsa.RSAPrivateKey, broker_url: str
) -> AsyncIterator[RunningSystem]:
    async with fresh_database() as url, run_system(url, broker_url, signing_key) as system:
        yield system


@pytest.fixture(params=["inprocess", "rabbitmq"])
def system(request: pytest.FixtureRequest) -> RunningSystem:
    """The three services, running for real, on each transport in turn."""
    return request.getfixturevalue(f"system_{request.param}")  # type: ignore[no-any-return]
