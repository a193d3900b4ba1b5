"""Verified, differentially private joint statistics by secure MPC.

The library has no network and no disk. Modules in dependency order:
field, prg, sharing, group, transcript, commitments, proofs, dp, queries,
job (the state machine) and transport.
"""

__version__ = "0.1.0"
PROTOCOL_NAME = b"mpc-joint-stats"
PROTOCOL_VERSION = 1
