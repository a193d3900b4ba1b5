from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec_json",)
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    def __init__(self, spec_json: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "phase", "state", "detail", "elapsed_seconds", "result_json", "reason", "culprits")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CULPRITS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    phase: str
    state: str
    detail: str
    elapsed_seconds: float
    result_json: str
    reason: str
    culprits: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., phase: _Optional[str] = ..., state: _Optional[str] = ..., detail: _Optional[str] = ..., elapsed_seconds: _Optional[float] = ..., result_json: _Optional[str] = ..., reason: _Optional[str] = ..., culprits: _Optional[_Iterable[str]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PhaseEvent(_message.Message):
    __slots__ = ("phase", "at", "detail")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    phase: str
    at: str
    detail: str
    def __init__(self, phase: _Optional[str] = ..., at: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "state", "phase", "reason", "culprits", "result_json", "spec_json", "initiator", "history")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CULPRITS_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    phase: str
    reason: str
    culprits: _containers.RepeatedScalarFieldContainer[str]
    result_json: str
    spec_json: str
    initiator: str
    history: _containers.RepeatedCompositeFieldContainer[PhaseEvent]
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., phase: _Optional[str] = ..., reason: _Optional[str] = ..., culprits: _Optional[_Iterable[str]] = ..., result_json: _Optional[str] = ..., spec_json: _Optional[str] = ..., initiator: _Optional[str] = ..., history: _Optional[_Iterable[_Union[PhaseEvent, _Mapping]]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobInfo]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobInfo, _Mapping]]] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBudgetResponse(_message.Message):
    __slots__ = ("budget_json",)
    BUDGET_JSON_FIELD_NUMBER: _ClassVar[int]
    budget_json: str
    def __init__(self, budget_json: _Optional[str] = ...) -> None: ...
