"""Verified, differentially private joint statistics by secure MPC.

The library has no network and no disk. Modules in dependency order:
field, prg, sharing, group, transcript, commitments, proofs, validity,
predicates (plug-in validity predicates), dp, mechanisms (plug-in noise),
queries, job (the state machine) and transport, then simulate (research
mode).
"""

__version__ = "0.1.0"
PROTOCOL_NAME = b"mpc-joint-stats"
PROTOCOL_VERSION = 2
