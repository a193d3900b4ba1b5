"""A client of a party's own control service, used by the CLI and demo.

The client authenticates with the party's own key and certificate, so
only the operator who holds them can submit jobs to that daemon.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from parties import config as cfg
from parties.proto_gen import control_pb2, control_pb2_grpc
from parties.transport import make_channel

DEFAULT_TIMEOUT = 10.0


class ControlError(RuntimeError):
    """A control call that the daemon rejected or did not respond to."""


def _describe(exc: grpc.aio.AioRpcError, address: str) -> str:
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return (
            f"daemon at {address} is unreachable ({exc.details()}); "
            "check that `mpc serve` is running for this config"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"daemon at {address} did not answer in time"
    if code in (grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.NOT_FOUND):
        return exc.details() or code.name
    return f"{code.name}: {exc.details()}"


class ControlClient:
    """Calls a party's daemon with that party's identity."""

    def __init__(self, config: cfg.PartyConfig) -> None:
        self.config = config
        deployment = cfg.load_deployment(config.deployment_path)
        own = deployment.peer(config.party_id)
        self.address = own.address
        self._channel = make_channel(
            own.address,
            config.party_id,
            config.key_path.read_bytes(),
            config.certificate_path.read_bytes(),
            own.certificate_pem,
        )
        self._stub = control_pb2_grpc.ControlStub(self._channel)

    @classmethod
    def from_config_file(cls, path: str | Path) -> ControlClient:
        return cls(cfg.load_party_config(path))

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(
        self, method: Any, request: Any, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        try:
            return await method(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise ControlError(_describe(exc, self.address)) from None

    async def submit(self, job_table: dict) -> str:
        """Submit a job table (as read from a job file); return its id."""
        reply = await self._call(
            self._stub.SubmitJob,
            control_pb2.SubmitJobRequest(spec_json=json.dumps(job_table)),
        )
        return reply.job_id

    async def watch(self, job_id: str) -> AsyncIterator[dict]:
        """Yield the job's phase events until it completes or aborts."""
        call = self._stub.WatchJob(control_pb2.WatchJobRequest(job_id=job_id))
        try:
            async for event in call:
                yield {
                    "job_id": event.job_id,
                    "phase": event.phase,
                    "state": event.state,
                    "detail": event.detail,
                    "reason": event.reason,
                    "culprits": list(event.culprits),
                    "result": json.loads(event.result_json)
                    if event.result_json
                    else None,
                }
        except grpc.aio.AioRpcError as exc:
            raise ControlError(_describe(exc, self.address)) from None

    async def job(self, job_id: str) -> dict:
        """Return a job's state, phase history and result."""
        info = await self._call(
            self._stub.GetJob, control_pb2.GetJobRequest(job_id=job_id)
        )
        return job_info_to_dict(info)

    async def jobs(self, limit: int = 50) -> list[dict]:
        reply = await self._call(
            self._stub.ListJobs, control_pb2.ListJobsRequest(limit=limit)
        )
        return [job_info_to_dict(info) for info in reply.jobs]

    async def budget(self) -> dict:
        reply = await self._call(
            self._stub.GetBudget, control_pb2.GetBudgetRequest()
        )
        return json.loads(reply.budget_json)


def job_info_to_dict(info: control_pb2.JobInfo) -> dict:
    return {
        "job_id": info.job_id,
        "state": info.state,
        "phase": info.phase,
        "reason": info.reason,
        "culprits": list(info.culprits),
        "initiator": info.initiator,
        "result": json.loads(info.result_json) if info.result_json else None,
        "history": [
            {"phase": h.phase, "at": h.at, "detail": h.detail}
            for h in info.history
        ],
    }
