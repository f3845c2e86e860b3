//! The hub's client for an insurance platform speaking the national interface (国家医保信息平台接口):
//! one envelope `{infno, msgid, …, input}` POSTed to `…/callService`, answered with
//! `{infcode, err_msg, output}`. Replies are read liberally, the way real platforms send them:
//! numbers as numbers or strings, `null`s, `insuinfo` as an object or an array.
//!
//! Every request passes the platform's gateway: it carries the sending hospital's app id, a
//! timestamp, a nonce and an HMAC-SHA256 signature over them and the body (`x-tif-*` headers,
//! docs/national-interface-profile.md §Gateway). A gateway refusal of our request (HTTP 4xx, or
//! an `err_msg` about our message) is an unknown outcome, never the platform's decision.

use crate::metrics::{CallResult, Metrics, INSURANCE_PARTNER};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wugan_domain::settlement::fund_pay::{fund_total, FundPayment};
use wugan_domain::settlement::InsuranceSplit;
use wugan_domain::Fen;

pub const CALL_SERVICE_PATH: &str = "/fsi/api/rsfComIfsService/callService";

/// The hub's own fixmedins_code, in envelopes it sends for no hospital (a sign-up's 1101, the
/// personal-account repayments 9901/9902): the gateway knows the hub under it like a hospital.
pub const HUB_FIXMEDINS_CODE: &str = "WUGANHUB0000";

/// One gateway credential: the app id and secret the platform issued for a fixmedins_code.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayCredential {
    pub fixmedins_code: String,
    pub app_id: String,
    pub secret: String,
}

impl std::fmt::Debug for GatewayCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCredential").field("fixmedins_code", &self.fixmedins_code).field("app_id", &self.app_id).finish()
    }
}

/// `x-tif-signature`: lower-case hex of HMAC-SHA256(secret, `{timestamp}\n{nonce}\n{app_id}\n` + body).
pub fn gateway_signature(secret: &str, app_id: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}\n{nonce}\n{app_id}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Debug, thiserror::Error)]
pub enum InsuranceError {
    /// The platform answered and refused (infcode ≠ 0).
    #[error("insurance refused ({infcode}): {message}")]
    Refused { infcode: i64, message: String },
    /// No answer (timeout, connection refused, 5xx): the outcome is unknown.
    #[error("insurance platform unreachable: {0}")]
    Unreachable(String),
    /// An answer we cannot read.
    #[error("insurance reply unreadable: {0}")]
    BadReply(String),
    /// Nothing was sent: the hub has no gateway credential for the hospital at its platform (an
    /// operator's setting, not an outage).
    #[error("{0}")]
    NotConfigured(String),
}

/// The hospital on whose behalf a call is made (the envelope's fixmedins fields), as its record
/// says: its own name, its own 就医地医保区划 where it has one, the day's 9001 `sign_no`, how its
/// envelopes are signed, and its own platform where it has one.
#[derive(Clone, Debug, Default)]
pub struct Institution {
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    /// `None`: the region the hub serves.
    pub mdtrtarea_admvs: Option<String>,
    /// The operator's 9001 sign-in of the day; "" before one (9001 itself) or where none was had.
    pub sign_no: String,
    /// `cainfo`/`signtype`; `None`: both empty.
    pub signer: Option<Arc<dyn crate::ca_signer::CaSigner>>,
    /// Its own platform (URL, and its gateway credential there); `None`: the hub's.
    pub platform: Option<OwnPlatform>,
}

/// A hospital's own insurance platform: where its envelopes go, and the credential its gateway
/// knows it by (`None`: the hub's credential for its code).
#[derive(Clone, Debug)]
pub struct OwnPlatform {
    /// Its `callService` URL ([`call_service_url`]).
    pub url: String,
    pub credential: Option<GatewayCredential>,
}

/// The operator the hub's envelopes name (`opter`), and signs in as (9001 `opter_no`).
pub const HUB_OPTER: &str = "wugan-hub";

pub struct InsuranceClient {
    wire: crate::partner_wire::Wire,
    url: String,
    /// 就医地医保区划: the region the hub serves.
    mdtrtarea_admvs: String,
    /// For `inf_time` (the hub's injected clock).
    clock: Arc<dyn crate::clock::Clock>,
    /// Where calls are counted (see `crate::metrics`).
    metrics: Arc<Metrics>,
    /// The gateway credential of each fixmedins_code the hub sends for.
    credentials: HashMap<String, GatewayCredential>,
    /// Transactions sent since start (`wugan bench` reports them per visit).
    sent: std::sync::atomic::AtomicU64,
    /// Per institution, the sign_no of its last message refused for the sign-in ([`rejects_our_sign_in`]):
    /// the app signs in again before its next call ([`InsuranceClient::take_refused_sign_in`]).
    refused_sign_ins: std::sync::Mutex<HashMap<String, String>>,
}

