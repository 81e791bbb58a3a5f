"""The one shape of every error the service answers: JSON {"error": one sentence, "disclaimer"}.

No traceback, no server path, nothing the client sent echoed back.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from assistant.texts import DISCLAIMER


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "disclaimer": DISCLAIMER}, status_code=status, headers=headers)
