//! Read-only FHIR R4 views of scheduling, so other hospital systems can read
//! Ferry's rosters, slots, bookings, consultations and referrals:
//! Schedule (one per expert), Slot (generated from the roster), Appointment
//! (a booking) and ServiceRequest (a consultation or a referral). Each search
//! answers a `searchset` Bundle, filtered by the same rules as the JSON API.
//! The Patient, Organization and Practitioner those resources refer to are
//! read one by one ([`resources`]).

pub mod resources;
pub mod routes;

use serde_json::{json, Value};

use crate::booking::store::BookingRow;
use crate::booking::BookingStatus;
use crate::consultation::store::ConsultationRow;
use crate::consultation::{Status, Urgency};
use crate::referral::store::ReferralRow;
use crate::roster::slots::Slot;
use crate::roster::store::Expert;
use crate::roster::Service;
use crate::time::rfc3339;

pub fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": resources.len(),
        "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>(),
    })
}

fn service_type(service: Service) -> Value {
    json!([{ "text": match service {
        Service::Video => "video consultation",
        Service::AsyncReview => "asynchronous case review",
    } }])
}

pub fn schedule(expert: &Expert, horizon: (i64, i64)) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": format!("expert-{}", expert.id),
        "active": true,
        "specialty": expert.specialties.iter().map(|s| json!({ "text": s })).collect::<Vec<_>>(),
        "actor": [{ "reference": format!("Practitioner/{}", expert.id), "display": expert.display_name }],
        "planningHorizon": { "start": rfc3339(horizon.0), "end": rfc3339(horizon.1) },
        "comment": format!("{} ({})", expert.facility_name, expert.time_zone),
    })
}

pub fn slot(expert_id: i64, slot: &Slot, free: bool) -> Value {
    json!({
        "resourceType": "Slot",
        "id": format!("{expert_id}-{}", slot.start_at),
        "schedule": { "reference": format!("Schedule/expert-{expert_id}") },
        "serviceType": service_type(slot.service),
        "status": if free { "free" } else { "busy" },
        "start": rfc3339(slot.start_at),
        "end": rfc3339(slot.end_at),
        "overbooked": false,
        "comment": if slot.referral_priority { "held back for referred patients" } else { "" },
    })
}

pub fn appointment(booking: &BookingRow, patient_id: Option<i64>) -> Value {
    let status = match booking.status {
        BookingStatus::Held => "pending",
        BookingStatus::Booked => "booked",
        BookingStatus::Cancelled | BookingStatus::Declined | BookingStatus::Expired => "cancelled",
        BookingStatus::NoShow => "noshow",
        BookingStatus::Completed => "fulfilled",
    };
    let mut participants = vec![json!({
        "actor": { "reference": format!("Practitioner/{}", booking.expert_id), "display": booking.expert_name },
        "status": "accepted",
    })];
    if let Some(patient_id) = patient_id {
        participants.push(json!({ "actor": { "reference": format!("Patient/{patient_id}") }, "status": "accepted" }));
    }
    let mut resource = json!({
        "resourceType": "Appointment",
        "id": booking.id.to_string(),
        "status": status,
        "serviceType": service_type(booking.service),
        "start": rfc3339(booking.start_at),
        "end": rfc3339(booking.end_at),
        "slot": [{ "reference": format!("Slot/{}-{}", booking.expert_id, booking.start_at) }],
        "participant": participants,
    });
    if let Some(id) = booking.consultation_id {
        resource["basedOn"] = json!([{ "reference": format!("ServiceRequest/consultation-{id}") }]);
    }
    if let Some(reason) = &booking.status_reason {
        resource["cancelationReason"] = json!({ "text": reason });
    }
    resource
}

pub fn consultation_request(c: &ConsultationRow, clinical: bool) -> Value {
    let status = match c.status {
        Status::Requested | Status::Scheduled | Status::InProgress | Status::AwaitingOpinion => {
            "active"
        }
        Status::Completed => "completed",
        Status::Cancelled | Status::Declined => "revoked",
    };
    let priority = match c.urgency {
        Urgency::Routine => "routine",
        Urgency::Urgent => "urgent",
        Urgency::Emergency => "stat",
    };
    let mut resource = json!({
        "resourceType": "ServiceRequest",
        "id": format!("consultation-{}", c.id),
        "status": status,
        "intent": "order",
        "category": [{ "text": "teleconsultation" }],
        "priority": priority,
        "code": { "text": format!("{} consultation", c.specialty) },
        "subject": { "reference": format!("Patient/{}", c.patient_id) },
        "requester": { "reference": format!("Practitioner/{}", c.requested_by) },
        "authoredOn": rfc3339(c.created_at),
    });
    if let Some(expert) = c.expert_id {
        resource["performer"] = json!([{ "reference": format!("Practitioner/{expert}") }]);
    }
    if clinical {
        resource["reasonCode"] = json!([{ "text": c.reason }]);
    }
    resource
}

pub fn referral_request(r: &ReferralRow) -> Value {
    let status = match r.status.as_str() {
        "requested" | "accepted" | "arrived" => "active",
        "discharged" => "completed",
        _ => "revoked",
    };
    let codes: Vec<String> = serde_json::from_str(&r.diagnosis_codes).unwrap_or_default();
    json!({
        "resourceType": "ServiceRequest",
        "id": format!("referral-{}", r.id),
        "status": status,
        "intent": "order",
        "category": [{ "text": format!("referral {}", r.direction) }],
        "subject": { "reference": format!("Patient/{}", r.patient_id) },
        "requester": { "reference": format!("Organization/{}", r.from_facility_id), "display": r.from_facility_name },
        "performer": [{ "reference": format!("Organization/{}", r.to_facility_id), "display": r.to_facility_name }],
        "reasonCode": codes.iter().map(|code| json!({
            "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10", "code": code }]
        })).collect::<Vec<_>>(),
        "note": [{ "text": r.reason }],
        "authoredOn": rfc3339(r.created_at),
    })
}
