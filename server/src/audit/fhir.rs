//! Audit events as FHIR R4 AuditEvent resources.

use serde_json::{json, Value};

use super::chain::ChainedEvent;
use crate::time::rfc3339;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// The DICOM audit event type that fits a Ferry subtype.
fn event_type(subtype: &str) -> (&'static str, &'static str) {
    if subtype.starts_with("user.log") {
        ("110114", "User Authentication")
    } else if subtype.starts_with("break_glass") {
        ("110113", "Security Alert")
    } else if subtype.starts_with("patient") {
        ("110110", "Patient Record")
    } else {
        ("110100", "Application Activity")
    }
}

pub fn audit_event(event: &ChainedEvent) -> Value {
    let (code, display) = event_type(&event.subtype);
    let action = match event.action.as_str() {
        "create" => "C",
        "read" => "R",
        "update" => "U",
        "delete" => "D",
        _ => "E",
    };
    // 0 = success, 4 = minor failure (a refused request is not a system fault).
    let outcome = if event.outcome == "success" { "0" } else { "4" };
    let mut who = json!({ "display": event.actor_name });
    if let Some(user_id) = event.actor_user_id {
        who["reference"] = json!(format!("Practitioner/{user_id}"));
    }
    let mut agent = json!({ "who": who, "requestor": true });
    if let Some(addr) = &event.client_addr {
        agent["network"] = json!({ "address": addr, "type": "2" });
    }
    let mut entities = Vec::new();
    if let Some(patient_id) = event.patient_id {
        entities.push(json!({
            "what": { "reference": format!("Patient/{patient_id}") },
            "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" },
        }));
    }
    if let (Some(kind), Some(id)) = (&event.entity_type, &event.entity_id) {
        entities.push(json!({
            "what": { "identifier": { "system": format!("urn:ferry:{kind}"), "value": id } },
            "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" },
            "detail": [{ "type": "ferry-detail", "valueString": event.detail }],
        }));
    }
    let mut resource = json!({
        "resourceType": "AuditEvent",
        "id": event.seq.to_string(),
        "type": { "system": DCM, "code": code, "display": display },
        "subtype": [{ "system": "urn:ferry:audit-subtype", "code": event.subtype }],
        "action": action,
        "recorded": rfc3339(event.recorded_at),
        "outcome": outcome,
        "agent": [agent],
        "source": {
            "site": event.facility_id.map(|id| format!("Organization/{id}")),
            "observer": { "display": "ferry" },
        },
        "extension": [{ "url": "urn:ferry:audit-hash", "valueString": event.hash }],
    });
    if !entities.is_empty() {
        resource["entity"] = Value::Array(entities);
    }
    resource
}

pub fn bundle(events: &[ChainedEvent]) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": events.len(),
        "entry": events.iter().map(|event| json!({ "resource": audit_event(event) })).collect::<Vec<_>>(),
    })
}