/// A person as the platform knows them (1101).
#[derive(Clone, Debug)]
pub struct PersonInfo {
    pub psn_no: String,
    pub psn_name: String,
    pub certno: String,
    /// Age in whole years, when the platform gives it (baseinfo.age, 4,1).
    pub age: Option<u32>,
    pub insurances: Vec<Insurance>,
}

#[derive(Clone, Debug)]
pub struct Insurance {
    pub insutype: String,
    pub psn_type: String,
    pub insuplc_admdvs: String,
    /// 个人账户余额
    pub balc: Fen,
}

/// A settlement (or pre-settlement) result.
#[derive(Clone, Debug)]
pub struct Settled {
    pub setl_id: Option<String>,
    pub split: InsuranceSplit,
    pub setlinfo: Value,
    /// `setldetail` as sent, unknown `fund_pay_type` codes kept (`fund_pay::FundPayClass`).
    pub detail: Vec<FundPayment>,
}

/// The envelope the hub sends, written straight from its parts (not built as a `Value` first). Its
/// fields are declared in the order a `Value` map writes them (by name), so the bytes on the wire
/// are what they were.
#[derive(Serialize)]
struct OutEnvelope<'a> {
    cainfo: &'a str,
    dev_no: &'a str,
    dev_safe_info: &'a str,
    fixmedins_code: &'a str,
    fixmedins_name: &'a str,
    inf_time: &'a str,
    infno: &'a str,
    infver: &'a str,
    input: &'a Value,
    insuplc_admdvs: &'a str,
    mdtrtarea_admvs: &'a str,
    msgid: &'a str,
    opter: &'a str,
    opter_name: &'a str,
    opter_type: &'a str,
    recer_sys_code: &'a str,
    sign_no: &'a str,
    signtype: &'a str,
}

impl OutEnvelope<'static> {
    /// What every envelope of the hub's says alike.
    const HUB: OutEnvelope<'static> = OutEnvelope {
        cainfo: "",
        dev_no: "",
        dev_safe_info: "",
        fixmedins_code: "",
        fixmedins_name: "",
        inf_time: "",
        infno: "",
        infver: "V1.0",
        input: &Value::Null,
        insuplc_admdvs: "",
        mdtrtarea_admvs: "",
        msgid: "",
        opter: HUB_OPTER,
        opter_name: "wugan hub",
        opter_type: "1",
        recer_sys_code: "WUGAN",
        sign_no: "",
        signtype: "",
    };
}

/// What the hub reads of a platform's reply: `infcode` (a number or a string), `err_msg` and
/// `output`; the rest (`inf_refmsgid`, times, `warn_msg`, …) is skipped unread.
#[derive(Default, Deserialize)]
struct InReply {
    #[serde(default)]
    infcode: Value,
    #[serde(default)]
    err_msg: Value,
    #[serde(default)]
    output: Value,
}

impl InReply {
    /// A reply that is JSON but no object (an array, a bare string) has none of the three: serde
    /// would otherwise read the struct from an array, by position.
    fn read(body: &[u8]) -> Result<InReply, serde_json::Error> {
        let body = crate::insurance_reply::quote_long_integers(crate::without_bom(body));
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice(&body),
            _ => serde_json::from_slice::<Value>(&body).map(|_| InReply::default()),
        }
    }
}

/// The amounts 2207's input carries back from the 2206 reply's `setlinfo` (all required in 2207:
/// 全自费金额, 超限价自费金额, 先行自付金额, 符合政策范围金额).
pub const PRESETTLE_ECHO: [&str; 4] = ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"];

/// The local IP address this machine sends from towards `url`'s host (a UDP socket connected to
/// it asks the kernel for the route; nothing is sent). "127.0.0.1" when the host cannot be
/// resolved or reached: the sign-in still goes out, and the platform says if it minds.
pub async fn local_address_towards(url: &str) -> String {
    let Some(target) = reqwest::Url::parse(url).ok().and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))) else {
        return "127.0.0.1".into();
    };
    let Some(addr) = tokio::net::lookup_host(target.as_str()).await.ok().and_then(|mut a| a.next()) else { return "127.0.0.1".into() };
    let bind = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let local = match tokio::net::UdpSocket::bind(bind).await {
        Ok(socket) => socket.connect(addr).await.and_then(|()| socket.local_addr()).ok(),
        Err(_) => None,
    };
    local.map_or_else(|| "127.0.0.1".into(), |a| a.ip().to_string())
}

/// How long the hub waits for the platform's answer to an HIS's message it forwards (`forward`),
/// not the 10 s of its own calls: given up at 10 s, a 2207 committed at 12 was answered as not
/// done (session 32's review). With a bank charge after it (≤ 10 s), within the HIS's 30–60 s.
pub const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A platform refusal aimed at the hub's own message (a msgid it says is used, a signature or
/// sign-in it does not accept) rather than at the business: the hub must not report it as the
/// platform's decision, and resolves it like a silence (query, then resend).
pub fn rejects_our_envelope(err_msg: &str) -> bool {
    const ENVELOPE_FAULTS: &[&str] = &["报文ID", "msgid", "签名", "signature", "签到", "sign_no", "重复请求", "网关", "gateway", "x-tif"];
    let lower = err_msg.to_ascii_lowercase();
    ENVELOPE_FAULTS.iter().any(|f| lower.contains(&f.to_ascii_lowercase()))
}

