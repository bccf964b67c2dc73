"""kommunmobil's own shared package: event contracts, messaging, db, settings, telemetry, auth."""
