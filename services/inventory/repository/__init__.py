"""All SQL of the inventory service, one module per part of the register."""

from services.inventory.repository.compliance import ComplianceRepository
from services.inventory.repository.devices import (
    AcknowledgementRepository,
    DeviceFilter,
    DeviceRepository,
    HistoryRepository,
    ModelRepository,
    StockMatch,
)
from services.inventory.repository.fulfilment import FulfilmentRepository
from services.inventory.repository.organisation import UnitRepository
from services.inventory.repository.sweep import SweepRepository, SweepResult
from services.inventory.repository.telephony import TelephonyRepository

__all__ = [
    "AcknowledgementRepository",
    "ComplianceRepository",
    "DeviceFilter",
    "DeviceRepository",
    "FulfilmentRepository",
    "HistoryRepository",
    "ModelRepository",
    "StockMatch",
    "SweepRepository",
    "SweepResult",
    "TelephonyRepository",
    "UnitRepository",
]