/// Among [`rejects_our_envelope`]'s, a refusal of the day's sign-in itself (签到, sign_no): the
/// platform no longer takes the sign_no the message carried, and the institution signs in again.
pub fn rejects_our_sign_in(err_msg: &str) -> bool {
    let lower = err_msg.to_ascii_lowercase();
    lower.contains("签到") || lower.contains("sign_no")
}

/// The `callService` URL of a platform's base URL (kept as it is when it already names it).
pub fn call_service_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("callService") {
        base.to_string()
    } else {
        format!("{base}{CALL_SERVICE_PATH}")
    }
}

/// A text field as platforms send it: a string, or a number written as one.
pub(crate) fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

use crate::insurance_reply::amount;

impl InsuranceClient {
    pub fn new(
        base_url: &str,
        mdtrtarea_admvs: &str,
        timeout: Duration,
        clock: Arc<dyn crate::clock::Clock>,
        credentials: &[GatewayCredential],
    ) -> InsuranceClient {
        let wire = crate::partner_wire::Wire::http(timeout);
        let url = call_service_url(base_url);
        let credentials = credentials.iter().map(|c| (c.fixmedins_code.clone(), c.clone())).collect();
        let metrics = Arc::new(Metrics::new(&[], &[]));
        let (mdtrtarea_admvs, sent, refused_sign_ins) = (mdtrtarea_admvs.to_string(), Default::default(), Default::default());
        InsuranceClient { wire, url, mdtrtarea_admvs, clock, credentials, metrics, sent, refused_sign_ins }
    }

    /// The same client, counting its calls in `metrics`.
    pub fn metered(self, metrics: Arc<Metrics>) -> InsuranceClient {
        InsuranceClient { metrics, ..self }
    }

    /// The same client, handing its requests to the insurance center's router in this process.
    pub fn in_process(self, router: axum::Router, timeout: Duration) -> InsuranceClient {
        InsuranceClient { wire: crate::partner_wire::Wire::InProcess { router, timeout }, ..self }
    }

    /// Whether the platform refused a message of `fixmedins_code` for its sign-in `sign_no` since
    /// last asked; asking forgets the refusal (and one of an earlier sign_no).
    pub fn take_refused_sign_in(&self, fixmedins_code: &str, sign_no: &str) -> bool {
        let mut refused = self.refused_sign_ins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        refused.remove(fixmedins_code).is_some_and(|refused| refused == sign_no)
    }

    /// Transactions sent since start, retries and queries included.
    pub fn calls_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The gateway's headers for `body`, signed as `fixmedins_code` with a fresh nonce (a resend of
    /// the same msgid is a new request at the gateway). The timestamp is the wire's real time, like
    /// TLS's, not the hub's business clock.
    fn gateway_headers(&self, inst: &Institution, body: &[u8]) -> Result<Vec<(String, String)>, InsuranceError> {
        let fixmedins_code = &inst.fixmedins_code;
        let own = inst.platform.as_ref().and_then(|p| p.credential.as_ref());
        let credential = own.or_else(|| self.credentials.get(fixmedins_code)).ok_or_else(|| {
            InsuranceError::NotConfigured(format!(
                "the hub has no gateway credential for {fixmedins_code} at its insurance platform, so nothing was sent: \
                     an operator adds the one the platform issued (POST /api/v1/operator/hospitals/{fixmedins_code}/platform), \
                     or, with the built-in insurance center, restarts `wugan serve` once so that it admits the hospital"
            ))
        })?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = gateway_signature(&credential.secret, &credential.app_id, timestamp, &nonce, body);
        Ok(vec![
            ("x-tif-paasid".to_string(), credential.app_id.clone()),
            ("x-tif-timestamp".to_string(), timestamp.to_string()),
            ("x-tif-nonce".to_string(), nonce),
            ("x-tif-signature".to_string(), signature),
        ])
    }

    /// Sends one transaction and returns its `output`.
    pub async fn call(
        &self,
        infno: &str,
        msgid: &str,
        inst: &Institution,
        insuplc_admdvs: &str,
        input: Value,
    ) -> Result<Value, InsuranceError> {
        let call = self.metrics.call(INSURANCE_PARTNER, infno);
        let result = self.exchange(infno, msgid, inst, insuplc_admdvs, input).await;
        call.finish(match &result {
            Ok(_) => CallResult::Done,
            Err(InsuranceError::Refused { .. }) => CallResult::Refused,
            Err(_) => CallResult::Unknown,
        });
        result
    }

