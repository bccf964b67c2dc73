"""Contract checks on deploy/: the Compose file is valid, the broker topology dead-letters what
keeps failing, and every service logs in to PostgreSQL as its own role."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"
ROLES_SQL = DEPLOY / "postgres" / "01-roles.sql"
SERVICES = ("orders", "inventory", "lifecycle")
DEAD_LETTER_EXCHANGE = "kommunmobil.dead-letter"
# Values for the variables compose.yaml requires with ${VAR:?message}.
REQUIRED_ENV = {
    "KM_JWT_ISSUER": "https://idp.example.test/realms/kommun",
    "KM_JWT_JWKS_URL": "https://idp.example.test/realms/kommun/certs",
}


def _docker_compose() -> str:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(
            "docker-compose is not on PATH; install it with `apt-get install -y docker-compose` "
            "(CI installs it) to validate deploy/compose.yaml"
        )
    return executable


def _compose_config(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_ENV} | extra_env
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _definitions() -> dict[str, Any]:
    return json.loads(DEFINITIONS.read_text())


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_file_is_valid() -> None:
    result = _compose_config(REQUIRED_ENV)
    assert result.returncode == 0, result.stderr or result.stdout


def test_compose_refuses_to_start_without_jwt_settings() -> None:
    result = _compose_config({})
    assert result.returncode != 0
    assert "KM_JWT_" in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_inbox_dead_letters_at_least_once_after_a_delivery_limit(service: str) -> None:
    queues = {q["name"]: q for q in _definitions()["queues"]}
    arguments = queues[f"{service}.inbox"]["arguments"]
    assert arguments["x-queue-type"] == "quorum"
    assert isinstance(arguments["x-delivery-limit"], int) and arguments["x-delivery-limit"] > 0
    assert arguments["x-dead-letter-exchange"] == DEAD_LETTER_EXCHANGE
    assert arguments["x-dead-letter-routing-key"] == f"{service}.dlq"
    # at-least-once dead-lettering is only honoured together with reject-publish.
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    assert arguments["x-overflow"] == "reject-publish"
    assert queues[f"{service}.dlq"]["arguments"]["x-queue-type"] == "quorum"


@pytest.mark.parametrize("service", SERVICES)
def test_dead_letter_queue_is_bound(service: str) -> None:
    definitions = _definitions()
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[DEAD_LETTER_EXCHANGE]["type"] == "direct"
    assert exchanges[DEAD_LETTER_EXCHANGE]["durable"] is True
    routes = {
        (b["source"], b["destination"], b["routing_key"])
        for b in definitions["bindings"]
        if b["destination_type"] == "queue"
    }
    assert (DEAD_LETTER_EXCHANGE, f"{service}.dlq", f"{service}.dlq") in routes


@pytest.mark.parametrize("service", SERVICES)
def test_each_inbox_is_bound_at_boot_to_every_event_its_service_handles(service: str) -> None:
    """Before any service subscribes: the event log's `#` binding makes every publish routable,
    so an inbox not bound yet would miss events confirmed and marked sent meanwhile."""
    handlers = importlib.import_module(f"services.{service}.main").SPEC.handlers
    bound = {b["routing_key"] for b in _definitions()["bindings"]
             if b["source"] == "kommunmobil.events" and b["destination"] == f"{service}.inbox"}
    assert handlers and bound == {event.routing_key() for event in handlers}


def test_every_queue_is_durable_and_in_the_kommunmobil_vhost() -> None:
    for queue in _definitions()["queues"]:
        assert queue["vhost"] == "kommunmobil", queue["name"]
        assert queue["durable"] is True and queue["auto_delete"] is False, queue["name"]


def test_delivery_limit_policy_covers_every_inbox() -> None:
    (policy,) = [p for p in _definitions()["policies"] if p["name"] == "km-delivery-limit"]
    assert policy["apply-to"] == "quorum_queues"
    assert policy["definition"]["delivery-limit"] > 0
    for service in SERVICES:
        assert re.fullmatch(policy["pattern"].strip("^$"), f"{service}.inbox")


def test_a_consumer_may_hold_its_deliveries_through_a_long_database_outage() -> None:
    """Held deliveries return to the queue when the broker times the consumer out, and each
    return counts against the delivery limit: the limit times the timeout is the longest outage
    after which healthy events would be dead-lettered unapplied."""
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    (timeout,) = re.findall(r"^consumer_timeout\s*=\s*(\d+)\s*$", conf, re.MULTILINE)
    (policy,) = [p for p in _definitions()["policies"] if p["name"] == "km-delivery-limit"]
    hours = int(timeout) / 3_600_000
    assert hours * policy["definition"]["delivery-limit"] >= 24


def test_definitions_hold_no_clear_text_password() -> None:
    for user in _definitions()["users"]:
        assert "password" not in user
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"


def test_each_service_logs_in_to_postgres_as_its_own_role() -> None:
    services = _compose()["services"]
    users = {}
    for service in SERVICES:
        env = _environment(services[service])
        urls = {k: v for k, v in env.items() if k.endswith("DATABASE_URL")}
        # Only its own URL: no container holds another service's database password.
        variable = f"KM_{service.upper()}_DATABASE_URL"
        assert list(urls) == [variable], service
        match = re.match(r"postgresql\+asyncpg://([^:@/]+)[:@]", urls[variable])
        assert match, urls
        users[service] = match.group(1)
    assert len(set(users.values())) == len(SERVICES), users
    assert users == {service: f"km_{service}" for service in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_service_role_owns_its_schema(service: str) -> None:
    sql = ROLES_SQL.read_text()
    assert re.search(rf"CREATE ROLE km_{service} LOGIN\b", sql)
    assert re.search(rf"CREATE SCHEMA {service} AUTHORIZATION km_{service};", sql)
