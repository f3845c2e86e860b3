//! Another desk of the same hospital that speaks the national interface itself (an openhis-style
//! HIS at the hub's `/ni/<token>` prefix): it can discharge an admission at the insurance center
//! (2402) and undo that (2405) without the ward's click, so the center refuses what the ward asks
//! next of its own accord.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use wugan::system;

pub struct NationalDesk {
    http: reqwest::Client,
    url: String,
    code: String,
    sign_no: String,
    seq: AtomicU64,
}

impl NationalDesk {
    /// The desk of the system's first hospital, registered at the drop-in prefix and signed in (9001).
    pub async fn open(sys: &system::System) -> NationalDesk {
        let hospital = sys.credentials.hospitals[0].clone();
        let added =
            wugan_hub::app::national_interface::register_hospital(&sys.app.store, &hospital.code, &hospital.name).await.expect("added");
        let url = format!("{}{}/fsi/api/rsfComIfsService/callService", sys.hub_url, added.national_interface_prefix);
        let mut desk =
            NationalDesk { http: reqwest::Client::new(), url, code: hospital.code, sign_no: String::new(), seq: AtomicU64::new(1) };
        let signed_in = desk.call("9001", json!({"signIn": {"opter_no": "0002", "mac": "", "ip": "127.0.0.1"}})).await;
        assert_eq!(signed_in["infcode"].as_i64(), Some(0), "9001: {signed_in}");
        desk.sign_no = signed_in["output"]["signinoutb"]["sign_no"].as_str().expect("sign_no").to_string();
        desk
    }

    /// One envelope as the desk writes it: the center's reply, forwarded as it came.
    pub async fn call(&self, infno: &str, input: Value) -> Value {
        let msgid = format!("{}20261130{:010}", self.code, self.seq.fetch_add(1, Ordering::Relaxed));
        let envelope = json!({"infno": infno, "msgid": msgid, "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300",
            "recer_sys_code": "OPENHIS", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "SM2", "infver": "V1.0",
            "opter_type": "1", "opter": "0002", "opter_name": "住院处", "inf_time": "2026-11-30 10:00:00",
            "fixmedins_code": self.code, "fixmedins_name": "示例医院", "sign_no": self.sign_no, "input": input});
        let response = self.http.post(&self.url).json(&envelope).send().await.expect("the hub answers");
        assert_eq!(response.status().as_u16(), 200, "{infno}");
        response.json().await.expect("a JSON reply")
    }

    /// 2402 for the admission `mdtrt_id` of `psn_no`, as that desk sends it: accepted by the center.
    pub async fn discharge(&self, mdtrt_id: &str, psn_no: &str) {
        let info = json!({"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "endtime": "", "dscg_way": "1"}});
        let reply = self.call("2402", info).await;
        assert_eq!(reply["infcode"].as_i64(), Some(0), "2402 at the desk: {reply}");
    }

    /// 2405: the desk undoes its discharge.
    pub async fn undo_discharge(&self, mdtrt_id: &str, psn_no: &str) {
        let reply = self.call("2405", json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no}})).await;
        assert_eq!(reply["infcode"].as_i64(), Some(0), "2405 at the desk: {reply}");
    }
}
