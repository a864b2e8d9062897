//! Report templates by modality: the headings a reader fills in, so reports
//! of one kind read alike across the consortium. A draft started from a
//! template begins with its text; the reader replaces it. Each kind comes in
//! English and in Chinese, with the headings a Chinese report uses (影像所见,
//! 诊断意见, 建议); the client offers the user's language first and the other
//! one too.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Template {
    /// Stable name, given when a draft starts.
    pub name: &'static str,
    pub title: &'static str,
    /// The language of its headings: `en` or `zh-CN`.
    pub language: &'static str,
    /// Modalities (DICOM codes) it is meant for.
    pub modalities: &'static [&'static str],
    pub findings: &'static str,
    pub impression: &'static str,
}

pub const TEMPLATES: [Template; 12] = [
    Template {
        name: "ct",
        title: "CT",
        language: "en",
        modalities: &["CT"],
        findings: "Technique: \nComparison: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "mr",
        title: "MRI",
        language: "en",
        modalities: &["MR"],
        findings: "Technique (sequences): \nComparison: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "radiograph",
        title: "Radiograph",
        language: "en",
        modalities: &["CR", "DX", "DR", "RG"],
        findings: "Views: \nComparison: \nLungs and pleura: \nHeart and mediastinum: \nBones and soft tissues: \n",
        impression: "1. ",
    },
    Template {
        name: "ultrasound",
        title: "Ultrasound",
        language: "en",
        modalities: &["US"],
        findings: "Organs examined: \nFindings: \n",
        impression: "1. ",
    },
    Template {
        name: "ecg",
        title: "12-lead ECG",
        language: "en",
        modalities: &["ECG"],
        findings: "Rhythm: \nRate: bpm\nPR: ms  QRS: ms  QT/QTc: ms\nAxis: \nST-T: \n",
        impression: "1. ",
    },
    Template {
        name: "general",
        title: "General",
        language: "en",
        modalities: &[],
        findings: "Findings: \n",
        impression: "1. ",
    },
    Template {
        name: "ct-zh",
        title: "CT",
        language: "zh-CN",
        modalities: &["CT"],
        findings: "检查方法：\n对比：\n影像所见：\n",
        impression: "诊断意见：\n1. \n建议：\n",
    },
    Template {
        name: "mr-zh",
        title: "磁共振",
        language: "zh-CN",
        modalities: &["MR"],
        findings: "检查方法（序列）：\n对比：\n影像所见：\n",
        impression: "诊断意见：\n1. \n建议：\n",
    },
    Template {
        name: "radiograph-zh",
        title: "X线摄影（DR）",
        language: "zh-CN",
        modalities: &["CR", "DX", "DR", "RG"],
        findings: "投照体位：\n对比：\n影像所见：\n肺及胸膜：\n心脏及纵隔：\n骨骼及软组织：\n",
        impression: "诊断意见：\n1. \n建议：\n",
    },
    Template {
        name: "ultrasound-zh",
        title: "超声",
        language: "zh-CN",
        modalities: &["US"],
        findings: "检查部位：\n超声所见：\n",
        impression: "超声提示（诊断意见）：\n1. \n建议：\n",
    },
    Template {
        name: "ecg-zh",
        title: "十二导联心电图",
        language: "zh-CN",
        modalities: &["ECG"],
        findings: "心电图所见：\n心律：\n心率：次/分\nPR：ms  QRS：ms  QT/QTc：ms\n电轴：\nST-T：\n",
        impression: "心电图诊断（诊断意见）：\n1. \n建议：\n",
    },
    Template {
        name: "general-zh",
        title: "通用",
        language: "zh-CN",
        modalities: &[],
        findings: "影像所见：\n",
        impression: "诊断意见：\n1. \n建议：\n",
    },
];

pub fn by_name(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The English template meant for a modality, else the general one.
pub fn for_modality(modality: &str) -> &'static Template {
    for_modality_in(modality, "en")
}

/// The template in `language` meant for a modality, else that language's
/// general one; English when there is none in that language.
pub fn for_modality_in(modality: &str, language: &str) -> &'static Template {
    let language = if TEMPLATES.iter().any(|t| t.language == language) {
        language
    } else {
        "en"
    };
    let of_language = || TEMPLATES.iter().filter(move |t| t.language == language);
    of_language()
        .find(|t| t.modalities.contains(&modality))
        .or_else(|| of_language().find(|t| t.modalities.is_empty()))
        .unwrap_or(&TEMPLATES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modality_finds_a_template_and_names_are_unique() {
        assert_eq!(for_modality("ECG").name, "ecg");
        assert_eq!(for_modality("DX").name, "radiograph");
        assert_eq!(for_modality("XA").name, "general");
        assert_eq!(for_modality_in("DX", "zh-CN").name, "radiograph-zh");
        assert_eq!(for_modality_in("XA", "zh-CN").name, "general-zh");
        assert_eq!(for_modality_in("CT", "fr").name, "ct");
        let mut names: Vec<_> = TEMPLATES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TEMPLATES.len());
    }

    #[test]
    fn every_english_template_has_a_chinese_one_with_the_chinese_headings() {
        for english in TEMPLATES.iter().filter(|t| t.language == "en") {
            let chinese = by_name(&format!("{}-zh", english.name)).expect("a Chinese twin");
            assert_eq!(chinese.language, "zh-CN");
            assert_eq!(chinese.modalities, english.modalities);
            assert!(chinese.impression.contains("诊断意见") && chinese.impression.contains("建议"));
            assert!(chinese.findings.contains("所见"), "{}", chinese.name);
        }
    }
}
