"""Generate the checked-in contracts from the code: one JSON Schema per event, the AsyncAPI 3.0
document, and each service's OpenAPI document. A contract test fails when they drift.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from shared.events.base import CLOUDEVENTS_CONTENT_TYPE, Envelope, Event
from shared.events.catalogue import ALL_EVENTS
from shared.settings import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCHEMA_ID_BASE = "https://kommunmobil.varnamo.se/schemas/"
EXCHANGE = "kommunmobil.events"


def open_to_additions(schema: Any) -> Any:
    """The schema without `additionalProperties: false`: within a version fields are only ever
    added (docs/events.md: ignore fields you do not know), so a reader validating a v1 event
    against its v1 schema must accept one from a later producer. The models forbid unknown
    fields when we build events, not when anyone reads them."""
    if isinstance(schema, dict):
        return {key: open_to_additions(value) for key, value in schema.items()
                if not (key == "additionalProperties" and value is False)}
    if isinstance(schema, list):
        return [open_to_additions(item) for item in schema]
    return schema


def envelope_schema(event: type[Event]) -> dict[str, Any]:
    """A self-contained JSON Schema of the whole CloudEvent carrying `event`."""
    data = open_to_additions(event.model_json_schema(mode="serialization"))
    defs = data.pop("$defs", {})
    schema = Envelope.model_json_schema()
    schema.pop("title", None)
    schema.update({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID_BASE}{event.routing_key()}.json",
        "title": f"{event.routing_key()} (CloudEvent)",
        "description": (event.__doc__ or event.__name__).strip(),
    })
    schema["properties"]["type"] = {"const": event.cloudevent_type(), "type": "string"}
    schema["properties"]["source"] = {"const": f"/kommunmobil/{event.service}", "type": "string"}
    schema["properties"]["data"] = data
    if defs:
        schema["$defs"] = defs
    return schema


def asyncapi_document() -> dict[str, Any]:
    _, top = models_json_schema(
        [(e, "serialization") for e in ALL_EVENTS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = open_to_additions(dict(top.get("$defs", {})))
    envelope = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")
    envelope["properties"].pop("data")
    schemas["CloudEventEnvelope"] = envelope
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event in ALL_EVENTS:
        key, name = event.routing_key(), event.__name__
        messages[name] = {
            "name": name,
            "title": key,
            "summary": (event.__doc__ or key).strip().splitlines()[0],
            "contentType": CLOUDEVENTS_CONTENT_TYPE,
            "payload": {"allOf": [
                {"$ref": "#/components/schemas/CloudEventEnvelope"},
                {"type": "object", "required": ["data"], "properties": {
                    "type": {"const": event.cloudevent_type()},
                    "data": {"$ref": f"#/components/schemas/{name}"},
                }},
            ]},
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        channels[key] = {
            "address": key,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False,
                "vhost": "/"}, "bindingVersion": "0.3.0"}},
        }
        operations[f"{event.service}-publishes-{event.event_name}-v{event.version}"] = {
            "action": "send",
            "summary": f"{event.service} publishes {key} through its outbox relay",
            "channel": {"$ref": f"#/channels/{key}"},
        }
    for service in SERVICE_NAMES:
        spec = importlib.import_module(f"services.{service}.main").SPEC
        for event in spec.handlers:
            key = event.routing_key()
            operations[f"{service}-consumes-{event.event_name}-v{event.version}"] = {
                "action": "receive",
                "summary": f"{service} consumes {key} from queue {service}.inbox",
                "channel": {"$ref": f"#/channels/{key}"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "kommunmobil events",
            "version": "1.0.0",
            "description": "Integration events of kommunmobil. Every message is a CloudEvents 1.0 "
            "JSON envelope (structured mode); AMQP message_id equals the CloudEvent id. "
            "See docs/events.md.",
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {"production": {"host": "rabbitmq:5672", "protocol": "amqp",
                                   "protocolVersion": "0.9.1"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def openapi_document(service: str) -> dict[str, Any]:
    from shared.auth import TokenVerifier
    from shared.runtime import create_app
    from shared.settings import CommonSettings, service_settings

    common = CommonSettings()
    spec = importlib.import_module(f"services.{service}.main").SPEC
    app = create_app(spec, common=common, settings=service_settings(service),
                     database_url="postgresql+asyncpg://unused@/unused",
                     token_verifier=TokenVerifier(common, public_key="unused"))
    return app.openapi()


DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"


def broker_definitions() -> dict[str, Any]:
    """deploy/rabbitmq/definitions.json with every inbox bound to the routing keys its service
    handles. A service binds its inbox when it subscribes, but on a fresh broker another
    service's relay may publish first: with no binding yet the event would reach only the event
    log, confirmed, marked sent and never delivered. Declared at the broker's boot, the bindings
    exist before any service runs; the services' own declarations are then no-ops."""
    definitions = json.loads(DEFINITIONS.read_text())
    inboxes = {f"{service}.inbox" for service in SERVICE_NAMES}
    kept = [b for b in definitions["bindings"]
            if not (b["source"] == EXCHANGE and b["destination"] in inboxes)]
    vhost = definitions["vhosts"][0]["name"]
    for service in SERVICE_NAMES:
        handlers = importlib.import_module(f"services.{service}.main").SPEC.handlers
        kept += [{"source": EXCHANGE, "vhost": vhost, "destination": f"{service}.inbox",
                  "destination_type": "queue", "routing_key": key, "arguments": {}}
                 for key in sorted(event.routing_key() for event in handlers)]
    definitions["bindings"] = kept
    return definitions


def rendered_contracts() -> dict[Path, str]:
    files = {
        DOCS / "schemas" / f"{e.routing_key()}.json": json.dumps(envelope_schema(e), indent=2)
        + "\n" for e in ALL_EVENTS
    }
    files[DOCS / "asyncapi.yaml"] = yaml.safe_dump(asyncapi_document(), sort_keys=False,
                                                   allow_unicode=True, width=100)
    for service in SERVICE_NAMES:
        files[DOCS / "openapi" / f"{service}.json"] = json.dumps(
            openapi_document(service), indent=2) + "\n"
    files[DEFINITIONS] = json.dumps(broker_definitions(), indent=2) + "\n"
    return files


def write_contracts() -> list[Path]:
    written = []
    for path, content in rendered_contracts().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            written.append(path)
    return written


def stale_files() -> list[Path]:
    return [p for p, c in rendered_contracts().items() if not p.exists() or p.read_text() != c]
