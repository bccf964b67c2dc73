"""Inventory: the always-current register of every device, SIM and subscription (rule B2)."""
