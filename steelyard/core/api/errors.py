"""The API's one error format, and the exception handlers that produce it.

Every error the API answers looks like this, whatever raised it::

    {"error": {"code": "validation_error",
               "message": "Some fields are not valid.",
               "fields": [{"field": "body.email", "message": "Enter a valid email address."}]}}

``code`` is a stable machine-readable word; ``message`` is in the user's language; ``fields``
lists per-field problems (empty when the error is not about a field).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils.translation import gettext_lazy
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger("steelyard.api")

# Codes clients may branch on.
VALIDATION_ERROR = "validation_error"
BAD_REQUEST = "bad_request"
MALFORMED_JSON = "malformed_json"
CSRF_FAILED = "csrf_failed"
INVALID_CURSOR = "invalid_cursor"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
PAYLOAD_TOO_LARGE = "payload_too_large"
THROTTLED = "throttled"
SERVER_ERROR = "server_error"
METHOD_NOT_ALLOWED = "method_not_allowed"

MSG_INVALID_INPUT = gettext_lazy("Some fields are not valid.")
MSG_MALFORMED_JSON = gettext_lazy("The request body is not valid JSON.")
MSG_TOO_LARGE = gettext_lazy("The request body is too large.")
MSG_UNAUTHORIZED = gettext_lazy("Sign in or send a valid API token.")
MSG_FORBIDDEN = gettext_lazy("You do not have permission to do this.")
MSG_CSRF = gettext_lazy("The CSRF check failed. Reload the page and try again.")
MSG_NOT_FOUND = gettext_lazy("This page does not exist, or you do not have access to it.")
MSG_THROTTLED = gettext_lazy("Too many requests. Try again in %(seconds)s seconds.")
MSG_THROTTLED_SOON = gettext_lazy("Too many requests. Try again shortly.")
MSG_SERVER_ERROR = gettext_lazy("Something went wrong on our side.")
MSG_BAD_REQUEST = gettext_lazy("The request could not be understood.")
MSG_METHOD_NOT_ALLOWED = gettext_lazy("This method is not allowed here. Allowed: %(methods)s.")


class ApiError(HttpError):
    """An error raised on purpose by API code, carrying its own code and field details."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        fields: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(status_code, str(message))
        self.code = code
        self.fields = list(fields)


class TokenAuthenticationError(AuthenticationError):
    """A presented API token was refused; the message says why (expired, revoked, invalid)."""

    def __init__(self, message: str) -> None:
        super().__init__(401, str(message))


class MalformedJSON(ValueError):
    """The request body could not be parsed as JSON."""


