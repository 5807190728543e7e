//! The error answers of the API as the OpenAPI document declares them. Each is defined
//! once (a component response: RFC 9457 `application/problem+json` with a `Problem`
//! body), and every operation gets those its inputs can cause, read from the operation
//! itself: a bearer token can be refused (401), a path id can be malformed (400) or point
//! at nothing visible (404), a query string or body can be malformed (400), a body can be
//! too large (413) or not JSON (415), an `If-Match` can fail (412). So a new route is
//! documented truthfully by default; only the answers its own rules give (403, 409,
//! 422, 502) are listed on the route.
use std::collections::BTreeMap;
use utoipa::openapi::path::{Operation, ParameterIn};

use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema};

use super::error::ErrorCode;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One shared error answer: its status, component name and meaning.
struct ProblemResponse {
    code: ErrorCode,
    name: &'static str,
    description: &'static str,
}

/// Every error answer the API gives, by status.
const PROBLEM_RESPONSES: &[ProblemResponse] = &[
    ProblemResponse {
        code: ErrorCode::InvalidBody,
        name: "BadRequest",
        description: "Malformed input: a path id that is not a UUID (`invalid_path`), an unknown or \
            malformed query parameter (`invalid_query`), a cursor this service did not issue \
            (`invalid_cursor`), or a body that is not a JSON object of the expected shape \
            (`invalid_body`); `errors` names the field",
    },
    ProblemResponse {
        code: ErrorCode::Unauthorized,
        name: "Unauthorized",
        description: "No valid bearer token (`WWW-Authenticate: Bearer`)",
    },
    ProblemResponse {
        code: ErrorCode::Forbidden,
        name: "Forbidden",
        description: "The caller sees the record but may not do this (e.g. a read grant only)",
    },
    ProblemResponse {
        code: ErrorCode::NotFound,
        name: "NotFound",
        description: "No such record, or not visible to the caller",
    },
    ProblemResponse {
        code: ErrorCode::Conflict,
        name: "Conflict",
        description: "Conflicts with the current state of the record",
    },
    ProblemResponse {
        code: ErrorCode::PreconditionFailed,
        name: "PreconditionFailed",
        description: "`If-Match` does not match the current version (the ETag)",
    },
    ProblemResponse {
        code: ErrorCode::PayloadTooLarge,
        name: "PayloadTooLarge",
        description: "The body is larger than the configured limit",
    },
    ProblemResponse {
        code: ErrorCode::UnsupportedMediaType,
        name: "UnsupportedMediaType",
        description: "The body is not sent as `Content-Type: application/json`",
    },
    ProblemResponse {
        code: ErrorCode::ValidationFailed,
        name: "ValidationFailed",
        description: "The input breaks a rule; `errors` names each bad field",
    },
    ProblemResponse {
        code: ErrorCode::TooManyRequests,
        name: "TooManyRequests",
        description: "The caller holds as many of a per-user resource as allowed (live event \
            streams, Exchange calls in flight); retry when one has ended",
    },
    ProblemResponse {
        code: ErrorCode::Internal,
        name: "InternalError",
        description: "An unexpected failure (e.g. the database); details are in the service \
            logs under the request id",
    },
    ProblemResponse {
        code: ErrorCode::ExchangeError,
        name: "ExchangeError",
        description: "Exchange answered with an error or could not be reached \
            (`exchange_error_kind`, `exchange_code`)",
    },
];

fn shared(status: u16) -> Option<&'static ProblemResponse> {
    PROBLEM_RESPONSES
        .iter()
        .find(|p| p.code.status().as_u16() == status)
}

/// The statuses an operation's inputs can cause, whatever its handler does.
fn implied_statuses(op: &Operation) -> Vec<u16> {
    let mut statuses = Vec::new();
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        // The token is checked first; the caller is then upserted (a database write).
        statuses.extend([401, 500]);
    }
    for p in op.parameters.iter().flatten() {
        let RefOr::T(p) = p else { continue };
        match p.parameter_in {
            ParameterIn::Path => statuses.extend([400, 404]),
            ParameterIn::Query => statuses.push(400),
            ParameterIn::Header if p.name.eq_ignore_ascii_case("if-match") => statuses.push(412),
            _ => {}
        }
    }
    if op.request_body.is_some() {
        statuses.extend([400, 413, 415]);
    }
    statuses
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Declares the shared error answers as components and attaches them to every operation;
/// an error answer a route lists with its own description keeps it, as problem+json.
pub fn declare(api: &mut OpenApi) {
    for path in api.paths.paths.values_mut() {
        for op in [
            &mut path.get,
            &mut path.put,
            &mut path.post,
            &mut path.delete,
            &mut path.patch,
        ]
        .into_iter()
        .flatten()
        {
            declare_on(op);
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    close_tagged_variants(&mut components.schemas);
    for p in PROBLEM_RESPONSES {
        components
            .responses
            .insert(p.name.to_owned(), RefOr::T(problem_response(p.description)));
    }
}

fn declare_on(op: &mut Operation) {
    let implied = implied_statuses(op);
    let responses = &mut op.responses.responses;
    for status in implied {
        responses.entry(status.to_string()).or_insert_with(|| {
            let shared = shared(status).expect("every implied status is shared");
            RefOr::Ref(Ref::new(format!("#/components/responses/{}", shared.name)))
        });
    }
    for (status, response) in responses.iter_mut() {
        let Some(shared) = status.parse().ok().and_then(shared) else {
            continue;
        };
        let RefOr::T(r) = response else { continue };
        // Only the listed statuses that carry no body of their own are problems (the
        // readiness probe's 503 answers its `Health`).
        if !r.content.is_empty() {
            continue;
        }
        *response = if r.description.is_empty() {
            RefOr::Ref(Ref::new(format!("#/components/responses/{}", shared.name)))
        } else {
            RefOr::T(problem_response(&r.description))
        };
    }
}

/// Bodies internally tagged by `kind` whose variants refuse unknown members
/// (`deny_unknown_fields`), which utoipa does not carry into the variants' schemas.
const CLOSED_TAGGED_BODIES: &[&str] = &["AuthWrite"];

fn close_tagged_variants(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    for name in CLOSED_TAGGED_BODIES {
        let Some(RefOr::T(Schema::OneOf(one_of))) = schemas.get_mut(*name) else {
            panic!("{name} is no longer a tagged body: update CLOSED_TAGGED_BODIES");
        };
        for variant in &mut one_of.items {
            if let RefOr::T(Schema::Object(o)) = variant {
                o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}
