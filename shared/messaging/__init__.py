"""The event backbone: outbox, relay, inbox, consumers; RabbitMQ and in-process transports."""
