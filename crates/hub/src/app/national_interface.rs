//! The drop-in national-interface endpoint (issue 15): an HIS that already speaks the national
//! interface changes only its base URL to `{national_interface_prefix}` (`/ni/<token>`, a secret
//! per hospital). Every envelope is forwarded to the platform as it came and the reply returned as
//! it came; the hub adds seamless payment around three transactions: after a successful 2207 for a
//! signed patient it charges `psn_cash_pay` (a cash-only settlement, `cash_only.rs`), after a 2208
//! or a 2601 (冲正) of a 2207 it refunds it (`national_cancellations.rs`), and tells the HIS in an
//! extra output field, `wugan_payment`, it may ignore.
//!
//! Nothing here is answered as an HTTP error: a refusal (unknown prefix, another hospital's
//! envelope) and a platform that is down are answered in the national error shape,
//! `{"infcode": -1, "err_msg": …}`, which HIS software reads.

use super::*;
use crate::insurance_client::text;
use crate::store::HospitalProfile;
use wugan_domain::settlement::cash_only::SetlType;

/// The path under a hospital's prefix that real HIS software posts to.
pub const NATIONAL_CALL_PATH: &str = crate::insurance_client::CALL_SERVICE_PATH;

/// What `wugan hospital add` prints: shown once (only hashes are kept).
#[derive(Debug, Clone, Serialize)]
pub struct HospitalRegistration {
    pub code: String,
    pub name: String,
    pub key_id: String,
    pub api_key: String,
    /// `/ni/<token>`: the HIS's new base URL is the hub's address followed by this.
    pub national_interface_prefix: String,
}

/// The stored form of a drop-in token (never the token itself).
pub fn ni_token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("wugan-ni:{token}").as_bytes()))
}

/// Registers a hospital (the same record the API and console use), issues its HIS API key and
/// its drop-in token. A code already registered keeps its name and gets a new key and token.
pub async fn register_hospital(store: &Store, code: &str, name: &str) -> Result<HospitalRegistration, AppError> {
    check_text("code", code, 30)?;
    check_text("name", name, 200)?;
    super::hospitals::check_hospital_code(code)?;
    let secret = || crate::pii::DataKey::generate().map(|k| k.to_hex()).map_err(|e| AppError::internal(e.to_string()));
    store.ensure_hospital(code, name).await?;
    let api_key = format!("his_{}", secret()?);
    let key_id = store.issue_api_key(&crate::api::hash_api_key(&api_key), Role::Hospital, Some(code), Some("wugan hospital add")).await?;
    let token = secret()?[..40].to_string();
    store.set_ni_token_hash(code, &ni_token_hash(&token)).await?;
    let name = store.hospital_profile(code).await?.map(|p| p.name).unwrap_or_else(|| name.to_string());
    Ok(HospitalRegistration { code: code.to_string(), name, key_id, api_key, national_interface_prefix: format!("/ni/{token}") })
}

/// A message's payload as platforms read it (the center's `Envelope::data`): `input.data` when it
/// is an object, as most HIS software sends it, else `input` itself, as some send its fields bare.
/// The hub reads the same fields the platform acted on: a bare 2208's `setl_id` read as missing
/// cancelled insurance and refunded nothing (session 32's review).
pub(super) fn payload(message: &Value) -> &Value {
    data_in(message, "input")
}

/// A reply's `output.data` when it is an object, else `output` itself (2201's `mdtrt_id`).
pub(super) fn output_data(reply: &Value) -> &Value {
    data_in(reply, "output")
}

/// `node.data` of `outer[node]` when it is an object, else `outer[node]` itself (null if none).
fn data_in<'a>(outer: &'a Value, node: &str) -> &'a Value {
    static NONE: Value = Value::Null;
    let inner = outer.get(node).unwrap_or(&NONE);
    match inner.get("data") {
        Some(data) if data.is_object() => data,
        _ => inner,
    }
}

/// The national error shape, its `err_msg` written as platforms write theirs: Chinese first, the
/// cashier's language, then English (`中文 / English`), at most [`ERR_MSG_CHARS`] characters
/// (what HIS software keeps of it; a transport error naming a URL is cut, not the words before).
pub fn national_error(zh: &str, en: impl AsRef<str>) -> Value {
    let mut message = format!("{zh} / {}", en.as_ref());
    if message.chars().count() > ERR_MSG_CHARS {
        message = message.chars().take(ERR_MSG_CHARS - 1).chain(std::iter::once('…')).collect();
    }
    json!({"infcode": -1, "err_msg": message, "warn_msg": "", "output": null})
}

