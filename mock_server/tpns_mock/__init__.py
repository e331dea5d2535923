"""tpns-mock: a strict local stand-in for the TPNS number-package API."""

__version__ = "0.1.0"
