"""Cloud Code as users write it: `cloud = Cloud()`, decorators that register hooks, `CloudError` to refuse.

This module only records what the user declared, checking each declaration when it is made (so a mistake stops
`livequery serve` at start-up with the file and line); the server (`api.cloud`) runs the hooks.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

import msgspec

from storage.errors import ErrorCode, ParseError

__all__ = ["Cloud", "CloudError", "CloudQuery", "CloudRequest", "HttpResponse", "Hook", "Validator", "changed", "id_of",
           "pointer"]

log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])

# The seeds and the SDKs' subclasses name the system classes without their underscore. Not "Session": apps
# have classes of their own by that name (seed 000 schedules an event's sessions in `Session`), and Parse keeps
# `Session` and `_Session` apart too; log-outs are hooked with after_logout.
SYSTEM_ALIASES = {"User": "_User", "Role": "_Role", "Installation": "_Installation"}

OBJECT_TRIGGERS = ("before_save", "after_save", "before_delete", "after_delete", "before_find", "after_find")
USER_TRIGGERS = ("before_login", "after_login", "after_logout")
LIVE_TRIGGERS = ("before_connect", "before_subscribe", "after_live_query_event", "after_live_query_write")
NAMED_KINDS = ("function", "job")
FIELD_TYPES = {"String": str, "Number": (int, float), "Boolean": bool, "Array": list, "Object": dict}
# Beyond Parse (whose `type: Date` can never pass): Parse's typed values, checked by their REST `__type`
TYPED_FIELDS = ("Date", "Pointer", "GeoPoint", "File", "Bytes", "Polygon")
_PY_TYPES = {str: "String", int: "Number", float: "Number", bool: "Boolean", list: "Array", dict: "Object"}


class CloudError(ParseError):
    """Refuse a call or a write: `CloudError("message")` answers 141 (142 from a validator function),
    `CloudError(code, "message")` answers that code. The message reaches the client as written."""

    def __init__(self, code_or_message: int | str, message: str | None = None) -> None:
        if message is None:
            super().__init__(ErrorCode.SCRIPT_FAILED, str(code_or_message))
            self.explicit_code = False
        else:
            super().__init__(int(code_or_message), message)
            self.explicit_code = True


class FieldRule(msgspec.Struct, frozen=True):
    """One entry of a validator's `fields`: Parse's type, required, default, options, constant and error."""

    type: str | None = None
    required: bool = False
    default: Any = None
    options: Any = None
    constant: bool = False
    error: str | None = None


class UserKeyRule(msgspec.Struct, frozen=True):
    options: Any = None
    error: str | None = None


class Validator(msgspec.Struct, frozen=True):
    """Parse's validator object, checked before the handler (skipped for the master key unless
    `validate_master_key`). `check` is an optional function run first; what it raises is answered 142."""

    require_user: bool = False
    require_master: bool = False
    require_any_user_roles: tuple[str, ...] = ()
    require_all_user_roles: tuple[str, ...] = ()
    fields: dict[str, FieldRule] = {}
    require_user_keys: dict[str, UserKeyRule] = {}
    validate_master_key: bool = False
    skip_with_master_key: bool = False
    check: Callable[..., Any] | None = None

    def is_empty(self) -> bool:
        return self == _EMPTY


_EMPTY = Validator()


class Hook(msgspec.Struct, frozen=True):
    """One registered hook: its kind (`before_save`, `function`, ...), its class or name, the user's handler."""

    kind: str
    target: str  # a class name for triggers, a name for functions and jobs, "" for class-less hooks
    handler: Callable[..., Any]
    validator: Validator | None = None
    source: str = ""  # "file:line" of the handler, for messages
    timeout: float | None = None  # after-triggers: seconds before it is abandoned (None: the server's default)


class Route(msgspec.Struct, frozen=True):
    """A plain HTTP endpoint (`@cloud.route`), served under the server's cloud route prefix."""

    method: str
    path: str
    handler: Callable[..., Any]
    source: str = ""


class HttpResponse(msgspec.Struct):
    """What a `@cloud.route` handler may return when a str (text/plain), bytes or JSON value is not enough."""

    body: str | bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = {}


