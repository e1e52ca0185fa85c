"""Driver exceptions as ParseError: duplicate keys become 137, an unreachable or slow server a clear code 1."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bson.errors import BSONError
from pymongo.errors import (BulkWriteError, ConnectionFailure, DuplicateKeyError, ExecutionTimeout,
                            InvalidDocument, OperationFailure, PyMongoError, ServerSelectionTimeoutError,
                            WTimeoutError)

from storage.errors import ErrorCode, ParseError

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# Update errors that mean "this op does not fit the stored value" ($inc on a string, $push on a non-array,
# `a` and `a.b` in one update, a path through a scalar): the adapter then applies the ops itself.
UPDATE_SHAPE_ERRORS = frozenset({2, 14, 28, 40, 54})
_GEO_KEY_ERROR = 16755  # "Can't extract geo keys": a value a 2dsphere index refuses
_NO_GEO_INDEX = frozenset({291, 17007})
_BAD_REGEX = 51091
_DUP_INDEX = re.compile(r"index: (\S+) dup key")


def duplicate_error(details: Any, message: str) -> ParseError:
    field = None
    if isinstance(details, dict) and isinstance(details.get("keyPattern"), dict) and details["keyPattern"]:
        field = next(iter(details["keyPattern"]))
    elif (match := _DUP_INDEX.search(message)) is not None:
        field = match.group(1)
    if field is not None:
        field = _rest_name(field)
    suffix = f" (field: {field})" if field else ""
    return ParseError(ErrorCode.DUPLICATE_VALUE,
                      f"A duplicate value for a field with unique values was provided{suffix}")


def _rest_name(key: str) -> str:
    key = key.split(".")[0]
    return {"_id": "objectId", "_session_token": "sessionToken"}.get(key, key.removeprefix("_p_"))


def is_missing_geo_index(exc: PyMongoError) -> bool:
    return isinstance(exc, OperationFailure) and (
        exc.code in _NO_GEO_INDEX or "unable to find index for $geoNear" in str(exc)
        or "requires a 2d or 2dsphere index" in str(exc) or "no geo index" in str(exc))


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Run a store operation; whatever the driver raises leaves as a ParseError."""
    try:
        yield
    except ParseError:
        raise
    except DuplicateKeyError as exc:
        raise duplicate_error(exc.details, str(exc)) from None
    except BulkWriteError as exc:
        errors = (exc.details or {}).get("writeErrors") or [{}]
        if errors[0].get("code") == DUPLICATE_KEY:
            raise duplicate_error(errors[0], str(errors[0].get("errmsg", ""))) from None
        raise _internal(action, exc) from None
    except ServerSelectionTimeoutError as exc:
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"MongoDB is unreachable ({action}): no server answered in time: {exc}") from None
    except ExecutionTimeout as exc:
        raise ParseError(ErrorCode.TIMEOUT, f"MongoDB operation timed out ({action})") from exc
    except ConnectionFailure as exc:  # AutoReconnect, NetworkTimeout
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"Lost the connection to MongoDB ({action}): {exc}") from None
    except WTimeoutError as exc:
        raise ParseError(ErrorCode.TIMEOUT, f"MongoDB write concern timed out ({action})") from exc
    except OperationFailure as exc:
        if exc.code == DUPLICATE_KEY:
            raise duplicate_error(exc.details, str(exc)) from None
        if exc.code == _GEO_KEY_ERROR:
            raise ParseError(ErrorCode.INVALID_JSON, f"invalid geo value: {exc.details or exc}") from None
        if exc.code == _BAD_REGEX or (exc.code == 2 and "regex" in str(exc).lower()):
            raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex: {exc}") from None
        raise _internal(action, exc) from None
    except (InvalidDocument, BSONError, OverflowError) as exc:
        raise ParseError(ErrorCode.INVALID_JSON, f"value cannot be stored: {exc}") from None
    except PyMongoError as exc:
        raise _internal(action, exc) from None


def _internal(action: str, exc: Exception) -> ParseError:
    log.error("MongoDB error during %s: %r", action, exc)
    return ParseError(ErrorCode.INTERNAL_SERVER_ERROR, f"MongoDB error during {action}: {exc}")