    async fn exchange(
        &self,
        infno: &str,
        msgid: &str,
        inst: &Institution,
        insuplc_admdvs: &str,
        input: Value,
    ) -> Result<Value, InsuranceError> {
        let inf_time = crate::clock::china_datetime_of(self.clock.now_utc());
        let mdtrtarea_admvs = inst.mdtrtarea_admvs.as_deref().unwrap_or(&self.mdtrtarea_admvs);
        let (signtype, cainfo) = match &inst.signer {
            Some(signer) => {
                let canonical = crate::ca_signer::canonical_input(infno, msgid, &inst.fixmedins_code, &inf_time, &inst.sign_no, &input);
                (signer.signtype(), signer.sign(&canonical))
            }
            None => ("", String::new()),
        };
        let envelope = OutEnvelope {
            cainfo: &cainfo,
            fixmedins_code: &inst.fixmedins_code,
            fixmedins_name: &inst.fixmedins_name,
            inf_time: &inf_time,
            infno,
            input: &input,
            insuplc_admdvs,
            mdtrtarea_admvs,
            msgid,
            sign_no: &inst.sign_no,
            signtype,
            ..OutEnvelope::HUB
        };
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Serializing a JSON value cannot fail; if it did, nothing was sent.
        let body = serde_json::to_vec(&envelope).map_err(|e| InsuranceError::Unreachable(format!("request not sent: {e}")))?;
        let headers = self.gateway_headers(inst, &body)?;
        let response =
            self.wire.send(reqwest::Method::POST, self.url_of(inst), &headers, body).await.map_err(InsuranceError::Unreachable)?;
        let status = response.status;
        if status >= 500 {
            return Err(InsuranceError::Unreachable(format!("HTTP {status}")));
        }
        let reply = InReply::read(&response.body).map_err(|e| InsuranceError::BadReply(e.to_string()))?;
        if (400..500).contains(&status) {
            // The gateway turned our request away (key, signature, clock, nonce): no decision.
            let message = reply.err_msg.as_str().unwrap_or("no message");
            return Err(InsuranceError::Unreachable(format!("the platform's gateway did not take our request (HTTP {status}): {message}")));
        }
        let infcode = match &reply.infcode {
            Value::Number(n) => n.as_i64().unwrap_or(-1),
            Value::String(s) => s.trim().parse().unwrap_or(-1),
            _ => return Err(InsuranceError::BadReply("no infcode".into())),
        };
        if infcode != 0 {
            let message = reply.err_msg.as_str().unwrap_or("no message").to_string();
            // A refused sign-in is the platform's answer to 9001 itself (its message names 签到):
            // no business outcome hangs on it, and read as silence it was resent before every call.
            if infno != "9001" && rejects_our_envelope(&message) {
                // A sign_no the platform no longer takes: the next call signs in again. None was
                // sent ("") when the platform refused the day's 9001: that answer stands.
                if rejects_our_sign_in(&message) && !inst.sign_no.is_empty() {
                    let mut refused = self.refused_sign_ins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    refused.insert(inst.fixmedins_code.clone(), inst.sign_no.clone());
                }
                // Not a decision about the person or the money: the outcome stays unknown.
                return Err(InsuranceError::Unreachable(format!("the platform did not take our message ({infcode}): {message}")));
            }
            return Err(InsuranceError::Refused { infcode, message });
        }
        Ok(reply.output)
    }

    /// Where `inst`'s envelopes go: its own platform, or the hub's.
    fn url_of<'a>(&'a self, inst: &'a Institution) -> &'a str {
        inst.platform.as_ref().map_or(self.url.as_str(), |p| p.url.as_str())
    }

    /// Forwards an envelope an HIS wrote, byte for byte (its msgid, sign_no, cainfo kept), signed
    /// at the gateway as `inst` (to its own platform where it has one); returns the platform's
    /// reply as it came (HTTP status and body), a 5xx too (its words are the HIS's to read; the
    /// outcome is unknown). `Unreachable`: no answer within [`FORWARD_TIMEOUT`].
    pub async fn forward(&self, infno: &str, inst: &Institution, body: Vec<u8>) -> Result<(u16, Vec<u8>), InsuranceError> {
        let call = self.metrics.call(INSURANCE_PARTNER, infno);
        let result = self.forward_once(inst, body).await;
        call.finish(match &result {
            Ok((status, _)) if *status < 500 => CallResult::Done,
            _ => CallResult::Unknown,
        });
        result
    }

    async fn forward_once(&self, inst: &Institution, body: Vec<u8>) -> Result<(u16, Vec<u8>), InsuranceError> {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let headers = self.gateway_headers(inst, &body)?;
        let url = self.url_of(inst);
        let response = self
            .wire
            .send_within(reqwest::Method::POST, url, &headers, body, Some(FORWARD_TIMEOUT))
            .await
            .map_err(InsuranceError::Unreachable)?;
        Ok((response.status, response.body.to_vec()))
    }

