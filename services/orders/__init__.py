"""Orders: the standard catalogue, appointed orderers, and orders approved by the paying unit."""
