//! Who may see and do what, in one place: the authorization matrix's
//! vocabulary (a [`Row`] per endpoint, the [`Site`] a caller works at), the
//! policy's answers as predicates over role and site, and the verdicts every
//! access test judges a response by ([`assert_allowed`], [`assert_refused`],
//! [`assert_hidden_like_missing`]).

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{TestApp, TestUser};

/// Where a caller works, seen from the patient the request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The island clinic where the patient is registered.
    Own,
    /// Another island clinic.
    Other,
}

/// One matrix caller: a role, the site it works at, and its account.
pub type Caller = (Role, Site, TestUser);

/// One endpoint of the matrix, and who the policy lets call it.
pub struct Row {
    pub method: Method,
    /// The route template as the OpenAPI document spells it.
    pub template: &'static str,
    /// The template filled in with a record the matrix arranged.
    pub path: String,
    /// The request body, given a counter so repeated writes do not collide.
    pub body: Option<Box<dyn Fn(usize) -> Value>>,
    /// Whether a caller of this role at this site is let through.
    pub allowed: fn(Role, Site) -> bool,
    /// Answers without a session too.
    pub public: bool,
    /// An endpoint that streams: judged on its status, its body never read.
    pub stream: bool,
    /// A record the caller may not see answers 404 rather than 403, so its
    /// existence is not confirmed: both count as a refusal.
    pub hidden: bool,
    /// A CSV body instead of JSON.
    pub csv: Option<&'static str>,
}

/// A row with no body, for callers who need a session.
pub fn row(
    method: Method,
    template: &'static str,
    path: String,
    allowed: fn(Role, Site) -> bool,
) -> Row {
    Row {
        method,
        template,
        path,
        body: None,
        allowed,
        public: false,
        stream: false,
        hidden: false,
        csv: None,
    }
}

/// The row with a JSON body.
pub fn with_body(mut row: Row, body: impl Fn(usize) -> Value + 'static) -> Row {
    row.body = Some(Box::new(body));
    row
}

/// The row for a record whose existence a refused caller must not learn.
pub fn hidden(mut row: Row) -> Row {
    row.hidden = true;
    row
}

/// The own-site caller of `role`, who arranges the records the rows act on.
pub fn own(callers: &[Caller], role: Role) -> &TestUser {
    callers
        .iter()
        .find(|(r, s, _)| *r == role && *s == Site::Own)
        .map(|(_, _, u)| u)
        .expect("an own-site caller of each role")
}

