"""Driver exceptions as ParseError: duplicate keys become 137, an unreachable or slow server a clear code 1."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bson.errors import BSONError
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidDocument,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from storage.errors import ErrorCode, ParseError

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# Update errors that mean "this op does not fit the stored value" ($inc on a string, $push on a non-array,
# `a` and `a.b` in one update, a path through a scalar; in an update pipeline: $add of a non-number (14, 16554),
# $concatArrays, $filter or $in over a non-array (28664, 28651, 40081)): the adapter then applies the ops itself.
UPDATE_SHAPE_ERRORS = frozenset({2, 14, 28, 40, 54, 16554, 28651, 28664, 40081})
_GEO_KEY_ERROR = 16755  # "Can't extract geo keys": a value a 2dsphere index refuses
_NO_GEO_INDEX = frozenset({291, 17007})
_BAD_REGEX = 51091


def duplicate_error() -> ParseError:
    """Parse's own message for 137 (parse-server names the field in `userInfo`, which ParseError has not)."""
    return ParseError(ErrorCode.DUPLICATE_VALUE, "A duplicate value for a field with unique values was provided")


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
    except DuplicateKeyError:
        raise duplicate_error() from None
    except BulkWriteError as exc:
        errors = (exc.details or {}).get("writeErrors") or [{}]
        if errors[0].get("code") == DUPLICATE_KEY:
            raise duplicate_error() from None
        raise _internal(action, exc) from None
    except ServerSelectionTimeoutError as exc:
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"MongoDB is unreachable ({action}): no server answered in time: {exc}") from None
    except ExecutionTimeout:  # the query's maxTimeMS expired: the client's query is too costly, not a fault
        raise ParseError(ErrorCode.TIMEOUT, f"The query took longer than its time limit (maxTimeMS) while "
                                            f"{action}; narrow it (an indexed field, a simpler regex)") from None
    except ConnectionFailure as exc:  # AutoReconnect, NetworkTimeout
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"Lost the connection to MongoDB ({action}): {exc}") from None
    except WTimeoutError:
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"MongoDB write concern timed out ({action})") from None
    except OperationFailure as exc:
        if exc.code == DUPLICATE_KEY:
            raise duplicate_error() from None
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
    log.error("MongoDB error during %s: %.2000r", action, exc)
    return ParseError(ErrorCode.INTERNAL_SERVER_ERROR, f"MongoDB error during {action}: {exc}")
