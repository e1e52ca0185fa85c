"""Cloud functions: `POST /functions/<name>`, `request.api.run`, and any other door (GraphQL's callCloudCode)."""
from __future__ import annotations

from typing import Any

from api.cloud.runner import Caller, HookRunner
from storage.errors import ErrorCode, ParseError


class CloudFunctions:
    def __init__(self, hooks: HookRunner) -> None:
        self._hooks = hooks

    def names(self) -> list[str]:
        return self._hooks.names("function")

    async def call(self, caller: Caller, name: str, params: dict[str, Any]) -> Any:
        """Run the function `name` for `caller` with decoded `params` (see api.cloud.values); returns its result
        as the handler returned it. 141 "Invalid function" when there is none; errors as Parse answers them."""
        hook = self._hooks.find("function", name)
        if hook is None:
            raise ParseError(ErrorCode.SCRIPT_FAILED, f'Invalid function: "{name}"')
        request = await self._hooks.request_for(hook, caller, function_name=name, params=params,
                                                trigger_name=None)
        return await self._hooks.run(hook, request, caller.principal, request.params)