/// The longest `err_msg` the hub writes (the national interface's field is 200 characters).
pub const ERR_MSG_CHARS: usize = 200;

/// The receiver's division in the `inf_refmsgid` of a reply the hub writes itself: none of the
/// platform's (a platform's reply passed on keeps its own).
const HUB_REPLY_DIVISION: &str = "000000";

/// A reply the hub writes, shaped like a platform's (review r25 ni F8): HIS software stores
/// `inf_refmsgid` with a settlement and reads the times, so one that lacks them gets the hub's own:
/// `inf_refmsgid` = division (6) + yyyyMMddHHmmss (14) + serial (10), the times yyyyMMddHHmmssSSS
/// in China time. What the platform's reply carried is kept as it came.
pub fn stamped(mut reply: Value, now: time::OffsetDateTime) -> Value {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Value::Object(fields) = &mut reply else { return reply };
    let t = crate::clock::in_china(now);
    let second = format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second());
    let millis = format!("{second}{:03}", t.millisecond());
    if !fields.contains_key("inf_refmsgid") {
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10_000_000_000;
        fields.insert("inf_refmsgid".into(), json!(format!("{HUB_REPLY_DIVISION}{second}{serial:010}")));
    }
    for field in ["refmsg_time", "respond_time"] {
        fields.entry(field).or_insert_with(|| json!(millis));
    }
    reply
}

/// The words of a platform's reply that is not an answer (HTTP 5xx): its `err_msg`, if it wrote one.
fn platform_words(body: &[u8]) -> String {
    let reply = serde_json::from_slice::<Value>(crate::without_bom(body)).unwrap_or(Value::Null);
    match text(&reply, "err_msg").trim() {
        "" => String::new(),
        words => format!(": {words}"),
    }
}

/// A platform's JSON read with its long integers (a 24-digit `setl_id` sent as a number) kept
/// whole as text: an `f64` would turn it into `4.403002026120308e+23` and no 2208 would find it
/// again (review r25 ni F9).
fn read_whole(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(&crate::insurance_reply::quote_long_integers(crate::without_bom(body))).ok()
}

/// A national answer: the platform's bytes as they came, or a JSON value the hub wrote.
pub enum NationalAnswer {
    AsItCame { status: u16, body: Vec<u8> },
    Written(Value),
}