/// Posts while arranging the matrix, where every step must succeed.
pub async fn post_ok(app: &TestApp, user: &TestUser, path: &str, body: Value) -> Value {
    let (status, body) = app.post(path, &user.token, body).await;
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

// The policy's answers. Roles alone decide the consortium-wide ones; the
// `own_*` ones also need the caller at the patient's (or record's) facility.

/// Any signed-in caller.
pub fn everyone(_: Role, _: Site) -> bool {
    true
}
/// Consortium administration: facilities, accounts, audit, the catalogue.
pub fn admin_only(role: Role, _: Site) -> bool {
    role == Role::Admin
}
/// An administrator anywhere, or anyone at the patient's own facility.
pub fn own_site_or_admin(role: Role, site: Site) -> bool {
    role == Role::Admin || site == Site::Own
}
/// Those who treat patients and may break the glass in an emergency.
pub fn care_roles(role: Role, _: Site) -> bool {
    matches!(role, Role::Clinician | Role::Expert | Role::Radiologist)
}
/// Those who take part in consultations, including the scheduler who books them.
pub fn clinical_roles(role: Role, _: Site) -> bool {
    matches!(role, Role::Clinician | Role::Expert | Role::Scheduler)
}
/// Clinicians anywhere: they refer, book and ask for readings.
pub fn clinicians(role: Role, _: Site) -> bool {
    role == Role::Clinician
}
/// Radiologists anywhere: the readers of worklists.
pub fn radiologists(role: Role, _: Site) -> bool {
    role == Role::Radiologist
}
/// The two sides of remote reading: who asks and who reads.
pub fn clinicians_and_radiologists(role: Role, _: Site) -> bool {
    matches!(role, Role::Clinician | Role::Radiologist)
}
/// Those who keep rosters: experts for their own, schedulers for anyone's.
pub fn experts_and_schedulers(role: Role, _: Site) -> bool {
    matches!(role, Role::Expert | Role::Scheduler)
}
/// The patient's own clinician.
pub fn own_clinician(role: Role, site: Site) -> bool {
    role == Role::Clinician && site == Site::Own
}
/// The record's own expert.
pub fn own_expert(role: Role, site: Site) -> bool {
    role == Role::Expert && site == Site::Own
}
/// The expert's own scheduler.
pub fn own_scheduler(role: Role, site: Site) -> bool {
    role == Role::Scheduler && site == Site::Own
}
/// The worklist's own radiologist.
pub fn own_radiologist(role: Role, site: Site) -> bool {
    role == Role::Radiologist && site == Site::Own
}
/// A consultation's two parties, the requesting clinician and the expert:
/// they see it, manage who joins its call, and act on its referrals.
pub fn own_clinician_or_expert(role: Role, site: Site) -> bool {
    site == Site::Own && matches!(role, Role::Clinician | Role::Expert)
}
/// A reading request's two parties: the clinician who asked and the reader.
pub fn own_clinician_or_radiologist(role: Role, site: Site) -> bool {
    site == Site::Own && matches!(role, Role::Clinician | Role::Radiologist)
}
/// A booking's parties: the booking clinician, the booked expert and the
/// scheduler who keeps the expert's roster.
pub fn booking_parties(role: Role, site: Site) -> bool {
    site == Site::Own && matches!(role, Role::Clinician | Role::Expert | Role::Scheduler)
}
/// The side that made a booking, or the scheduler who may change it.
pub fn own_clinician_or_scheduler(role: Role, site: Site) -> bool {
    site == Site::Own && matches!(role, Role::Clinician | Role::Scheduler)
}
/// The expert's side of a booking: the expert or their scheduler.
pub fn own_expert_or_scheduler(role: Role, site: Site) -> bool {
    site == Site::Own && matches!(role, Role::Expert | Role::Scheduler)
}

// Verdicts.

/// Whether `status` lets the caller through. A request that passes the policy
/// may still be turned down for what it says (400, 404, 409, 422), so only a
/// refusal of the caller (401, 403) or a crash counts against it.
pub fn is_allowed(status: StatusCode) -> bool {
    status != StatusCode::FORBIDDEN
        && status != StatusCode::UNAUTHORIZED
        && !status.is_server_error()
}

/// Whether `status` refuses the caller: 403, or 404 where the record is
/// `hidden` (its existence must not be confirmed to who may not see it).
pub fn is_refusal(status: StatusCode, hidden: bool) -> bool {
    status == StatusCode::FORBIDDEN || (hidden && status == StatusCode::NOT_FOUND)
}

/// Whether the response refuses the caller in Ferry's error envelope.
pub fn is_refused(status: StatusCode, body: &Value, hidden: bool) -> bool {
    is_refusal(status, hidden) && body["error"]["code"].is_string()
}

/// Asserts that the policy let the caller through.
#[track_caller]
pub fn assert_allowed(status: StatusCode, body: &Value, what: &str) {
    assert!(
        is_allowed(status),
        "{what}: expected to be allowed, got {status} {body}"
    );
}

/// Asserts that the caller was refused with 403 in Ferry's error envelope.
#[track_caller]
pub fn assert_refused(status: StatusCode, body: &Value, what: &str) {
    assert!(
        is_refused(status, body, false),
        "{what}: expected 403, got {status} {body}"
    );
}

/// Asserts that a record the caller may not see (`foreign`) is answered
/// exactly as one that does not exist (`missing`), status and body alike, so
/// the answer leaks nothing about it; and that the answer is not a success.
#[track_caller]
pub fn assert_hidden_like_missing(
    foreign: (StatusCode, &Value),
    missing: (StatusCode, &Value),
    what: &str,
) {
    assert!(
        !foreign.0.is_success(),
        "{what}: the hidden record was served: {} {}",
        foreign.0,
        foreign.1
    );
    assert_eq!(
        foreign, missing,
        "{what}: a hidden record must look like a missing one"
    );
}