class CloudRequest:
    """What a hook receives. Only the fields that make sense for the hook's kind are set; the rest stay None
    (`context`, `params` and `headers` are always dicts). See the README for which hook gets what."""

    def __init__(self, **fields: Any) -> None:
        self.trigger_name: str | None = None
        self.object: dict[str, Any] | None = None
        self.original: dict[str, Any] | None = None
        self.user: dict[str, Any] | None = None
        self.master = False
        self.installation_id: str | None = None
        self.ip: str | None = None
        self.headers: dict[str, str] = {}
        self.params: dict[str, Any] = {}
        self.context: dict[str, Any] = {}
        self.function_name: str | None = None
        self.job_id: str | None = None
        self.job_name: str | None = None
        self.query: Any = None
        self.objects: list[dict[str, Any]] | None = None
        self.is_get = False
        self.count = False
        self.event: str | None = None
        self.request_id: int | None = None
        self.session_token: str | None = None
        self.send_event = True
        self.log: logging.Logger = log
        self.api: Any = None
        # @cloud.route handlers
        self.method: str | None = None
        self.path: str | None = None
        self.path_params: dict[str, str] = {}
        self.query_params: dict[str, str] = {}
        self.body: bytes = b""
        for name, value in fields.items():
            setattr(self, name, value)

    def message(self, text: str) -> Any:
        """Jobs: set the job's status message (the server replaces this)."""
        raise CloudError("request.message() is available in jobs only")

    def json(self) -> Any:
        """`@cloud.route` handlers: the body decoded as JSON."""
        return msgspec.json.decode(self.body) if self.body.strip() else None

    def __repr__(self) -> str:
        what = self.trigger_name or self.function_name or self.job_name or self.path or "request"
        return f"CloudRequest({what})"


class CloudDefinitionError(TypeError):
    """A decorator used wrongly; raised while the cloud module is imported, so serve stops at start-up."""


