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
from services.inventory.repository.people import ExtensionRepository, PeopleRepository
from services.inventory.repository.policy import PolicyRepository
from services.inventory.repository.support import RepairRepository, SupportRepository
from services.inventory.repository.sweep import SweepRepository, SweepResult
from services.inventory.repository.telephony import TelephonyRepository
from services.inventory.repository.usage import (
    AgreementRepository,
    SubscriptionMatch,
    UsageRepository,
)

__all__ = [
    "AcknowledgementRepository",
    "AgreementRepository",
    "ComplianceRepository",
    "DeviceFilter",
    "DeviceRepository",
    "ExtensionRepository",
    "FulfilmentRepository",
    "HistoryRepository",
    "ModelRepository",
    "PeopleRepository",
    "PolicyRepository",
    "RepairRepository",
    "StockMatch",
    "SubscriptionMatch",
    "SupportRepository",
    "SweepRepository",
    "SweepResult",
    "TelephonyRepository",
    "UnitRepository",
    "UsageRepository",
]
