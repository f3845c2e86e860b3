//! The demo's scenes beyond the outpatient story (issue 13 scope 7): an emergency visit (med_type
//! 13), a special-disease visit (14), a 3-day inpatient stay with its deposit held on the line
//! (daily uploads, one returned drug, the bedside click), an uninsured patient paying the whole
//! bill from the line, and a patient insured in another region (异地). Each scene counts its visits
//! and how many settled seamlessly; `holds_open_fen` reads the ledger's pending holds after all.

use crate::his::{fee_line, HisClient};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A person the sample file lacks: insured nowhere, who signs up and pays self (自费).
const UNINSURED: (&str, &str) = ("02", "440307199503031114");
/// 黄丽, insured in Guangzhou (440100), treated in Shenzhen (440300).
const OUT_OF_AREA: (&str, &str) = ("01", "EC44010000000000000006");
/// 张三, the story's employee with a personal account and a credit line.
const EMPLOYEE: (&str, &str) = ("01", "EC44030000000000000001");
/// The stay's deposit, held on the line at admission: 500 yuan.
const DEPOSIT_FEN: i64 = 50_000;

/// One scene's count.
#[derive(Serialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneCount {
    pub visits: usize,
    pub settled: usize,
}

impl SceneCount {
    fn one(settled: bool) -> SceneCount {
        SceneCount { visits: 1, settled: usize::from(settled) }
    }
}

/// Every scene the demo runs (`--json`'s `scenes`).
#[derive(Serialize, Default, Clone, Debug)]
pub struct Scenes {
    pub outpatient: SceneCount,
    pub emergency: SceneCount,
    pub special_disease: SceneCount,
    pub inpatient: SceneCount,
    pub refund: SceneCount,
    pub uninsured: SceneCount,
    pub out_of_area: SceneCount,
}

impl Scenes {
    /// Every scene's counts summed.
    pub fn total(&self) -> SceneCount {
        let all = [self.outpatient, self.emergency, self.special_disease, self.inpatient, self.refund, self.uninsured, self.out_of_area];
        all.iter().fold(SceneCount::default(), |a, s| SceneCount { visits: a.visits + s.visits, settled: a.settled + s.settled })
    }
}

/// Writes the insurance center's persons for the demo: the sample persons and the uninsured one.
pub fn persons_file(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut lines: Vec<String> = wugan_insurance::sample_persons().iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    lines.push(
        json!({"psn_no": "44030000000000000007", "certno": UNINSURED.1, "psn_name": "孙七", "gend": "1", "brdy": "1995-03-03",
               "insutype": "", "psn_type": "", "insuplc_admdvs": "440300", "balc": 0})
        .to_string(),
    );
    let path = dir.join("demo-persons.jsonl");
    std::fs::write(&path, lines.join("\n"))?;
    Ok(path)
}

