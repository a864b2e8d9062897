//! The one list of every route, and the middleware stack around it.
//!
//! `/api/v1` is assembled from each area's `router()` with utoipa-axum, so a
//! route cannot exist without appearing in `/api/v1/openapi.json`.

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::routing::get;
use axum::{middleware, Extension, Json, Router};
use ferry_dicom_store::StoreState;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::BodyLimit;
use crate::server_state::ServerState;
use crate::{
    audit, auth, booking, breakglass, call, catalogue, consent, consultation, examination,
    facility, fhir_views, figures, imaging, modality, notify, opinion, ops, patient, reading,
    referral, roster, sharing, telemetry, user, web,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Telemedicine consultation and remote-imaging coordination for a medical consortium. \
                       Every error is `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

static OPENAPI: OnceLock<OpenApiDoc> = OnceLock::new();

/// The `/api/v1` routes and the document that describes them.
pub fn api() -> (Router<ServerState>, OpenApiDoc) {
    let v1 = OpenApiRouter::new()
        .merge(user::sign_in::router())
        .merge(facility::routes::router())
        .merge(modality::routes::router())
        .merge(user::routes::router())
        .merge(patient::routes::router())
        .merge(patient::merge_routes::router())
        .merge(patient::lookup_routes::router())
        .merge(breakglass::routes::router())
        .merge(crate::my_patients::routes::router())
        .merge(sharing::routes::router())
        .merge(sharing::elsewhere::router())
        .merge(imaging::patient_studies::router())
        .merge(imaging::unlinked_routes::router())
        .merge(imaging::forward_routes::router())
        .merge(imaging::deletion::router())
        .merge(audit::routes::router())
        .merge(notify::routes::router())
        .merge(roster::routes::router())
        .merge(booking::search::router())
        .merge(booking::routes::router())
        .merge(consultation::routes::router())
        .merge(consultation::oncall::router())
        .merge(consultation::desk::router())
        .merge(consent::routes::router())
        .merge(opinion::routes::router())
        .merge(figures::routes::router())
        .merge(fhir_views::routes::router())
        .merge(fhir_views::resources::router())
        .merge(catalogue::routes::router())
        .merge(referral::routes::router())
        .merge(examination::routes::router())
        .merge(examination::recognition_routes::router())
        .merge(reading::routing_rules::router())
        .merge(reading::routes::router())
        .merge(reading::worklist::router())
        .merge(reading::readers::router())
        .merge(reading::report_routes::router())
        .merge(reading::critical::router())
        .merge(reading::fhir::router())
        .merge(call::routes::router())
        .merge(call::invitees::router())
        .merge(call::recording_routes::router())
        .merge(call::chat_routes::router())
        .routes(routes!(openapi_json));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .split_for_parts()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> Json<OpenApiDoc> {
    Json(OPENAPI.get_or_init(|| api().1).clone())
}

pub fn build(state: ServerState) -> Router {
    let limit = state.settings.max_body_bytes;
    let (api, _) = api();
    let dicomweb = dicomweb(&state);
    let router = Router::new()
        .merge(api)
        // A service of its own, so the CORS layer also answers preflight
        // requests, which match no DICOMweb route.
        .nest_service("/dicomweb", dicomweb)
        .merge(call::routes::signal_router())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(web::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(BodyLimit(limit)))
        // Inside the metrics, so a request stopped at its deadline is
        // counted with the status it was answered with.
        .layer(middleware::from_fn_with_state(
            state.app.clone(),
            crate::deadline::deadline,
        ))
        .layer(middleware::from_fn_with_state(
            state.app.clone(),
            telemetry::record_metrics,
        ))
        // An island clinic's link is 1 Mbit/s: JSON and text go compressed
        // to whoever accepts it (brotli, else gzip). The client's own files
        // come precompressed from `web` and pass through untouched.
        .layer(
            CompressionLayer::new().compress_when(DefaultPredicate::new().and(worth_compressing)),
        )
        .with_state(state);
    telemetry::apply_layers(router)
}

/// Words, not pixels: JSON of every kind (the API's, DICOM JSON, FHIR),
/// text (HTML, CSS, JavaScript, CSV, metrics) and SVG. Never DICOM
/// instances, frames or rendered images: mostly compressed already, and
/// large enough that squeezing them would cost more CPU than it saves on a
/// fast link. (`DefaultPredicate` already leaves out event streams, which
/// must not wait in an encoder's buffer, and bodies under 32 bytes.)
fn worth_compressing(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence == "image/svg+xml"
}

/// DICOMweb (STOW-RS, QIDO-RS, WADO-RS, WADO-URI) from the imaging store, under `/dicomweb`.
/// Outside `/api/v1` and its OpenAPI document: PS3.18 is its specification.
fn dicomweb(state: &ServerState) -> Router {
    let settings = &state.settings;
    let router = ferry_dicom_store::router(StoreState {
        store: state.imaging.store().clone(),
        access: Arc::new(state.imaging.clone()),
        base_url: "/dicomweb".to_owned(),
        public_root: settings
            .public_url
            .as_deref()
            .map(|url| format!("{}/dicomweb", url.trim_end_matches('/'))),
        max_request_bytes: settings.stow_max_bytes,
        max_parts: settings.stow_max_parts,
    })
    .fallback(|| async { ApiError::NoRoute })
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
    .layer(middleware::map_request(auth::session_cookie_as_bearer))
    // STOW-RS streams its body to disk under its own limit
    // (`stow_max_bytes`); the global JSON limit would cut studies off.
    .layer(DefaultBodyLimit::disable());
    let origins: Vec<HeaderValue> = settings
        .dicomweb_cors_origins
        .iter()
        // Checked at startup (`Application::build`), so none is dropped here.
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return router;
    }
    // Only the configured origins, by name: a viewer there may send the
    // session cookie or a token (credentials), and the request headers
    // viewers and DICOMweb clients send (ranges, caching, their own
    // X-Requested-With).
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::ACCEPT_LANGUAGE,
                header::CACHE_CONTROL,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                header::IF_MODIFIED_SINCE,
                header::RANGE,
                header::HeaderName::from_static("x-requested-with"),
            ])
            .max_age(std::time::Duration::from_secs(600))
            .expose_headers([
                header::CONTENT_TYPE,
                header::CONTENT_LOCATION,
                header::WARNING,
                telemetry::REQUEST_ID_HEADER,
            ]),
    )
}
