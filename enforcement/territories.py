"""The countries a DSA statement of reasons may name as its territorial scope.

Plain constants without models, so that settings can check ``TSOPS_DSA_TERRITORIAL_SCOPE``
against them when TSOps starts, and the statement validator holds statements to the same list.
"""

from __future__ import annotations

# The Transparency Database's territorial_scope values: every EU and EEA member state.
EU_EEA_COUNTRIES = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
)  # fmt: skip
