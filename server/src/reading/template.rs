//! Report templates by modality: the headings a reader fills in, so reports
//! of one kind read alike across the consortium. A draft started from a
//! template begins with its text; the reader replaces it.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Template {
    /// Stable name, given when a draft starts.
    pub name: &'static str,
    pub title: &'static str,
    /// Modalities (DICOM codes) it is meant for.
    pub modalities: &'static [&'static str],
    pub findings: &'static str,
    pub impression: &'static str,
}

pub const TEMPLATES: [Template; 6] = [
    Template {
        name: "ct",
        title: "CT",
        modalities: &["CT"],
        findings: "Technique: \nComparison: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "mr",
        title: "MRI",
        modalities: &["MR"],
        findings: "Technique (sequences): \nComparison: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "radiograph",
        title: "Radiograph",
        modalities: &["CR", "DX", "DR", "RG"],
        findings: "Views: \nComparison: \nLungs and pleura: \nHeart and mediastinum: \nBones and soft tissues: \n",
        impression: "1. ",
    },
    Template {
        name: "ultrasound",
        title: "Ultrasound",
        modalities: &["US"],
        findings: "Organs examined: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "ecg",
        title: "12-lead ECG",
        modalities: &["ECG"],
        findings: "Rhythm: \nRate: bpm\nPR: ms  QRS: ms  QT/QTc: ms\nAxis: \nST-T: \n",
        impression: "1. ",
    },
    Template {
        name: "general",
        title: "General",
        modalities: &[],
        findings: "Findings: \n",
        impression: "1. ",
    },
];

pub fn by_name(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The template meant for a modality, else the general one.
pub fn for_modality(modality: &str) -> &'static Template {
    TEMPLATES
        .iter()
        .find(|t| t.modalities.contains(&modality))
        .unwrap_or(&TEMPLATES[TEMPLATES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modality_finds_a_template_and_names_are_unique() {
        assert_eq!(for_modality("ECG").name, "ecg");
        assert_eq!(for_modality("DX").name, "radiograph");
        assert_eq!(for_modality("XA").name, "general");
        let mut names: Vec<_> = TEMPLATES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TEMPLATES.len());
    }
}
