//! The medical list catalogue (医保目录): national code → class (甲/乙/丙), price cap, self-pay ratio
//! and the flags 2204 reports. A code not in the catalogue is treated as 丙 (fully self-paid).

use crate::decimal::{wire, Price};
use crate::PolicyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wugan_domain::money::Ratio;

/// 收费项目等级 (chrgitm_lv).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemClass {
    /// 甲类 "01": fully within policy scope.
    A,
    /// 乙类 "02": the patient first pays `selfpay_prop` of it (先行自付).
    B,
    /// 丙类 "03": outside the catalogue, fully self-paid (全自费).
    C,
}

impl ItemClass {
    /// Reads "01"/"1"/"甲", "02"/"2"/"乙", "03"/"3"/"丙".
    pub fn parse(code: &str) -> Option<ItemClass> {
        match code.trim() {
            "01" | "1" | "甲" | "甲类" => Some(ItemClass::A),
            "02" | "2" | "乙" | "乙类" => Some(ItemClass::B),
            "03" | "3" | "丙" | "丙类" => Some(ItemClass::C),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ItemClass::A => "01",
            ItemClass::B => "02",
            ItemClass::C => "03",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(with = "entries_as_list", default)]
    pub entries: BTreeMap<String, CatalogueEntry>,
}

/// One catalogue entry. Flags use the national "0"/"1" text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub med_list_codg: String,
    #[serde(default)]
    pub name: String,
    pub chrgitm_lv: String,
    /// 医疗收费项目类别: 01 床位费, 02 诊察费, 03 检查费, 04 化验费, 05 治疗费, 06 手术费, 07 护理费,
    /// 08 卫生材料费, 09 西药费, 10 中药饮片费, 11 中成药费, 12 一般诊疗费, 13 挂号费, 14 其他费.
    #[serde(default = "other_fee_type")]
    pub med_chrgitm_type: String,
    /// 定价上限金额 per unit. 0 (as real catalogue downloads and 2204 replies write it) means no cap.
    #[serde(default, with = "wire::price_opt")]
    pub pric_uplmt_amt: Option<Price>,
    /// Overrides the class default (甲 0, 乙 the set's b_class_selfpay_prop, 丙 1).
    #[serde(default, with = "wire::ratio_opt")]
    pub selfpay_prop: Option<Ratio>,
    #[serde(default = "zero_flag")]
    pub bas_medn_flag: String,
    #[serde(default = "zero_flag")]
    pub hi_nego_drug_flag: String,
    #[serde(default = "zero_flag")]
    pub chld_medc_flag: String,
    #[serde(default = "zero_flag")]
    pub list_sp_item_flag: String,
    #[serde(default = "zero_flag")]
    pub lmt_used_flag: String,
    #[serde(default = "zero_flag")]
    pub drt_reim_flag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

fn zero_flag() -> String {
    "0".into()
}

fn other_fee_type() -> String {
    "14".into()
}

mod entries_as_list {
    use super::CatalogueEntry;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<String, CatalogueEntry>, s: S) -> Result<S::Ok, S::Error> {
        map.values().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, CatalogueEntry>, D::Error> {
        let list = Vec::<CatalogueEntry>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for entry in list {
            let code = entry.med_list_codg.clone();
            if map.insert(code.clone(), entry).is_some() {
                return Err(serde::de::Error::custom(format!("catalogue code {code} appears twice")));
            }
        }
        Ok(map)
    }
}

impl Catalogue {
    pub fn from_json_str(text: &str) -> Result<Catalogue, PolicyError> {
        let catalogue: Catalogue = serde_json::from_str(text).map_err(|e| PolicyError::Load(format!("catalogue: {e}")))?;
        catalogue.validate().map_err(PolicyError::InvalidPolicy)?;
        Ok(catalogue)
    }

    pub fn get(&self, med_list_codg: &str) -> Option<&CatalogueEntry> {
        self.entries.get(med_list_codg)
    }

    /// Adds `other`'s entries; entries already here (inline in the policy file) win.
    pub fn merge(&mut self, other: Catalogue) {
        if self.name.is_empty() {
            self.name = other.name;
            self.status = other.status;
        }
        for (code, entry) in other.entries {
            self.entries.entry(code).or_insert(entry);
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for entry in self.entries.values() {
            if ItemClass::parse(&entry.chrgitm_lv).is_none() {
                return Err(format!("{}: chrgitm_lv '{}' is not 01/02/03", entry.med_list_codg, entry.chrgitm_lv));
            }
            if entry.selfpay_prop.is_some_and(|r| !(0..=10_000).contains(&r.0)) {
                return Err(format!("{}: selfpay_prop must be within 0..1", entry.med_list_codg));
            }
            let flags = [&entry.med_chrgitm_type, &entry.bas_medn_flag, &entry.hi_nego_drug_flag, &entry.chld_medc_flag];
            let more = [&entry.list_sp_item_flag, &entry.lmt_used_flag, &entry.drt_reim_flag];
            if flags.iter().chain(more.iter()).any(|f| f.len() > crate::code::Code::CAP) {
                return Err(format!("{}: a flag or med_chrgitm_type is longer than {} bytes", entry.med_list_codg, crate::code::Code::CAP));
            }
            if entry.pric_uplmt_amt.is_some_and(|p| p.0 < 0) {
                return Err(format!("{}: pric_uplmt_amt must not be negative", entry.med_list_codg));
            }
        }
        Ok(())
    }
}