fn infcode_of(reply: &Value) -> Option<i64> {
    match reply.get("infcode") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

impl App {
    /// One envelope posted under `/ni/<token>`.
    pub async fn national_call(&self, token: &str, body: &[u8]) -> NationalAnswer {
        let Some(hospital) = self.store.hospital_by_ni_token(&ni_token_hash(token)).await.ok().flatten() else {
            return NationalAnswer::Written(national_error(
                "接口地址无效，请检查配置的地址",
                "unknown interface address: check the configured base URL",
            ));
        };
        let Some(envelope) = read_whole(body) else {
            return NationalAnswer::Written(national_error("报文不是有效的JSON", "the message is not JSON"));
        };
        if !envelope.is_object() {
            return NationalAnswer::Written(national_error(
                "报文格式错误",
                "the message is not a JSON object (an envelope: {infno, msgid, …, input})",
            ));
        }
        // Read trimmed, as the platform reads them: a fixed-width column pads `"2207 "` (review r25 ni F5).
        if text(&envelope, "fixmedins_code").trim() != hospital.code {
            return NationalAnswer::Written(national_error(
                "定点医药机构编号与接口地址不符",
                "fixmedins_code is not the institution of this interface address",
            ));
        }
        let infno = text(&envelope, "infno").trim().to_string();
        // Its own platform where it names one; the HIS's own sign_no and cainfo stay as they came.
        let Ok(inst) = self.platform_institution(&hospital.code).await else {
            return NationalAnswer::Written(national_error(
                "暂时无法读取本机构的医保平台设置，请重试",
                "the hub could not read this institution's platform: try again",
            ));
        };
        match self.insurance.forward(&infno, &inst, body.to_vec()).await {
            // A 5xx is no answer: the platform may or may not have done it. Its words go with it.
            Ok((status, reply)) if status >= 500 => {
                let why = format!("HTTP {status}{}", platform_words(&reply));
                match infno.as_str() {
                    "2207" | "2208" | "2601" => self.unanswered(&hospital, &infno, &envelope, &why).await,
                    _ => NationalAnswer::AsItCame { status, body: reply },
                }
            }
            Ok((status, reply)) => self.around_reply(&hospital, &infno, &envelope, status, reply).await,
            Err(InsuranceError::Unreachable(why)) => self.unanswered(&hospital, &infno, &envelope, &why).await,
            Err(e @ InsuranceError::NotConfigured(_)) => NationalAnswer::Written(national_error("本机构未配置医保平台", e.to_string())),
            Err(e) => NationalAnswer::Written(national_error("医保平台未应答", format!("the insurance platform did not answer: {e}"))),
        }
    }

    /// The platform did not answer: a 2207 or a 2208 may have taken effect all the same, and
    /// 5203 says whether it did; any other message is the HIS's to send again.
    async fn unanswered(&self, hospital: &HospitalProfile, infno: &str, envelope: &Value, why: &str) -> NationalAnswer {
        match infno {
            "2207" => self.resolve_lost_settlement(hospital, envelope, why).await,
            "2208" => self.resolve_lost_cancellation(hospital, envelope, why).await,
            "2601" => self.resolve_lost_reversal(hospital, envelope, why).await,
            _ => NationalAnswer::Written(national_error("医保平台未应答", format!("the insurance platform did not answer: {why}"))),
        }
    }

    /// The platform answered: seamless payment after a successful 2207 or 2208, else the reply
    /// as it came.
    async fn around_reply(&self, hospital: &HospitalProfile, infno: &str, envelope: &Value, status: u16, body: Vec<u8>) -> NationalAnswer {
        if !matches!(infno, "2201" | "2204" | "2205" | "2207" | "2208" | "2601") {
            return NationalAnswer::AsItCame { status, body };
        }
        let Some(reply) = read_whole(&body) else {
            return NationalAnswer::AsItCame { status, body };
        };
        if infcode_of(&reply) != Some(0) {
            // A refused 2208 may have cancelled all the same ("该结算已撤销" to a resend whose first
            // reply was lost): the settlement's record says (review r25 ni F3).
            return match infno {
                "2208" => self.after_refused_cancellation(hospital, envelope, status, body, reply).await,
                // A refusal of the message itself, not of the visit: platforms that do not replay
                // refuse a resent 2207 "报文ID重复" when the first took effect and its reply was
                // lost. The settlement record (5203) says; no record found, it goes as it came.
                "2601" => self.after_refused_reversal(hospital, envelope, status, body, reply).await,
                "2207" if crate::insurance_client::rejects_our_envelope(&text(&reply, "err_msg")) => {
                    let why = format!("refused: {}", text(&reply, "err_msg"));
                    match self.settlement_by_5203(hospital, envelope, &why).await {
                        Found::Settled(answer) => answer,
                        Found::Nothing | Found::NoAnswer(_) => NationalAnswer::AsItCame { status, body },
                    }
                }
                _ => NationalAnswer::AsItCame { status, body },
            };
        }
        if infno == "2601" {
            return NationalAnswer::Written(self.after_reversal(hospital, envelope, reply).await);
        }
        if matches!(infno, "2201" | "2204" | "2205") {
            // The visit's number and lines, for the cash-only visit its 2207 writes.
            self.note_national_visit(&hospital.code, infno, envelope, &reply).await;
            return NationalAnswer::AsItCame { status, body };
        }
        NationalAnswer::Written(self.with_payment(hospital, infno, envelope, reply).await)
    }

    async fn with_payment(&self, hospital: &HospitalProfile, infno: &str, envelope: &Value, mut reply: Value) -> Value {
        let output = reply.get("output").cloned().unwrap_or(Value::Null);
        let payment = match infno {
            // Insurance only: the hospital collects the cash share itself, so nothing is charged.
            // (A 2208 still refunds whatever an earlier setting had charged.)
            "2207" if hospital.setl_type == SetlType::Hi => json!({"status": "not_charged", "code": "insurance_only",
                "message": "the hospital's settlement type is HI (insurance only): it collects the cash share itself"}),
            "2207" => self.charge_after_settlement(hospital, envelope, &output).await,
            _ => self.refund_after_cancellation(hospital, envelope, &output).await,
        };
        // A 2208's success may come with no output: the HIS is told what the hub did all the same.
        if infno == "2208" && reply.is_object() && !reply.get("output").is_some_and(Value::is_object) {
            reply["output"] = json!({});
        }
        if let Some(Value::Object(out)) = reply.get_mut("output") {
            out.insert("wugan_payment".into(), payment);
        }
        reply
    }

    /// After the platform's 2207: a cash-only settlement of its output, for a signed patient.
    async fn charge_after_settlement(&self, hospital: &HospitalProfile, envelope: &Value, output: &Value) -> Value {
        let info = output.get("setlinfo").cloned().unwrap_or(Value::Null);
        let (setl_id, mdtrt_id) = (text(&info, "setl_id"), text(&info, "mdtrt_id"));
        // The platform's setl_id names the payment: the same 2207 answered again pays once.
        let request = Keyed::unstored(&format!("ni:{setl_id}"));
        // Under the HIS's own number and with the lines its platform accepted, when they passed
        // by (`national_visits`); else under the platform's visit id.
        let noted = self.store.national_visit(&mdtrt_id).await.ok().flatten().filter(|n| n.hospital_code == hospital.code);
        let lines = noted.as_ref().map(|n| super::national_visits::fee_lines_of(&n.lines_json)).unwrap_or_default();
        let batch = text(payload(envelope), "chrg_bchno");
        let medfee = wugan_domain::Fen::from_json_yuan(&info["medfee_sumamt"]).ok().flatten();
        let ipt_otp_no = noted.map(|n| n.ipt_otp_no).unwrap_or(mdtrt_id);
        // A setl_id the hub has paid already is answered as it stands, whatever the number.
        let under = match self.store.settlement_of_posted_setl_id(&setl_id).await {
            Ok(Some(_)) => super::national_visits::SettledUnder { ipt_otp_no, taken: Vec::new() },
            _ => self.settled_under(&hospital.code, ipt_otp_no, batch.trim()).await,
        };
        let lines = super::national_visits::lines_settled(lines, batch.trim(), medfee, &under.taken);
        let req = CashSettleRequest { ipt_otp_no: under.ipt_otp_no, output: output.clone() };
        let paid = self.settle_cash_only_with_lines(&hospital.code, &req, &request, lines).await;
        // The same 2207 sent twice at once (the HIS's own timeout): the platform replays it, and the
        // request that lost the race to write the settlement answers the one the other made, never
        // "not charged" for a share that was (review r25 ni F2).
        let raced = |code: &str| matches!(code, "conflict" | "already_settled") || code.ends_with("_in_progress");
        if let Err(AppError::Conflict { code, .. }) = &paid {
            if !raced(code) {
                return payment_view(NOT_CHARGED, paid);
            }
            if let Some(other) = self.settlement_once_final(Posted::SetlId(&setl_id), RACE_WAIT).await {
                return payment_view(NOT_CHARGED, Ok(other));
            }
        }
        payment_view(NOT_CHARGED, paid)
    }

    /// The settlement another request is making or moving, once it has finished with it (`wait` at
    /// most), as a view; `None` when there is none by then or it is still under way.
    pub(super) async fn settlement_once_final(&self, which: Posted<'_>, wait: std::time::Duration) -> Option<SettlementView> {
        let tries = (wait.as_millis() / 100).max(1);
        for _ in 0..tries {
            let id = match which {
                Posted::Id(id) => Some(id.to_string()),
                Posted::SetlId(setl_id) => self.store.settlement_of_posted_setl_id(setl_id).await.ok()?,
            };
            if let Some(id) = id {
                match self.store.settlement(&id).await.ok()? {
                    Some(s) if s.state.is_final() => return Some(SettlementView::of(&s)),
                    Some(_) => {}
                    None => return None,
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    }

    /// After the platform's 2208: the refund of what its settlement charged.
    pub(super) async fn refund_after_cancellation(&self, hospital: &HospitalProfile, envelope: &Value, output: &Value) -> Value {
        let cancelled = text(payload(envelope), "setl_id").trim().to_string();
        let settlement = match self.store.settlement_of_posted_setl_id(&cancelled).await {
            Ok(Some(id)) => id,
            Ok(None) => return json!({"status": "none", "message": "the hub charged nothing for this settlement"}),
            Err(e) => return payment_view(NOT_REFUNDED, Err(e.into())),
        };
        let visit_id = match self.store.settlement(&settlement).await {
            Ok(Some(s)) => s.visit_id,
            Ok(None) => return payment_view(NOT_REFUNDED, Err(AppError::internal("settlement vanished"))),
            Err(e) => return payment_view(NOT_REFUNDED, Err(e.into())),
        };
        let request = Keyed::unstored(&format!("ni-cancel:{cancelled}"));
        let req = CashCancelRequest { output: output.clone() };
        let on_the_wire = super::cash_only::Seen::OnTheWire;
        let mut refunded = self.cancel_cash_only_on(&hospital.code, &visit_id, &req, &request, on_the_wire).await;
        // A success whose record the hub cannot read as this settlement reversed (amounts not its
        // own negated, or a bare setl_id): insurance is cancelled all the same when the platform's
        // records (5203) show it, and the share comes back (session 32's review: it stayed charged).
        if matches!(&refunded, Err(e) if e.code() == "bad_settlement_record") && self.platform_shows_cancelled(hospital, envelope).await {
            tracing::warn!(settlement = %settlement, "a 2208 record that does not reverse its settlement; 5203 shows it cancelled: refunded");
            let without_record = CashCancelRequest { output: Value::Null };
            refunded = self.cancel_cash_only_on(&hospital.code, &visit_id, &without_record, &request, on_the_wire).await;
        }
        // The same 2208 twice at once: the one that lost the race answers the other's refund.
        if let Err(AppError::Stale | AppError::Conflict { .. }) = refunded {
            if let Some(other) = self.settlement_once_final(Posted::Id(&settlement), RACE_WAIT).await.filter(|s| s.state == "cancelled") {
                return payment_view(NOT_REFUNDED, Ok(other));
            }
        }
        payment_view(NOT_REFUNDED, refunded)
    }

    /// The platform did not answer a 2207: it may have settled. Asked with 5203 (by mdtrt_id), never
    /// by a second 2207 with a new msgid: a settlement found is answered and paid as if its reply
    /// had come; none found is reported as the platform being unreachable, so the HIS resends its
    /// own 2207 with the same msgid.
    async fn resolve_lost_settlement(&self, hospital: &HospitalProfile, envelope: &Value, why: &str) -> NationalAnswer {
        let resend = |zh: &str, en: String| NationalAnswer::Written(national_error(zh, en));
        match self.settlement_by_5203(hospital, envelope, why).await {
            Found::Settled(answer) => answer,
            Found::Nothing => resend(
                "医保平台未应答，且查无本次结算，请用原报文ID重发",
                format!("the insurance platform did not answer and has no settlement of this visit; resend the same message ({why})"),
            ),
            Found::NoAnswer(e) => resend(
                "医保平台未应答，结算查询(5203)也未应答，请用原报文ID重发",
                format!("the insurance platform did not answer, nor its settlement query; resend the same message ({why}; 5203: {e})"),
            ),
        }
    }

    /// This 2207's settlement as the platform's record (5203) shows it, answered as its reply
    /// would have been and paid; `why` goes into the answer's `warn_msg`.
    async fn settlement_by_5203(&self, hospital: &HospitalProfile, envelope: &Value, why: &str) -> Found {
        let data = payload(envelope);
        let input = json!({"data": {"mdtrt_id": text(data, "mdtrt_id"), "psn_no": text(data, "psn_no"), "setl_id": ""}});
        let (msgid, inst) = match (self.msgid(&hospital.code).await, self.institution(&hospital.code).await) {
            (Ok(msgid), Ok(inst)) => (msgid, inst),
            (Err(e), _) | (_, Err(e)) => return Found::NoAnswer(e.to_string()),
        };
        let insuplc = text(envelope, "insuplc_admdvs");
        let output = match self.insurance.call("5203", &msgid, &inst, &insuplc, input).await {
            Ok(output) => output,
            Err(e) => return Found::NoAnswer(e.to_string()),
        };
        // A record in force (not refunded), and this 2207's own.
        let in_force = output.get("setlinfo").is_some_and(|i| text(i, "refd_setl_flag") != "1");
        if !in_force || !self.is_this_2207s(envelope, data, &output).await {
            return Found::Nothing;
        }
        // A 2207's output, as the lost reply would have been: 5203's flag is not one of its fields.
        let mut output = output;
        if let Some(Value::Object(info)) = output.get_mut("setlinfo") {
            info.remove("refd_setl_flag");
        }
        let warn = format!("the platform's reply was lost ({why}); this is its settlement record (5203)");
        let reply = json!({"infcode": 0, "err_msg": "", "warn_msg": warn, "output": output});
        Found::Settled(NationalAnswer::Written(self.with_payment(hospital, "2207", envelope, reply).await))
    }
}

/// What the platform's settlement record (5203) says of a 2207 whose answer did not come.
enum Found {
    /// Settled: the answer the HIS gets, paid.
    Settled(NationalAnswer),
    /// No settlement of this 2207's.
    Nothing,
    /// 5203 itself was not answered (why).
    NoAnswer(String),
}

impl App {
    /// Whether the settlement 5203 found (by the visit only) is the lost 2207's own: not one the hub
    /// already knows (an earlier batch's settlement of the same visit, 分批结算), and for the total the
    /// 2207 asked. Another visit's record would be answered as this 2207's success, with another
    /// settlement's id and amounts, while nothing was settled (review r25 ni F1).
    async fn is_this_2207s(&self, envelope: &Value, asked: &Value, found: &Value) -> bool {
        let info = &found["setlinfo"];
        // The record's 医药机构结算ID, when it names this 2207 (its msgid, as platforms echo it, or the
        // HIS's own id sent in it): this 2207's for certain, also when the hub answered it before.
        let named = text(info, "medins_setl_id");
        let ours = [text(envelope, "msgid"), text(asked, "medins_setl_id")];
        if !named.trim().is_empty() && ours.iter().any(|id| id.trim() == named.trim()) {
            return true;
        }
        let known = self.store.settlement_of_posted_setl_id(text(info, "setl_id").trim()).await;
        let total = |v: &Value| wugan_domain::Fen::from_json_yuan(&v["medfee_sumamt"]).ok().flatten();
        matches!(known, Ok(None)) && total(asked).is_some() && total(asked) == total(info)
    }
}

/// How long the loser of two copies of one message waits for the winner's settlement.
const RACE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A settlement another request is working on: by its id, or by the platform's setl_id it posts.
#[derive(Clone, Copy)]
pub(super) enum Posted<'a> {
    Id(&'a str),
    SetlId(&'a str),
}

/// A refund's `wugan_payment`.
pub(super) fn refund_view(result: Result<SettlementView, AppError>) -> Value {
    payment_view(NOT_REFUNDED, result)
}

/// `wugan_payment.status` when the hub could not charge a 2207's cash share, or refund a 2208's.
const NOT_CHARGED: &str = "not_charged";
const NOT_REFUNDED: &str = "not_refunded";

/// The `wugan_payment` field: what the hub did about the patient's cash share (`failed`: the
/// status when it could not).
fn payment_view(failed: &str, result: Result<SettlementView, AppError>) -> Value {
    match result {
        Ok(s) => {
            let status = match s.state {
                "settled" => "paid",
                "settled_unpaid" => "unpaid",
                "cancelled" => "refunded",
                other => other,
            };
            json!({"status": status, "settlement_id": s.id, "visit_id": s.visit_id, "bank_fen": s.bank_fen, "unpaid_fen": s.unpaid_fen})
        }
        Err(e) => json!({"status": failed, "code": e.code(), "message": e.to_string()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hubs_own_national_errors_are_chinese_first_and_fit_the_field() {
        let short = national_error("医保平台未应答", "the insurance platform did not answer");
        assert_eq!(short["err_msg"], json!("医保平台未应答 / the insurance platform did not answer"));
        let long = national_error("医保平台未应答", "error sending request for url (http://10.0.0.1/fsi/api/...) ".repeat(10));
        let words = long["err_msg"].as_str().expect("err_msg");
        assert_eq!(words.chars().count(), ERR_MSG_CHARS);
        assert!(words.starts_with("医保平台未应答 / ") && words.ends_with('…'), "{words}");
    }

    #[test]
    fn a_messages_payload_is_read_where_the_platform_reads_it() {
        let wrapped = json!({"input": {"data": {"setl_id": "S1"}}});
        let bare = json!({"input": {"setl_id": "S1"}});
        assert_eq!(text(payload(&wrapped), "setl_id"), "S1");
        assert_eq!(text(payload(&bare), "setl_id"), "S1");
        // A `data` that is no object is a field of the bare payload, as the platform reads it.
        assert_eq!(text(payload(&json!({"input": {"data": "x", "setl_id": "S1"}})), "setl_id"), "S1");
        assert!(payload(&json!({})).is_null());
        assert_eq!(text(output_data(&json!({"output": {"data": {"mdtrt_id": "M1"}}})), "mdtrt_id"), "M1");
        assert_eq!(text(output_data(&json!({"output": {"mdtrt_id": "M1"}})), "mdtrt_id"), "M1");
    }
}