class Cloud:
    """The hooks of one app. The server imports the module given to `livequery serve --cloud` and uses its
    `cloud` attribute. Handlers may be `def` or `async def`; they get one argument, a `CloudRequest`."""

    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Hook]] = {}
        self.routes: list[Route] = []
        self.coalesce_ms: dict[str, float] = {}  # class name -> LiveQuery coalescing window (live_query_options)

    # --- functions and jobs -------------------------------------------------------------------------------
    def define(self, name: str, **validator: Any) -> Callable[[Handler], Handler]:
        """`POST /functions/<name>` (and `Parse.Cloud.run`): the handler's return value is the result."""
        return self._register("function", _name(name, "function"), validator)

    def job(self, name: str) -> Callable[[Handler], Handler]:
        """`POST /jobs/<name>` (master key): runs in the background, tracked in `_JobStatus`."""
        return self._register("job", _name(name, "job"), {})

    # --- object triggers ----------------------------------------------------------------------------------
    def before_save(self, class_name: str, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("before_save", _class(class_name, "before_save"), validator)

    def after_save(self, class_name: str, *, timeout: float | None = None,
                   **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("after_save", _class(class_name, "after_save"), validator, timeout)

    def before_delete(self, class_name: str, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("before_delete", _class(class_name, "before_delete"), validator)

    def after_delete(self, class_name: str, *, timeout: float | None = None,
                     **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("after_delete", _class(class_name, "after_delete"), validator, timeout)

    def before_find(self, class_name: str, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("before_find", _class(class_name, "before_find"), validator)

    def after_find(self, class_name: str, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("after_find", _class(class_name, "after_find"), validator)

    # --- users --------------------------------------------------------------------------------------------
    def before_login(self) -> Callable[[Handler], Handler]:
        return self._register("before_login", "_User", {})

    def after_login(self, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        return self._register("after_login", "_User", {}, timeout)

    def after_logout(self, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        return self._register("after_logout", "_Session", {}, timeout)

    # --- files --------------------------------------------------------------------------------------------
    # request.object is the file as `{"__type": "File", "name", "url"?, "contentType"?, "size"?}`;
    # before_save_file may change the name or refuse (api/cloud/files.py runs them for the files endpoint).
    def before_save_file(self, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("before_save_file", "@File", validator)

    def after_save_file(self, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        return self._register("after_save_file", "@File", {}, timeout)

    def before_delete_file(self, **validator: Any) -> Callable[[Handler], Handler]:
        return self._register("before_delete_file", "@File", validator)

    def after_delete_file(self, *, timeout: float | None = None) -> Callable[[Handler], Handler]:
        return self._register("after_delete_file", "@File", {}, timeout)

    # --- LiveQuery ----------------------------------------------------------------------------------------
    def before_connect(self, **validator: Any) -> Callable[[Handler], Handler]:
        """Every `connect` frame; raise to refuse the socket (an `error` frame, no subscriptions)."""
        return self._register("before_connect", "", validator)

    def before_subscribe(self, class_name: str, **validator: Any) -> Callable[[Handler], Handler]:
        """Every `subscribe`/`update` frame: raise to refuse, or change `request.query` (where, keys, watch)."""
        return self._register("before_subscribe", _class(class_name, "before_subscribe"), validator)

    def after_live_query_event(self, class_name: str) -> Callable[[Handler], Handler]:
        """Once per event per receiving subscriber (as Parse): change `request.object`, or set
        `request.send_event = False` to drop the event for that subscriber. Other subscribers never wait."""
        return self._register("after_live_query_event", _class(class_name, "after_live_query_event"), {})

    def after_live_query_write(self, class_name: str) -> Callable[[Handler], Handler]:
        """Once per write, before the fan-out, for work that does not depend on who receives the event:
        change `request.object` for every subscriber, or set `request.send_event = False` to drop it."""
        return self._register("after_live_query_write", _class(class_name, "after_live_query_write"), {})

    def live_query_options(self, class_name: str, *, coalesce_ms: float | None = None) -> None:
        """Server-side LiveQuery delivery options of a class. `coalesce_ms`: each subscriber gets at most one
        `update` per object per window, carrying the latest state (create/enter/leave/delete are never merged,
        and a pending update is sent before them); None or 0 turns coalescing off."""
        target = _class(class_name, "live_query_options")
        if coalesce_ms is None or coalesce_ms == 0:
            self.coalesce_ms.pop(target, None)
            return
        if not isinstance(coalesce_ms, (int, float)) or isinstance(coalesce_ms, bool) or not 0 < coalesce_ms <= 60_000:
            raise CloudDefinitionError("live_query_options: coalesce_ms must be a number of milliseconds (1 to 60000)")
        self.coalesce_ms[target] = float(coalesce_ms)

    # --- plain HTTP ---------------------------------------------------------------------------------------
    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """A plain HTTP endpoint under the server's cloud prefix (`/cloud` by default), e.g.
        `@cloud.route("GET", "/calendar/{token}.ics")`. The handler returns str, bytes, a JSON value or an
        `HttpResponse`; `request.path_params`, `request.query_params`, `request.body` and `request.api` are set."""
        verb = method.upper()
        if verb not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise CloudDefinitionError(f"cloud.route: unsupported method {method!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise CloudDefinitionError(f"cloud.route: the path must start with '/', got {path!r}")

        def register(handler: Handler) -> Handler:
            _check_handler(handler, f"route {verb} {path}")
            self.routes.append(Route(verb, path, handler, _source(handler)))
            return handler

        return register

    # --- lookup -------------------------------------------------------------------------------------------
    def hook(self, kind: str, target: str = "") -> Hook | None:
        table = self.hooks.get(kind)
        return None if table is None else table.get(target)

    def names(self, kind: str) -> list[str]:
        return sorted(self.hooks.get(kind, {}))

    def _register(self, kind: str, target: str, options: dict[str, Any],
                  timeout: float | None = None) -> Callable[[Handler], Handler]:
        validator = validator_from(options, kind)
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise CloudDefinitionError(f"{kind}: timeout must be a positive number of seconds")

        def register(handler: Handler) -> Handler:
            _check_handler(handler, f"{kind}({target!r})" if target else kind)
            table = self.hooks.setdefault(kind, {})
            if target in table:
                log.warning("cloud: %s %r registered again; the later one (%s) replaces it", kind, target,
                            _source(handler))
            table[target] = Hook(kind, target, handler, validator, _source(handler), timeout)
            return handler

        return register


# --- helpers for hooks: objects are REST JSON dicts -----------------------------------------------------------

def pointer(class_name: str, object_id: str) -> dict[str, str]:
    """A Pointer as `request.api` writes it and as objects hold it (the JS SDK's `object.toPointer()`)."""
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def id_of(value: Any) -> str | None:
    """The objectId of a Pointer (or of an object) in REST JSON form; None for anything else (a missing field)."""
    return value.get("objectId") if isinstance(value, dict) else None


def changed(request: CloudRequest, field: str) -> bool:
    """Whether the save `request` makes changes `field` (the JS SDK's `request.object.dirty(field)`): for a new
    object, whether it sets the field at all."""
    return request.object.get(field) != (request.original or {}).get(field)  # type: ignore[union-attr]


def validator_from(options: dict[str, Any], kind: str) -> Validator | None:
    """Parse's validator options, checked now: unknown keys or wrong types raise CloudDefinitionError."""
    if not options:
        return None
    known = set(Validator.__struct_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise CloudDefinitionError(f"{kind}: unknown validator option(s) {', '.join(unknown)} "
                                   f"(known: {', '.join(sorted(known))})")
    values = dict(options)
    values["fields"] = _field_rules(options.get("fields"), kind)
    values["require_user_keys"] = _user_key_rules(options.get("require_user_keys"), kind)
    for name in ("require_any_user_roles", "require_all_user_roles"):
        roles = options.get(name, ())
        if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
            raise CloudDefinitionError(f"{kind}: {name} must be a list of role names")
        values[name] = tuple(roles)
    for name in ("require_user", "require_master", "validate_master_key", "skip_with_master_key"):
        if not isinstance(options.get(name, False), bool):
            raise CloudDefinitionError(f"{kind}: {name} must be True or False")
    if options.get("check") is not None and not callable(options["check"]):
        raise CloudDefinitionError(f"{kind}: check must be a function")
    validator = Validator(**values)
    return None if validator.is_empty() else validator


def _field_rules(raw: Any, kind: str) -> dict[str, FieldRule]:
    if raw is None:
        return {}
    if isinstance(raw, (list, tuple)):  # Parse's short form: the names of required fields
        if not all(isinstance(name, str) for name in raw):
            raise CloudDefinitionError(f"{kind}: fields must name fields")
        return {name: FieldRule(required=True) for name in raw}
    if not isinstance(raw, dict):
        raise CloudDefinitionError(f"{kind}: fields must be a list of names or a dict of rules")
    rules: dict[str, FieldRule] = {}
    for name, rule in raw.items():
        if not isinstance(rule, dict):
            raise CloudDefinitionError(f"{kind}: the rule for field {name!r} must be a dict")
        unknown = sorted(set(rule) - set(FieldRule.__struct_fields__))
        if unknown:
            raise CloudDefinitionError(f"{kind}: unknown option(s) {', '.join(unknown)} for field {name!r}")
        type_name = rule.get("type")
        if type_name is not None:
            type_name = _PY_TYPES.get(type_name, type_name)  # type: ignore[call-overload]
            if type_name not in FIELD_TYPES and type_name not in TYPED_FIELDS:
                raise CloudDefinitionError(f"{kind}: field {name!r} has type {rule.get('type')!r}; use one of "
                                           f"{', '.join([*FIELD_TYPES, *TYPED_FIELDS])}")
        for flag in ("required", "constant"):
            if not isinstance(rule.get(flag, False), bool):
                raise CloudDefinitionError(f"{kind}: {flag} of field {name!r} must be True or False")
        if rule.get("error") is not None and not isinstance(rule["error"], str):
            raise CloudDefinitionError(f"{kind}: error of field {name!r} must be a string")
        rules[name] = FieldRule(**{**rule, "type": type_name})
    return rules


def _user_key_rules(raw: Any, kind: str) -> dict[str, UserKeyRule]:
    if raw is None:
        return {}
    if isinstance(raw, (list, tuple)) and all(isinstance(k, str) for k in raw):
        return {key: UserKeyRule() for key in raw}
    if isinstance(raw, dict) and all(isinstance(v, dict) and set(v) <= {"options", "error"} for v in raw.values()):
        return {key: UserKeyRule(**rule) for key, rule in raw.items()}
    raise CloudDefinitionError(f"{kind}: require_user_keys must be a list of keys or a dict of "
                               "{key: {options, error}}")


def _name(name: Any, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise CloudDefinitionError(f"cloud.{'define' if kind == 'function' else kind}: the name must be a "
                                   f"non-empty string, got {name!r}")
    return name


def _class(class_name: Any, kind: str) -> str:
    if not isinstance(class_name, str) or not class_name:
        raise CloudDefinitionError(f"cloud.{kind}: the class must be a class name, got {class_name!r}")
    name = SYSTEM_ALIASES.get(class_name, class_name)
    if name == "_Session":  # as Parse: session rows are the server's; only their log-out is observable
        raise CloudDefinitionError(f"cloud.{kind}: triggers are not allowed on _Session (use after_logout)")
    return name


def _check_handler(handler: Any, what: str) -> None:
    if not callable(handler):
        raise CloudDefinitionError(f"{what}: decorate a function (got {handler!r})")


def _source(handler: Callable[..., Any]) -> str:
    code = getattr(handler, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else repr(handler)


class CloudQuery:
    """A query as before_find and before_subscribe see it: change its fields (or return a new one).

    `where` is Parse's REST `where` (a dict, ANDed with nothing else: what it says is the query); `keys`,
    `include` and `exclude_keys` are lists of field names; `watch` (LiveQuery) the fields whose change is an
    event."""

    def __init__(self, class_name: str, where: dict[str, Any] | None = None, *, order: str | None = None,
                 limit: int | None = None, skip: int | None = None, keys: list[str] | None = None,
                 include: list[str] | None = None, exclude_keys: list[str] | None = None,
                 watch: list[str] | None = None, count: bool = False, is_get: bool = False) -> None:
        self.class_name = class_name
        self.where: dict[str, Any] = where if where is not None else {}
        self.order = order
        self.limit = limit
        self.skip = skip
        self.keys = keys
        self.include = include
        self.exclude_keys = exclude_keys
        self.watch = watch
        self.count = count
        self.is_get = is_get

    def equal_to(self, field: str, value: Any) -> CloudQuery:
        """Add `field == value` to whatever the query already asks (Parse's `query.equalTo`)."""
        self.where = {"$and": [self.where, {field: value}]} if field in self.where else {**self.where, field: value}
        return self

    def __repr__(self) -> str:
        return f"CloudQuery({self.class_name}, where={self.where!r})"
