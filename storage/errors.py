"""Parse's error codes and the one exception type that carries them everywhere."""
from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    OTHER_CAUSE = -1
    INTERNAL_SERVER_ERROR = 1
    CONNECTION_FAILED = 100
    OBJECT_NOT_FOUND = 101
    INVALID_QUERY = 102
    INVALID_CLASS_NAME = 103
    MISSING_OBJECT_ID = 104
    INVALID_KEY_NAME = 105
    INVALID_POINTER = 106
    INVALID_JSON = 107
    COMMAND_UNAVAILABLE = 108
    INCORRECT_TYPE = 111
    OBJECT_TOO_LARGE = 116
    INVALID_CHANNEL_NAME = 112
    OPERATION_FORBIDDEN = 119
    INVALID_NESTED_KEY = 121
    INVALID_FILE_NAME = 122
    INVALID_ACL = 123
    TIMEOUT = 124
    INVALID_EMAIL_ADDRESS = 125
    MISSING_REQUIRED_FIELD = 135
    CHANGED_IMMUTABLE_FIELD = 136
    DUPLICATE_VALUE = 137
    INVALID_ROLE_NAME = 139
    SCRIPT_FAILED = 141
    VALIDATION_ERROR = 142
    WEBHOOK_ERROR = 143
    DUPLICATE_REQUEST = 159
    INVALID_VALUE = 162
    USERNAME_MISSING = 200
    PASSWORD_MISSING = 201
    USERNAME_TAKEN = 202
    EMAIL_TAKEN = 203
    EMAIL_MISSING = 204
    EMAIL_NOT_FOUND = 205
    SESSION_MISSING = 206
    MUST_CREATE_USER_THROUGH_SIGNUP = 207
    ACCOUNT_ALREADY_LINKED = 208
    INVALID_SESSION_TOKEN = 209
    INVALID_SCHEMA_OPERATION = 255


class ParseError(Exception):
    """An error a Parse client understands: `{code, error}` on REST, an `error` frame on LiveQuery."""

    def __init__(self, code: ErrorCode | int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message

    def __repr__(self) -> str:
        return f"ParseError({self.code}, {self.message!r})"
