"""Lifecycle: the organisation and its employees (HR), returns, losses and private use."""
