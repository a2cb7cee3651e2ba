"""Airtable's error answers: ``{"error": {"type", "message"}}`` (or the bare ``{"error": "NOT_FOUND"}``)."""

from __future__ import annotations

from typing import Any

NOT_FOUND_MESSAGE = (
    "Invalid permissions, or the requested model was not found. Check that both your user and your token have "
    "the required permissions, and that the model names and/or ids are correct."
)


class ApiError(Exception):
    """An answer other than 200, shaped as Airtable shapes it; raised anywhere below a route, rendered once."""

    def __init__(self, status: int, error_type: str, message: str | None = None, *, bare: bool = False) -> None:
        super().__init__(f"{status} {error_type}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.bare = bare

    def body(self) -> Any:
        if self.bare:
            return {"error": self.error_type}
        if self.message is None:
            return {"error": {"type": self.error_type}}
        return {"error": {"type": self.error_type, "message": self.message}}


def unprocessable(error_type: str, message: str | None = None) -> ApiError:
    return ApiError(422, error_type, message)


def authentication_required() -> ApiError:
    return ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication required")


def model_not_found() -> ApiError:
    return ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", bare=True)


def invalid_request() -> ApiError:
    return unprocessable(
        "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data."
    )


def unknown_field(ref: object) -> ApiError:
    return unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')


NOT_SERVED = "NOT_SERVED_FROM_MIRROR"


def not_served(what: str) -> ApiError:
    """What the mirror cannot answer as Airtable would: passed through to Airtable where it can be, else refused,
    never answered differently."""
    return unprocessable(
        NOT_SERVED,
        f"airtable-pg serves records from its Postgres mirror, which cannot answer {what} the way Airtable would; "
        "leave it out, or send this request to Airtable itself",
    )