class StrictJSONParser(Parser):
    """Ninja's JSON parser, but failing with a type we can recognise in the error handler."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            return json.loads(request.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise MalformedJSON(str(exc)) from exc


def error_body(code: str, message: str, fields: Iterable[dict[str, str]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "fields": list(fields)}}


def error_response(
    status: int, code: str, message: str, fields: Iterable[dict[str, str]] = ()
) -> JsonResponse:
    """A JSON response in the one error format; usable outside ninja (e.g. Django's 404 handler)."""
    return JsonResponse(
        error_body(code, message, fields), status=status, json_dumps_params={"ensure_ascii": False}
    )


# --- pydantic messages in the user's language ---------------------------------------------
# Pydantic speaks English; the common error types get our own translatable messages.
_PYDANTIC_MESSAGES: dict[str, Any] = {
    "missing": gettext_lazy("This field is required."),
    "string_type": gettext_lazy("Enter text."),
    "string_too_short": gettext_lazy("Ensure this value has at least %(min_length)s characters."),
    "string_too_long": gettext_lazy("Ensure this value has at most %(max_length)s characters."),
    "int_type": gettext_lazy("Enter a whole number."),
    "int_parsing": gettext_lazy("Enter a whole number."),
    "int_from_float": gettext_lazy("Enter a whole number."),
    "float_type": gettext_lazy("Enter a number."),
    "float_parsing": gettext_lazy("Enter a number."),
    "decimal_type": gettext_lazy("Enter a number."),
    "decimal_parsing": gettext_lazy("Enter a number."),
    "bool_type": gettext_lazy("Enter true or false."),
    "bool_parsing": gettext_lazy("Enter true or false."),
    "greater_than": gettext_lazy("Ensure this value is greater than %(gt)s."),
    "greater_than_equal": gettext_lazy("Ensure this value is greater than or equal to %(ge)s."),
    "less_than": gettext_lazy("Ensure this value is less than %(lt)s."),
    "less_than_equal": gettext_lazy("Ensure this value is less than or equal to %(le)s."),
    "date_type": gettext_lazy("Enter a valid date."),
    "date_parsing": gettext_lazy("Enter a valid date."),
    "date_from_datetime_parsing": gettext_lazy("Enter a valid date."),
    "datetime_type": gettext_lazy("Enter a valid date/time."),
    "datetime_parsing": gettext_lazy("Enter a valid date/time."),
    "datetime_from_date_parsing": gettext_lazy("Enter a valid date/time."),
    "uuid_type": gettext_lazy("Enter a valid UUID."),
    "uuid_parsing": gettext_lazy("Enter a valid UUID."),
    "enum": gettext_lazy("Select a valid choice. %(expected)s"),
    "literal_error": gettext_lazy("Select a valid choice. %(expected)s"),
    "list_type": gettext_lazy("Enter a list of values."),
    "dict_type": gettext_lazy("Enter an object."),
    "model_type": gettext_lazy("Enter an object."),
    "model_attributes_type": gettext_lazy("Enter an object."),
    "extra_forbidden": gettext_lazy("This field is not allowed."),
}


def _field_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _pydantic_message(err: dict[str, Any]) -> str:
    template = _PYDANTIC_MESSAGES.get(err.get("type", ""))
    if template is None:
        msg = str(err.get("msg", ""))
        # value_error messages come from our own validators; drop pydantic's prefix.
        return msg.removeprefix("Value error, ")
    ctx = dict(err.get("ctx") or {})
    try:
        return str(template) % ctx if "%(" in str(template) else str(template)
    except (KeyError, TypeError, ValueError):
        return str(err.get("msg", template))


def validation_fields(errors: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Ninja's validation errors as ``[{"field": "body.name", "message": "..."}]``."""
    fields = []
    for err in errors:
        loc = list(err.get("loc") or [])
        fields.append({"field": _field_path(loc), "message": _pydantic_message(err)})
    return fields


def django_validation_fields(exc: DjangoValidationError) -> tuple[str, list[dict[str, str]]]:
    """The message and field details of a Django ``ValidationError`` raised by a service."""
    if hasattr(exc, "error_dict"):
        fields = []
        general: list[str] = []
        for field, messages in exc.message_dict.items():
            for message in messages:
                if field in ("__all__", None):
                    general.append(message)
                else:
                    fields.append({"field": field, "message": message})
        message = " ".join(general) if general else str(MSG_INVALID_INPUT)
        return message, fields
    return " ".join(exc.messages), []


def json_method_not_allowed(view: Any) -> Any:
    """Wrap a ninja URL view so its plain-text 405 answers in the one error format."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            json_response = error_response(
                405, METHOD_NOT_ALLOWED, str(MSG_METHOD_NOT_ALLOWED) % {"methods": allowed}
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapped


# --- handlers -------------------------------------------------------------------------------


def _on_validation_error(request: HttpRequest, exc: ValidationError, api: NinjaAPI) -> HttpResponse:
    return error_response(422, VALIDATION_ERROR, str(MSG_INVALID_INPUT), validation_fields(exc.errors))


def _on_django_validation_error(
    request: HttpRequest, exc: DjangoValidationError, api: NinjaAPI
) -> HttpResponse:
    message, fields = django_validation_fields(exc)
    return error_response(400, VALIDATION_ERROR, message, fields)


def _on_http_error(request: HttpRequest, exc: HttpError, api: NinjaAPI) -> HttpResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, exc.message, exc.fields)
    if isinstance(exc, Throttled):
        return _on_throttled(request, exc, api)
    if isinstance(exc, TokenAuthenticationError):
        return _unauthorized(exc.message)
    if isinstance(exc, AuthenticationError):
        return _unauthorized(str(MSG_UNAUTHORIZED))
    if isinstance(exc, AuthorizationError):
        return error_response(403, FORBIDDEN, str(MSG_FORBIDDEN))
    if isinstance(exc.__cause__, MalformedJSON):
        return error_response(400, MALFORMED_JSON, str(MSG_MALFORMED_JSON))
    status = exc.status_code
    code = {400: BAD_REQUEST, 401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND, 413: PAYLOAD_TOO_LARGE}.get(
        status, "error"
    )
    return error_response(status, code, exc.message)


def _unauthorized(message: str) -> HttpResponse:
    response = error_response(401, UNAUTHORIZED, message)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _on_throttled(request: HttpRequest, exc: Throttled, api: NinjaAPI) -> HttpResponse:
    wait = exc.wait
    if wait is not None:
        seconds = max(1, int(-(-wait // 1)))
        message = str(MSG_THROTTLED) % {"seconds": seconds}
    else:
        message = str(MSG_THROTTLED_SOON)
    response = error_response(429, THROTTLED, message)
    if wait is not None:
        response["Retry-After"] = str(seconds)
    return response


def _on_permission_denied(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    # A PermissionDenied raised with a message (by a service) is shown as is.
    message = str(exc) if exc.args and str(exc) else str(MSG_FORBIDDEN)
    return error_response(403, FORBIDDEN, message)


def _on_not_found(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    return error_response(404, NOT_FOUND, str(MSG_NOT_FOUND))


def _on_too_big(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    return error_response(413, PAYLOAD_TOO_LARGE, str(MSG_TOO_LARGE))


def _on_suspicious(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    logger.warning("Suspicious API request %s: %s", request.path, exc)
    return error_response(400, BAD_REQUEST, str(MSG_BAD_REQUEST))


def _on_unexpected(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    logger.exception("Unhandled API error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, SERVER_ERROR, str(MSG_SERVER_ERROR))


def install_error_handlers(api: NinjaAPI) -> None:
    """Route every exception an operation can raise to the one error format."""

    def bind(handler: Any) -> Any:
        return lambda request, exc: handler(request, exc, api)

    api.add_exception_handler(Exception, bind(_on_unexpected))
    api.add_exception_handler(ValidationError, bind(_on_validation_error))
    api.add_exception_handler(DjangoValidationError, bind(_on_django_validation_error))
    api.add_exception_handler(HttpError, bind(_on_http_error))
    api.add_exception_handler(PermissionDenied, bind(_on_permission_denied))
    api.add_exception_handler(Http404, bind(_on_not_found))
    api.add_exception_handler(ObjectDoesNotExist, bind(_on_not_found))
    api.add_exception_handler(RequestDataTooBig, bind(_on_too_big))
    api.add_exception_handler(SuspiciousOperation, bind(_on_suspicious))
