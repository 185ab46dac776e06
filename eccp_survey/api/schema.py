"""The OpenAPI schema's conventions, added to every operation by a drf-spectacular
postprocessing hook: the error body (eccp_survey.api.errors) for each 4xx an operation can give
whatever it does, so that clients and the schemathesis tests know them all."""

from typing import Any

from drf_spectacular.hooks import postprocess_schema_enums

ERROR_REF = {"$ref": "#/components/schemas/Error"}
COMMON_ERRORS = {
    "400": "Invalid input: each field's error.",
    "401": "Not authenticated: no valid API token or session.",
    "403": "Authenticated, but the role or the token's scope does not allow it.",
    "404": "No such resource (or not yours to see).",
    "405": "Method not allowed.",
    "406": "Not acceptable: ask for application/json.",
    "415": "Unsupported media type: send application/json.",
    "429": "Too many requests: wait Retry-After seconds.",
}


def postprocess_common_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    result = postprocess_schema_enums(result, generator)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    return result