/// Runs the scenes after the outpatient story (whose patients are signed up already).
pub async fn run(his: &HisClient, operator: &HisClient) -> anyhow::Result<Scenes> {
    let credit_line = json!({"method": "credit_line", "bank_code": "BANK01"});
    for (cert_type, cert_no) in [UNINSURED, OUT_OF_AREA] {
        let reply = operator.sign_up(cert_type, cert_no, true, credit_line.clone()).await?;
        anyhow::ensure!(reply.ok(), "signing up {cert_no} failed: {} {}", reply.status, reply.body);
    }
    let consultation = |no: &str| {
        vec![
            fee_line(&format!("{no}-1"), "001102000010000", "25.00", "1", "25.00"),
            fee_line(&format!("{no}-2"), "250101001000000", "20.00", "1", "20.00"),
            fee_line(&format!("{no}-3"), "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
        ]
    };
    let mut examination = consultation("YD0001");
    examination.push(fee_line("YD0001-4", "013100000010000", "150.00", "8", "1200.00"));
    Ok(Scenes {
        outpatient: SceneCount::default(),
        emergency: visit(his, "JZ0001", EMPLOYEE, "13", &consultation("JZ0001")).await?,
        special_disease: visit(his, "MT0001", EMPLOYEE, "14", &consultation("MT0001")).await?,
        inpatient: stay(his, "ZY0001", EMPLOYEE).await?,
        refund: run_refund_scene(his).await?,
        uninsured: visit(his, "ZF0001", UNINSURED, "11", &consultation("ZF0001")).await?,
        out_of_area: visit(his, "YD0001", OUT_OF_AREA, "11", &examination).await?,
    })
}

/// 退费: a visit settled at the click, then two of its three lines returned (a test not done, a
/// box of medicine given back): insurance re-settles the line kept and the bank refunds the
/// difference. Counted settled when the refund ends `refunded`.
pub async fn run_refund_scene(his: &HisClient) -> anyhow::Result<SceneCount> {
    let no = "TF0001";
    let lines = vec![
        fee_line(&format!("{no}-1"), "001102000010000", "25.00", "1", "25.00"),
        fee_line(&format!("{no}-2"), "250101001000000", "20.00", "1", "20.00"),
        fee_line(&format!("{no}-3"), "XJ01CAA040E001010101923", "18.50", "2", "37.00"),
    ];
    let registration = json!({"ipt_otp_no": no, "mdtrt_cert_type": EMPLOYEE.0, "mdtrt_cert_no": EMPLOYEE.1});
    let reg = his.post("/api/v1/visits", &registration).await?;
    let Some(id) = reg.body["id"].as_str().filter(|_| reg.ok()) else { return Ok(SceneCount::one(false)) };
    if !his.upload_fees(id, &lines).await?.ok() || his.settle(id).await?.body["state"] != "settled" {
        return Ok(SceneCount::one(false));
    }
    let returned = json!({"lines": [format!("{no}-2"), format!("{no}-3")]});
    let refund = his.post(&format!("/api/v1/visits/{id}/refunds"), &returned).await?;
    Ok(SceneCount::one(refund.ok() && refund.body["state"] == "refunded"))
}

/// One visit of this 医疗类别: registered, fees uploaded, settled at the click.
async fn visit(
    his: &HisClient,
    no: &str,
    (cert_type, cert_no): (&str, &str),
    med_type: &str,
    lines: &[Value],
) -> anyhow::Result<SceneCount> {
    let registration = json!({"ipt_otp_no": no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "med_type": med_type,
                              "dept_code": "A03", "dept_name": "内科"});
    let reg = his.post("/api/v1/visits", &registration).await?;
    let Some(id) = reg.body["id"].as_str().filter(|_| reg.ok()) else { return Ok(SceneCount::one(false)) };
    let up = his.upload_fees(id, lines).await?;
    if !up.ok() {
        return Ok(SceneCount::one(false));
    }
    let settled = his.settle(id).await?;
    Ok(SceneCount::one(settled.ok() && settled.body["state"] == "settled"))
}

/// A 3-day stay: admitted with the deposit held on the line, a bed day each day, four boxes of
/// amoxicillin on day 2 and one returned on day 3, then discharged and settled at the bedside.
async fn stay(his: &HisClient, ipt_no: &str, (cert_type, cert_no): (&str, &str)) -> anyhow::Result<SceneCount> {
    let admission = json!({"ipt_no": ipt_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "deposit_fen": DEPOSIT_FEN});
    let admitted = his.post("/api/v1/stays", &admission).await?;
    let Some(id) = admitted.body["id"].as_str().filter(|_| admitted.ok()) else { return Ok(SceneCount::one(false)) };
    let (bed, amoxicillin) = ("110900001000000", "XJ01CAA040E001010101923");
    let mut returned = fee_line("D3-2", amoxicillin, "18.50", "-1", "-18.50");
    returned["init_feedetl_sn"] = json!("D2-2");
    let days = [
        vec![fee_line("D1-1", bed, "60.00", "1", "60.00")],
        vec![fee_line("D2-1", bed, "60.00", "1", "60.00"), fee_line("D2-2", amoxicillin, "18.50", "4", "74.00")],
        vec![fee_line("D3-1", bed, "60.00", "1", "60.00"), returned],
    ];
    for lines in &days {
        if !his.post(&format!("/api/v1/stays/{id}/fees"), &json!({"lines": lines})).await?.ok() {
            return Ok(SceneCount::one(false));
        }
    }
    let discharged = his.post(&format!("/api/v1/stays/{id}/discharge"), &json!({})).await?;
    Ok(SceneCount::one(discharged.ok() && discharged.body["state"] == "settled"))
}

/// What the ledger still holds pending (holds not yet captured or released), from its accounts.
pub fn holds_open_fen(ledger: &Value) -> i64 {
    let accounts = ledger["accounts"].as_object().into_iter().flatten();
    accounts.map(|(_, a)| a["credits_pending"].as_i64().unwrap_or(0)).sum()
}
