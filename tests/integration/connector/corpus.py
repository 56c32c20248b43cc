"""A message holding one of each sensitive value, and near-misses that must stay."""

from __future__ import annotations

ORIGINALS = {
    "EMAIL": "jane.doe@corp.example",
    "PHONE": "+1-202-555-0143",
    "CARD": "4111 1111 1111 1111",
    "IBAN": "GB82 WEST 1234 5698 7654 32",
    "SSN": "123-45-6780",
    "IP": "10.1.2.3",
    "MAC": "00:1A:2B:3C:4D:5E",
    "SECRET": "AKIAIOSFODNN7EXAMPLE",
    "TERM": "Operation Nightjar",
}
NEAR_MISSES = ["4111 1111 1111 1112", "GB82 WEST 1234 5698 7654 33", "666-12-3456"]
MESSAGE = (
    f"Email {ORIGINALS['EMAIL']} or call {ORIGINALS['PHONE']} about {ORIGINALS['TERM']}. "
    f"Card {ORIGINALS['CARD']} (typo: {NEAR_MISSES[0]}), IBAN {ORIGINALS['IBAN']} "
    f"(old: {NEAR_MISSES[1]}), SSN {ORIGINALS['SSN']} (test: {NEAR_MISSES[2]}), host "
    f"{ORIGINALS['IP']} nic {ORIGINALS['MAC']} key {ORIGINALS['SECRET']}."
)