    /// 9001: signs `inst`'s operator in; the `sign_no` its later envelopes of the day carry.
    /// `ip` is required (签到 IP 地址): the address this machine reaches the platform from.
    pub async fn sign_in(&self, msgid: &str, inst: &Institution) -> Result<String, InsuranceError> {
        let ip = local_address_towards(self.url_of(inst)).await;
        let input = json!({"signIn": {"opter_no": HUB_OPTER, "mac": "", "ip": ip}});
        let output = self.call("9001", msgid, inst, "", input).await?;
        let sign_no = output.get("signinoutb").map(|s| text(s, "sign_no")).unwrap_or_default();
        if sign_no.is_empty() {
            return Err(InsuranceError::BadReply("9001 without signinoutb.sign_no".into()));
        }
        Ok(sign_no)
    }

    /// 1101: who is this person and how are they insured.
    pub async fn person_info(&self, msgid: &str, inst: &Institution, cert_type: &str, cert_no: &str) -> Result<PersonInfo, InsuranceError> {
        let input = json!({"data": {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "card_sn": "", "begntime": "",
                                    "psn_cert_type": if cert_type == "02" { "01" } else { "" },
                                    "certno": if cert_type == "02" { cert_no } else { "" }, "psn_name": ""}});
        let output = self.call("1101", msgid, inst, "", input).await?;
        Self::read_person(&output)
    }

    /// Parses a 1101 output: `insuinfo` may be an array (as real platforms send) or an object (as
    /// the spec's sample shows); numbers may be numbers or strings.
    pub fn read_person(output: &Value) -> Result<PersonInfo, InsuranceError> {
        let base = output.get("baseinfo").ok_or_else(|| InsuranceError::BadReply("1101 without baseinfo".into()))?;
        let insuinfo: Vec<Value> = match output.get("insuinfo") {
            Some(Value::Array(items)) => items.clone(),
            Some(obj @ Value::Object(_)) => vec![obj.clone()],
            _ => Vec::new(),
        };
        // Only insurance in force (参保状态 "1", or not stated) can settle: a suspended or ended one
        // is no insurance, and its holder pays their bills themselves.
        let insurances = insuinfo
            .iter()
            .filter(|i| matches!(text(i, "psn_insu_stas").as_str(), "" | "1"))
            .map(|i| {
                Ok(Insurance {
                    insutype: text(i, "insutype"),
                    psn_type: text(i, "psn_type"),
                    // The spec's own 1101 sample names it `insu_admdvs`.
                    insuplc_admdvs: Some(text(i, "insuplc_admdvs")).filter(|a| !a.is_empty()).unwrap_or_else(|| text(i, "insu_admdvs")),
                    balc: amount(i, "balc")?,
                })
            })
            .collect::<Result<Vec<_>, InsuranceError>>()?;
        let psn_no = text(base, "psn_no");
        if psn_no.is_empty() {
            return Err(InsuranceError::BadReply("1101 baseinfo without psn_no".into()));
        }
        let age = text(base, "age").split('.').next().and_then(|years| years.trim().parse().ok());
        Ok(PersonInfo { psn_no, psn_name: text(base, "psn_name"), certno: text(base, "certno"), age, insurances })
    }

    /// The amounts of a 2206 reply's `setlinfo` that 2207's input must carry (`PRESETTLE_ECHO`),
    /// as the platform sent them; `None` when it sent none of them.
    pub fn presettle_echo(output: &Value) -> Option<Value> {
        Self::setlinfo_fields(output, &PRESETTLE_ECHO)
    }

