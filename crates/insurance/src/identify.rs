//! Who is calling and who is the patient: 9001 签到 (an institution signs in) and 1101 人员信息获取
//! (a person is found by e-voucher token, ID card or social security card).

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::opt_text;
use crate::lookup::not_found;
use crate::state::{SignIn, State};
use serde_json::{json, Value};

/// 9001: a sign-in serial (`sign_no`) the institution puts in its later envelopes that day. Kept,
/// so that a center strict about sign-in can check it (`InsuranceCenter::with_strict_sign_in`);
/// by default the sandbox accepts any sign_no, an empty or unknown one included.
pub fn sign_in(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let sign_no = format!("{}{}{:010}", ctx.admdvs, ctx.now.compact(), state.next_seq());
    let signed = SignIn { fixmedins_code: ctx.env.fixmedins_code.clone(), date: ctx.now.date() };
    state.sign_ins.insert(sign_no.clone(), signed);
    Ok(json!({"signinoutb": {"sign_time": ctx.now.datetime(), "sign_no": sign_no}}))
}

/// 9002: signs out `input.signOut.sign_no` (or the envelope's own sign_no); it is no longer in force.
pub fn sign_out(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let named = ctx.env.input.get("signOut").and_then(|s| opt_text(s, "sign_no"));
    let sign_no = named.unwrap_or_else(|| ctx.env.sign_no.clone());
    if !state.signed_in(&ctx.env.fixmedins_code, &sign_no, ctx.now.date()) {
        return Err(TxError::new(&format!("签到编号 {sign_no} 未签到"), format!("sign_no {sign_no} is not signed in")));
    }
    state.sign_ins.remove(&sign_no);
    Ok(json!({"signoutoutb": {"sign_time": ctx.now.datetime(), "sign_no": sign_no}}))
}

/// 1101: the person's base record, insurance (balance, type, status) and identities.
pub fn person_info(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = find_person(state, data)?;
    let account = state.accounts.get(&psn_no).ok_or_else(not_found)?;
    let p = &account.person;
    // A person never insured (no insutype) has no insurance record at all; a suspended or ended
    // one (psn_insu_stas ≠ "1") is reported with that status. Neither may settle with insurance.
    let insuinfo = if p.insutype.is_empty() {
        vec![]
    } else {
        vec![json!({
            "balc": account.balc.to_yuan_string(), "insutype": p.insutype, "psn_type": p.psn_type,
            "psn_insu_stas": p.insu_stas(), "psn_insu_date": p.psn_insu_date, "paus_insu_date": null, "cvlserv_flag": "0",
            "insuplc_admdvs": p.insuplc_admdvs, "emp_name": p.emp_name.clone().unwrap_or_default(),
        })]
    };
    Ok(json!({
        "baseinfo": {
            "psn_no": p.psn_no, "psn_cert_type": "01", "certno": p.certno, "psn_name": p.psn_name,
            "gend": p.gend, "naty": p.naty_code(), "brdy": p.brdy, "age": p.age_on(ctx.now.date()),
        },
        "insuinfo": insuinfo,
        "idetinfo": p.idet_types.iter().map(|t| json!({
            "psn_idet_type": t, "psn_type_lv": null, "memo": null, "begntime": null, "endtime": null,
        })).collect::<Vec<_>>(),
    }))
}

/// By 就诊凭证 (mdtrt_cert_type 01 e-voucher token, 02 ID card, 03 social security card) when both
/// type and number are given; otherwise by 证件 (psn_cert_type "01" or empty, + certno). Real HIS
/// send every field with "" where unknown, so empty means absent.
fn find_person(state: &State, data: &Value) -> Result<String, TxError> {
    let cert_type = opt_text(data, "mdtrt_cert_type");
    let cert_no = opt_text(data, "mdtrt_cert_no");
    let index = match (cert_type.as_deref(), cert_no) {
        (Some("01"), Some(no)) => state.by_token.get(&no),
        (Some("02"), Some(no)) => state.by_certno.get(&no),
        (Some("03"), Some(no)) => state.by_card.get(&no),
        (Some(other), Some(_)) => {
            return Err(TxError::new(&format!("不支持的就诊凭证类型 {other}"), format!("unsupported mdtrt_cert_type {other} (01, 02, 03)")))
        }
        _ => {
            let certno = opt_text(data, "certno")
                .ok_or_else(|| TxError::new("缺少就诊凭证或证件号码", "give mdtrt_cert_type + mdtrt_cert_no, or psn_cert_type + certno"))?;
            match opt_text(data, "psn_cert_type").as_deref() {
                None | Some("01") | Some("1") => state.by_certno.get(&certno),
                // The spec's own sample 1101 sends psn_cert_type "2" with a resident ID number
                // (docs/national-interface.md §1101): a number of that shape is looked up as one.
                Some(_) if is_resident_id(&certno) => state.by_certno.get(&certno),
                Some(other) => {
                    return Err(TxError::new(
                        &format!("不支持的证件类型 {other}"),
                        format!("unsupported psn_cert_type {other} (01 居民身份证)"),
                    ))
                }
            }
        }
    };
    index.cloned().ok_or_else(not_found)
}

/// A 居民身份证 number's shape: 17 digits and a digit or X (the check digit is not checked: the
/// sandbox's sample persons are made up).
fn is_resident_id(certno: &str) -> bool {
    let bytes = certno.as_bytes();
    bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x')
}
