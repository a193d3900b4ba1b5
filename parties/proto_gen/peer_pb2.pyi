from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("job_id", "sender", "phase", "body", "signature")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    sender: str
    phase: str
    body: bytes
    signature: bytes
    def __init__(self, job_id: _Optional[bytes] = ..., sender: _Optional[str] = ..., phase: _Optional[str] = ..., body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class DeliverResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnvelopeChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: EnvelopeHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[EnvelopeHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class EnvelopeHeader(_message.Message):
    __slots__ = ("job_id", "sender", "phase", "body_size", "body_sha256", "signature")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    BODY_SIZE_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    sender: str
    phase: str
    body_size: int
    body_sha256: bytes
    signature: bytes
    def __init__(self, job_id: _Optional[bytes] = ..., sender: _Optional[str] = ..., phase: _Optional[str] = ..., body_size: _Optional[int] = ..., body_sha256: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ProposeRequest(_message.Message):
    __slots__ = ("job_id", "initiator", "spec", "signature")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    initiator: str
    spec: bytes
    signature: bytes
    def __init__(self, job_id: _Optional[bytes] = ..., initiator: _Optional[str] = ..., spec: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ProposeResponse(_message.Message):
    __slots__ = ("accepted", "reason", "declaration")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    declaration: bytes
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., declaration: _Optional[bytes] = ...) -> None: ...