    /// `fields` of a reply's `setlinfo` (an object, or the record of an array) as the platform sent
    /// them, nulls left out; `None` when it sent none of them.
    pub fn setlinfo_fields(output: &Value, fields: &[&str]) -> Option<Value> {
        let info = crate::insurance_reply::setlinfo_record(output)?;
        let kept: Map<String, Value> =
            fields.iter().filter_map(|k| info.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone()))).collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    }

    /// Parses a 2206/2207 `setlinfo` into the split the hub pays out (a 2208 cancellation record
    /// reads the same way, its amounts negated). `setldetail` is kept as sent; the entries that
    /// are pooled fund never add up to more than `fund_pay_sumamt`.
    pub fn read_settlement(output: &Value) -> Result<Settled, InsuranceError> {
        let info = crate::insurance_reply::setlinfo_record(output).ok_or_else(|| InsuranceError::BadReply("no setlinfo".into()))?;
        let split = InsuranceSplit {
            medfee: amount(info, "medfee_sumamt")?,
            fund: amount(info, "fund_pay_sumamt")?,
            personal_account: amount(info, "acct_pay")?,
            cash: amount(info, "psn_cash_pay")?,
            hospital_part: amount(info, "hosp_part_amt")?,
        };
        let setl_id = Some(text(info, "setl_id")).filter(|s| !s.is_empty());
        let detail = Self::read_fund_detail(output)?;
        let fund_detail = fund_total(&detail);
        if fund_detail.0.abs() > split.fund.0.abs() {
            return Err(InsuranceError::BadReply(format!(
                "setldetail pays {fund_detail} from funds, more than fund_pay_sumamt {}",
                split.fund
            )));
        }
        Ok(Settled { setl_id, split, setlinfo: info.clone(), detail })
    }

    /// `setldetail` (an array, an object for a single entry, or absent) as fund payments.
    fn read_fund_detail(output: &Value) -> Result<Vec<FundPayment>, InsuranceError> {
        let entries = match output.get("setldetail") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(obj @ Value::Object(_)) => vec![obj],
            _ => Vec::new(),
        };
        entries
            .into_iter()
            .map(|d| Ok(FundPayment { fund_pay_type: text(d, "fund_pay_type"), amount: amount(d, "fund_payamt")? }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_of_our_own_message_are_not_business_decisions() {
        for (message, ours) in [
            ("报文ID已用于其他请求: msgid H1 was already used for a different request", true),
            ("签名验证失败", true),
            ("Invalid signature", true),
            ("参保人不存在: unknown person", false),
            ("该就诊已结算，请先撤销结算", false),
            ("个人账户余额不足", false),
            ("网关鉴权失败: 应用ID未注册 / gateway: unknown x-tif-paasid", true),
        ] {
            assert_eq!(super::rejects_our_envelope(message), ours, "{message}");
        }
        for (message, sign_in) in [
            ("签到信息已失效，请重新签到(sign_no invalid)", true),
            ("签到编号无效，请先签到", true),
            ("Invalid SIGN_NO", true),
            ("签名验证失败", false),
            ("报文ID已用于其他请求: msgid H1 was already used for a different request", false),
        ] {
            assert_eq!(super::rejects_our_sign_in(message), sign_in, "{message}");
            assert!(super::rejects_our_envelope(message), "{message}");
        }
    }

    use super::*;

    /// The gateway's documented vector (docs/national-interface-profile.md §Gateway); the
    /// insurance center checks the same one.
    #[test]
    fn signs_the_documented_test_vector() {
        let body = br#"{"infno":"1101","msgid":"H1202406010900000000001","fixmedins_code":"H1","input":{}}"#;
        let signature = gateway_signature("s1", "app-h1", 1_717_200_000, "n-0001", body);
        assert_eq!(signature, "b0f43632d58a38aa7b13c2b8b6a324b749cd341137d4d534f208b5eae90be9a5");
    }

    #[test]
    fn reads_a_person_however_the_platform_writes_it() {
        let as_object = json!({"baseinfo": {"psn_no": 4403001, "psn_name": "张三", "certno": "440301199001011234"},
                               "insuinfo": {"balc": 800.5, "insutype": 310, "psn_type": "1101", "insuplc_admdvs": "440300"}});
        let p = InsuranceClient::read_person(&as_object).unwrap();
        assert_eq!((p.psn_no.as_str(), p.insurances[0].insutype.as_str(), p.insurances[0].balc), ("4403001", "310", Fen(80050)));
        let as_array =
            json!({"baseinfo": {"psn_no": "P1"}, "insuinfo": [{"balc": "12.30", "insutype": "390"}, {"balc": null}], "idetinfo": null});
        let p = InsuranceClient::read_person(&as_array).unwrap();
        assert_eq!(p.insurances.len(), 2);
        assert_eq!((p.insurances[0].balc, p.insurances[1].balc), (Fen(1230), Fen(0)));
        assert!(InsuranceClient::read_person(&json!({"baseinfo": {}})).is_err());
    }

    #[test]
    fn reads_a_settlement_with_numbers_strings_and_nulls() {
        let out = json!({"setlinfo": {"setl_id": "S1", "medfee_sumamt": 100.0, "fund_pay_sumamt": "60.00", "acct_pay": 30,
                                      "psn_cash_pay": "10", "hosp_part_amt": null}, "setldetail": []});
        let s = InsuranceClient::read_settlement(&out).unwrap();
        assert_eq!(
            s.split,
            InsuranceSplit { medfee: Fen(10000), fund: Fen(6000), personal_account: Fen(3000), cash: Fen(1000), hospital_part: Fen(0) }
        );
        assert_eq!(s.setl_id.as_deref(), Some("S1"));
        assert!(InsuranceClient::read_settlement(&json!({"setlinfo": {"medfee_sumamt": "1.234"}})).is_err());
    }

    /// A 2207 and its 2208 as a real platform writes them: amounts as strings and numbers, a null
    /// for a zero share, local fund codes, a hospital-borne entry; the 2208 a new setl_id with
    /// every amount negated and `psn_part_amt: null`.
    #[test]
    fn reads_real_settlement_and_cancellation_records() {
        let settled = json!({"setlinfo": {"setl_id": "440300G0000123", "mdtrt_id": "440300M01", "psn_no": "44030000000012",
            "insutype": 310, "insuplc_admdvs": "440399", "medfee_sumamt": "268.50", "fund_pay_sumamt": 150.2, "acct_pay": "50",
            "psn_cash_pay": "58.30", "hosp_part_amt": "10.00", "psn_part_amt": 108.3},
            "setldetail": [{"fund_pay_type": "310100", "fund_payamt": "120.20"}, {"fund_pay_type": "330101", "fund_payamt": 30},
                           {"fund_pay_type": "310201", "fund_payamt": "50.00"}, {"fund_pay_type": "999996", "fund_payamt": 10},
                           {"fund_pay_type": "880100", "fund_payamt": "5.00"}]});
        let s = InsuranceClient::read_settlement(&settled).unwrap();
        assert_eq!(
            s.split,
            InsuranceSplit { medfee: Fen(26850), fund: Fen(15020), personal_account: Fen(5000), cash: Fen(5830), hospital_part: Fen(1000) }
        );
        assert_eq!(s.detail.len(), 5, "unknown codes are kept");
        assert_eq!(fund_total(&s.detail), Fen(15020), "the account, the hospital and the unknown code are not fund");
        let cancelled = json!({"setlinfo": {"setl_id": "440300G0000124", "init_setl_id": "440300G0000123", "medfee_sumamt": "-268.50",
            "fund_pay_sumamt": -150.2, "acct_pay": "-50.00", "psn_cash_pay": "-58.3", "hosp_part_amt": -10, "psn_part_amt": null}});
        let c = InsuranceClient::read_settlement(&cancelled).unwrap();
        assert_eq!(c.setl_id.as_deref(), Some("440300G0000124"));
        let check = wugan_domain::settlement::cash_only::check_cancellation_record;
        assert_eq!(check("440300G0000123", &s.split, "440300G0000124", &c.split), Ok(()));
        let too_much_fund = json!({"setlinfo": {"medfee_sumamt": 10, "fund_pay_sumamt": 5, "psn_cash_pay": 5},
                                   "setldetail": {"fund_pay_type": "310100", "fund_payamt": 6}});
        assert!(InsuranceClient::read_settlement(&too_much_fund).is_err());
    }
}

#[cfg(test)]
mod envelope_tests {
    use super::*;
    use std::sync::Mutex;

    /// A fake platform that keeps every envelope and answers the way real ones do: infcode as a
    /// string, amounts as strings and numbers.
    fn platform(seen: Arc<Mutex<Vec<Value>>>) -> axum::Router {
        axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                axum::Json(json!({"infcode": "0", "err_msg": null, "output": {"setlinfo": {"setl_id": 7, "medfee_sumamt": "10",
                    "fund_pay_sumamt": 6, "acct_pay": null, "psn_cash_pay": "4.00", "hosp_part_amt": ""}}}))
            }
        })
    }

    #[tokio::test]
    async fn envelopes_carry_the_hospitals_own_name_and_region() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let credential = GatewayCredential { fixmedins_code: "H1".into(), app_id: "app-h1".into(), secret: "s1".into() };
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let client = InsuranceClient::new("http://platform", "440300", Duration::from_secs(5), clock, &[credential])
            .in_process(platform(seen.clone()), Duration::from_secs(5));
        let own_region = Institution {
            fixmedins_code: "H1".into(),
            fixmedins_name: "深圳市示例医院".into(),
            mdtrtarea_admvs: Some("440399".into()),
            ..Default::default()
        };
        let hubs_region = Institution { mdtrtarea_admvs: None, ..own_region.clone() };
        for inst in [&own_region, &hubs_region] {
            let output = client.call("2207", "H1-1", inst, "440304", json!({"data": {}})).await.expect("a string infcode 0 is success");
            assert_eq!(InsuranceClient::read_settlement(&output).expect("read").split.cash, Fen(400));
        }
        let seen = seen.lock().unwrap();
        let fields = |e: &Value| {
            (e["fixmedins_code"].clone(), e["fixmedins_name"].clone(), e["mdtrtarea_admvs"].clone(), e["insuplc_admdvs"].clone())
        };
        assert_eq!(fields(&seen[0]), (json!("H1"), json!("深圳市示例医院"), json!("440399"), json!("440304")));
        assert_eq!(fields(&seen[1]).2, json!("440300"), "no region of its own: the hub's");
    }

    /// 2207 carries back four amounts of the 2206 reply, as sent (strings or numbers); a reply
    /// with none of them (or only nulls) has nothing to carry.
    #[test]
    fn the_presettle_echo_is_the_four_amounts_as_the_platform_sent_them() {
        let reply = json!({"setlinfo": {"medfee_sumamt": "1225.00", "fulamt_ownpay_amt": "0.00", "overlmt_selfpay": 0,
            "preselfpay_amt": "120.00", "inscp_scp_amt": 1105.5, "psn_cash_pay": "300.00"}});
        let echo = InsuranceClient::presettle_echo(&reply).expect("four amounts");
        assert_eq!(echo, json!({"fulamt_ownpay_amt": "0.00", "overlmt_selfpay": 0, "preselfpay_amt": "120.00", "inscp_scp_amt": 1105.5}));
        let as_array = json!({"setlinfo": [{"inscp_scp_amt": "10.00", "preselfpay_amt": null}]});
        assert_eq!(InsuranceClient::presettle_echo(&as_array), Some(json!({"inscp_scp_amt": "10.00"})));
        assert_eq!(InsuranceClient::presettle_echo(&json!({"setlinfo": {"psn_cash_pay": "1"}})), None);
        assert_eq!(InsuranceClient::presettle_echo(&json!({})), None);
    }

    /// 9001's `ip` is required (签到 IP 地址, char 20): the sign-in names the address this machine
    /// reaches the platform from, never an empty text.
    #[tokio::test]
    async fn the_sign_in_names_the_address_it_comes_from() {
        let platform = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
            let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ip = sent["input"]["signIn"]["ip"].as_str().unwrap_or_default().to_string();
            axum::Json(json!({"infcode": 0, "output": {"signinoutb": {"sign_time": "2026-12-01 08:00:00", "sign_no": ip}}}))
        });
        let credential = GatewayCredential { fixmedins_code: "H1".into(), app_id: "app-h1".into(), secret: "s1".into() };
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let client = InsuranceClient::new("http://127.0.0.1:9", "440300", Duration::from_secs(5), clock, &[credential])
            .in_process(platform, Duration::from_secs(5));
        let inst = Institution { fixmedins_code: "H1".into(), ..Default::default() };
        let ip = client.sign_in("H1-9001", &inst).await.expect("signed in");
        assert_eq!(ip, "127.0.0.1", "towards a loopback platform, the loopback address");
        assert!(ip.parse::<std::net::IpAddr>().is_ok() && ip.len() <= 20, "{ip}");
        assert_eq!(local_address_towards("not a url").await, "127.0.0.1");
        let towards_elsewhere = local_address_towards("http://192.0.2.1:8080/fsi").await;
        assert!(towards_elsewhere.parse::<std::net::IpAddr>().is_ok(), "{towards_elsewhere}");
    }

    #[tokio::test]
    async fn a_platform_reply_with_a_byte_order_mark_in_front_is_read_not_left_in_doubt() {
        let platform = axum::Router::new().fallback(|| async {
            let reply = json!({"infcode": 0, "output": {"setlinfo": {"setl_id": "S1", "medfee_sumamt": 10, "fund_pay_sumamt": 6,
                "acct_pay": 0, "psn_cash_pay": 4, "hosp_part_amt": 0}}});
            ([(axum::http::header::CONTENT_TYPE, "application/json")], format!("\u{FEFF}{reply}"))
        });
        let credential = GatewayCredential { fixmedins_code: "H1".into(), app_id: "app-h1".into(), secret: "s1".into() };
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
        let client = InsuranceClient::new("http://platform", "440300", Duration::from_secs(5), clock, &[credential])
            .in_process(platform, Duration::from_secs(5));
        let inst = Institution { fixmedins_code: "H1".into(), ..Default::default() };
        let output = client.call("2207", "H1-2", &inst, "440300", json!({"data": {}})).await.expect("settled, not unreadable");
        assert_eq!(InsuranceClient::read_settlement(&output).expect("read").split.cash, Fen(400));
    }

    /// The typed envelope writes the same bytes as the `Value` it replaced (keys by name), so a
    /// platform that signs or logs what it received sees no change.
    #[test]
    fn the_envelope_is_written_as_the_value_map_wrote_it() {
        let input = json!({"data": {"psn_no": "P1", "insutype": "310"}});
        let typed = OutEnvelope {
            cainfo: "ca",
            fixmedins_code: "H1",
            fixmedins_name: "一院",
            inf_time: "2026-12-02 10:00:00",
            infno: "2201",
            input: &input,
            insuplc_admdvs: "440300",
            mdtrtarea_admvs: "440300",
            msgid: "H1202612021000000000001",
            sign_no: "S1",
            signtype: "SM2",
            ..OutEnvelope::HUB
        };
        let value = json!({
            "infno": "2201", "msgid": "H1202612021000000000001", "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440300",
            "recer_sys_code": "WUGAN", "dev_no": "", "dev_safe_info": "", "cainfo": "ca", "signtype": "SM2", "infver": "V1.0",
            "opter_type": "1", "opter": HUB_OPTER, "opter_name": "wugan hub", "inf_time": "2026-12-02 10:00:00",
            "fixmedins_code": "H1", "fixmedins_name": "一院", "sign_no": "S1", "input": input,
        });
        assert_eq!(serde_json::to_string(&typed).unwrap(), serde_json::to_string(&value).unwrap());
    }

    #[test]
    fn a_reply_is_read_for_its_code_message_and_output_only() {
        let read = |body: &str| InReply::read(body.as_bytes());
        let r = read("\u{feff}{\"infcode\":\"0\",\"inf_refmsgid\":\"x\",\"warn_msg\":null,\"output\":{\"a\":1}}").unwrap();
        assert_eq!((r.infcode, r.err_msg, r.output), (json!("0"), Value::Null, json!({"a": 1})));
        for not_an_object in ["[0, \"refused\", {}]", "\"ok\"", "null"] {
            let r = read(not_an_object).unwrap();
            assert_eq!((r.infcode, r.output), (Value::Null, Value::Null), "{not_an_object}");
        }
        assert!(read("<html>502</html>").is_err(), "not JSON at all is a bad reply");
    }
}
