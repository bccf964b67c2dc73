"""The event backbone: outbox, relay, inbox, consumers, and two transports (RabbitMQ, in-process)."""
