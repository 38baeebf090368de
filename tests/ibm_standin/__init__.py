"""A local stand-in for the IBM Quantum Platform API (see ``server.py``)."""

from tests.ibm_standin.server import RemoteStandIn, StandIn

__all__ = ["RemoteStandIn", "StandIn"]
