use super::*;
use crate::insurance_client::Insurance;
use wugan_domain::settlement::cash_only::SetlType;

impl App {
    pub async fn register_visit(&self, hospital: &str, req: RegisterVisitRequest, request: &Keyed) -> Result<VisitView, AppError> {
        let idem_key = request.key.as_str();
        // The hospital's number as it means it: an HIS reading it from a fixed-width (CHAR) column
        // pads it, and the insurance center reads it trimmed (so does every lookup here).
        let mdtrt_cert_no = super::cert_no_as_read(&req.mdtrt_cert_type, &req.mdtrt_cert_no);
        let req = RegisterVisitRequest { ipt_otp_no: trimmed_id(&req.ipt_otp_no), mdtrt_cert_no, ..req };
        check_text("ipt_otp_no", &req.ipt_otp_no, 30)?;
        check_cert_type(&req.mdtrt_cert_type)?;
        check_text("mdtrt_cert_no", &req.mdtrt_cert_no, 64)?;
        if !matches!(req.med_type(), "11" | "12" | "13" | "14" | "19" | "51") {
            return Err(AppError::invalid("bad_med_type", "med_type must be an outpatient type: 11, 12, 13, 14, 19 or 51"));
        }
        super::visit_info::check_diagnoses(&req)?;
        let req = RegisterVisitRequest { begntime: national_begntime(req.begntime.as_deref())?, ..req };
        let setl_type = visit_setl_type(&req)?;
        // `fresh`: this request wrote the visit, so it has no settlement type but the one named here.
        let (row, fresh) = match self.store.visit_by_hospital_no(hospital, &req.ipt_otp_no).await? {
            // A registration whose 2201 outcome is unknown: resend it with the same msgid.
            Some(v) if v.status == VisitStatus::Registering => (v, false),
            // The same request again, whose answer was lost: the visit it registered.
            Some(v) if v.idem_key.as_deref() == Some(idem_key) => return self.visit_view(&v).await,
            Some(v) => return Err(visit_exists(&v.ipt_otp_no, &v.id)),
            // The hub's own e-voucher QR token (type 01; a patient's, or a family member's shown on
            // the signer's phone): resolved once, then the ID card stands in.
            None if req.mdtrt_cert_type == "01" && super::qr_voucher::is_hub_token(&req.mdtrt_cert_no) => {
                let voucher = self.resolve_qr(&req.mdtrt_cert_no, hospital).await?;
                let by_card = RegisterVisitRequest { mdtrt_cert_type: "02".into(), mdtrt_cert_no: voucher.certno, ..req.clone() };
                (self.new_visit(hospital, &by_card, idem_key).await?, true)
            }
            None => (self.new_visit(hospital, &req, idem_key).await?, true),
        };
        if let Some(setl_type) = setl_type {
            self.store.set_visit_setl_type(&row.id, setl_type).await?;
        }
        let own_type = match (setl_type, fresh) {
            (Some(named), _) => Some(named),
            (None, true) => None,
            (None, false) => self.store.visit_setl_type(&row.id).await?,
        };
        // The hospital's own platform registers a visit it settles itself (CASH): the hub keeps
        // its record only, and its 2207 output comes to /api/v1/cash-settlements.
        if row.is_self_pay() || self.setl_type_with(hospital, own_type).await? == SetlType::Cash {
            return self.register_self_pay(row, request).await;
        }
        let cert_no = self.config.data_key.open(&row.mdtrt_cert_no_enc)?;
        let input = json!({"data": {
            "psn_no": row.psn_no, "insutype": row.insutype, "begntime": row.begntime,
            "mdtrt_cert_type": row.mdtrt_cert_type, "mdtrt_cert_no": cert_no, "ipt_otp_no": row.ipt_otp_no,
            "atddr_no": req.atddr_no.clone().unwrap_or_default(), "dr_name": req.dr_name.clone().unwrap_or_default(),
            "dept_code": req.dept_code.clone().unwrap_or_default(), "dept_name": req.dept_name.clone().unwrap_or_default(),
            "caty": req.caty.clone().unwrap_or_default(),
        }});
        let inst = self.institution(hospital).await?;
        // A refusal is asked about (5201) before it is believed: app/registration_checks.rs.
        let mdtrt_id = self.send_registration(&inst, &row, input).await?;
        let mdtrt_id = mdtrt_id.as_str();
        // The diagnoses (2203) before the visit counts as registered: a refusal or a silence
        // leaves it being registered, and the HIS's next registration sends both again.
        self.upload_visit_info(&row, &req, mdtrt_id).await?;
        // The visit as this write leaves it: a visit being registered has no fees and no
        // settlement yet (both need a registered visit), so its view needs no read.
        let mut row = row;
        (row.mdtrt_id, row.status) = (mdtrt_id.to_string(), VisitStatus::Registered);
        let view = self.with_switch(visit_view_of(&row, &[], None)).await?;
        let answer = request.answer_for(&view)?;
        self.store.complete_registration(&row.id, mdtrt_id, answer.clone()).await?;
        request.stored(&answer);
        Ok(view)
    }

    /// A patient with no insurance in force is registered at the hub alone: the insurance center
    /// has no visit to open (2201 refuses the uninsured), and the visit has no `mdtrt_id`. So is a
    /// visit whose insurance the hospital's own platform settles (CASH).
    async fn register_self_pay(&self, mut row: VisitRow, request: &Keyed) -> Result<VisitView, AppError> {
        row.status = VisitStatus::Registered;
        let view = visit_view_of(&row, &[], None);
        let answer = request.answer_for(&view)?;
        self.store.complete_registration(&row.id, "", answer.clone()).await?;
        request.stored(&answer);
        Ok(view)
    }

    /// Identifies the patient (1101), finds their agreement, and writes the visit before 2201 is sent.
    async fn new_visit(&self, hospital: &str, req: &RegisterVisitRequest, idem_key: &str) -> Result<VisitRow, AppError> {
        let inst = self.institution(hospital).await?;
        let person = self
            .insurance
            .person_info(&self.msgid(hospital).await?, &inst, &req.mdtrt_cert_type, req.mdtrt_cert_no.trim())
            .await
            .map_err(person_error)?;
        if req.psn_no.as_deref().is_some_and(|p| p != person.psn_no) {
            return Err(AppError::invalid("person_mismatch", "psn_no is not the person this certificate identifies"));
        }
        // Their own agreement, or the one a family member signed for them (亲情付).
        let agreement = self.store.paying_agreement_for(&person.psn_no).await?.map(|(a, _)| a);
        // The insurance the HIS names; else the one they signed with; else their only one. Never
        // by position in `insuinfo`: a platform lists a person's insurances in no set order.
        let signed = agreement.as_ref().filter(|a| a.psn_no == person.psn_no).map(|a| a.insutype.clone());
        let insurance = choose_insurance(&person.insurances, req.insutype.as_deref(), signed.as_deref())?;
        // No insurance in force (1101 lists none): a self-paying visit, insutype and place empty.
        let (insutype, insuplc_admdvs) = insurance.map(|i| (i.insutype.clone(), i.insuplc_admdvs.clone())).unwrap_or_default();
        let row = VisitRow {
            id: new_id("vis"),
            hospital_code: hospital.to_string(),
            ipt_otp_no: req.ipt_otp_no.clone(),
            psn_no: person.psn_no.clone(),
            insutype,
            insuplc_admdvs,
            mdtrt_cert_type: req.mdtrt_cert_type.clone(),
            mdtrt_cert_no_enc: self.config.data_key.seal(req.mdtrt_cert_no.trim())?,
            med_type: req.med_type().to_string(),
            register_msgid: self.msgid(hospital).await?,
            begntime: req.begntime.clone().filter(|b| !b.trim().is_empty()).unwrap_or_else(|| self.china_datetime()),
            mdtrt_id: String::new(),
            agreement_id: agreement.as_ref().filter(|a| a.suspended_reason.is_none()).map(|a| a.id.clone()),
            seamless_reason: match &agreement {
                None => Some("not_signed".into()),
                Some(a) => a.suspended_reason.clone(),
            },
            status: VisitStatus::Registering,
            idem_key: Some(idem_key.to_string()),
            last_estimate: None,
            created_at: self.now(),
        };
        // The patient's standing choice for this hospital, read once (before the row, so that no
        // registered visit is ever without it).
        self.snapshot_seamless_switch(&row).await?;
        match self.store.insert_visit(&row).await {
            Ok(()) => Ok(row),
            Err(crate::store::StoreError::Conflict(_)) => {
                // Another request registered the same number meanwhile: name its visit.
                let existing = self.store.visit_by_hospital_no(hospital, &req.ipt_otp_no).await?;
                Err(visit_exists(&req.ipt_otp_no, existing.as_ref().map(|v| v.id.as_str()).unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn own_visit(&self, hospital: &str, visit_id: &str) -> Result<VisitRow, AppError> {
        match self.store.visit(visit_id).await? {
            // Another hospital's visit is answered exactly like a missing one: nothing leaks.
            Some(v) if v.hospital_code == hospital => Ok(v),
            _ => Err(visit_not_found(visit_id)),
        }
    }

    /// `own_visit` with what a fee upload and the click also read about it (`Store::visit_for_click`).
    pub(super) async fn own_visit_for_click(&self, hospital: &str, visit_id: &str) -> Result<crate::store::VisitForClick, AppError> {
        match self.store.visit_for_click(visit_id).await? {
            Some(c) if c.visit.hospital_code == hospital => Ok(c),
            _ => Err(visit_not_found(visit_id)),
        }
    }

    pub async fn visit(&self, hospital: &str, visit_id: &str) -> Result<VisitView, AppError> {
        let v = self.own_visit(hospital, visit_id).await?;
        self.visit_view(&v).await
    }

    pub(super) async fn visit_view(&self, v: &VisitRow) -> Result<VisitView, AppError> {
        let lines = self.store.fee_lines(&v.id).await?;
        let settlement = self.store.settlement_of_visit(&v.id).await?;
        let mut view = visit_view_of(v, &lines, settlement.as_ref());
        // Refunds stay the visit's after a registration cancel (退号) too.
        let refunds = match v.status {
            VisitStatus::Settled | VisitStatus::Cancelled => self.store.refunds_of_visit(&v.id).await?,
            _ => Vec::new(),
        };
        if let (Some(s), Some(click)) = (view.settlement.as_mut().filter(|s| s.state == "settled_unpaid"), &settlement) {
            // What is owed now: refunds leave a bill only for the lines kept, and a bill collected
            // from the line since is paid (the click's other figures stay as they were).
            s.unpaid_fen = super::refunds::bill_in_force_of(click, &refunds)?.0 .0;
            if let Some(b) = self.store.bill_collection(&s.id).await?.filter(|b| b.state == "collected") {
                (s.unpaid_fen, s.collected_fen) = (s.unpaid_fen - b.amount.0, b.amount.0);
            }
        }
        if let (Some(s), Some(click)) = (view.settlement.as_mut().filter(|s| s.in_force.is_some()), &settlement) {
            s.in_force = in_force(click, &refunds, (s.unpaid_fen, s.collected_fen))?;
            if s.in_force.is_none() {
                s.state = "refunded";
            }
        }
        if let Some((status, fen)) = refunded(&lines, &refunds) {
            view.refunded_fen = fen;
            if v.status == VisitStatus::Settled {
                view.status = status;
            }
        }
        // An agreement revoked since registration: the click is refused (`agreement_not_active`),
        // so the visit says it is not seamless (review r26 patient F5: it read enabled).
        if let (Some(agreement_id), None) = (&v.agreement_id, &settlement) {
            if self.store.agreement(agreement_id).await?.is_some_and(|a| a.status != AgreementStatus::Active) {
                view.seamless.enabled = false;
                view.seamless.reason = Some("revoked".into());
            }
        }
        self.with_switch(view).await
    }

    pub async fn upload_fees(
        &self,
        hospital: &str,
        visit_id: &str,
        req: FeeUploadRequest,
        request: &Keyed,
    ) -> Result<FeeUploadView, AppError> {
        // Open: registered, and no live settlement attempt (a cancelled or failed one leaves the
        // visit open for corrected fees and a new attempt). Read with the visit, in one statement.
        let read = self.own_visit_for_click(hospital, visit_id).await?;
        let live_attempt = read.has_live_settlement();
        let visit = read.visit;
        if visit.status != VisitStatus::Registered || live_attempt {
            return Err(AppError::conflict("visit_not_open", "fees can only be added to a registered visit before it is settled"));
        }
        if req.lines.is_empty() || req.lines.len() > MAX_LINES_PER_UPLOAD {
            return Err(AppError::invalid("bad_lines", format!("send 1 to {MAX_LINES_PER_UPLOAD} fee lines")));
        }
        refuse_repeated_lines(&req.lines)?;
        let china_now = self.china_datetime();
        let mut details = Vec::with_capacity(req.lines.len());
        for (i, line) in req.lines.iter().enumerate() {
            let (detail, amount) = fee_detail(line, i, &visit, &china_now)?;
            let sn = detail["feedetl_sn"].as_str().unwrap_or_default().to_string();
            details.push((sn, amount, detail));
        }
        // The answer lists the lines in the order sent.
        let sent_order: Vec<String> = details.iter().map(|(sn, _, _)| sn.clone()).collect();
        let existing = self.store.fee_lines(visit_id).await?;
        let batch = self.fee_batch(&visit, &existing, &details).await?;
        if batch.iter().all(|l| l.uploaded) {
            let lines = sent_order.iter().filter_map(|sn| batch.iter().find(|l| &l.feedetl_sn == sn)).map(FeeLineView::of).collect();
            let total: Fen = existing.iter().filter(|l| l.uploaded).map(|l| l.amount).sum();
            return Ok(FeeUploadView { visit_id: visit_id.to_string(), lines, medfee_fen: total.0 });
        }
        let inst = self.institution(hospital).await?;
        let msgid = batch[0].upload_msgid.clone();
        // The lines just written are sent as built; a batch sent before, as it was stored.
        let feedetail: Vec<Value> = match existing.iter().any(|l| l.upload_msgid == msgid) {
            false => details.into_iter().map(|(_, _, detail)| detail).collect(),
            true => batch.iter().map(|l| serde_json::from_str(&l.detail_json).unwrap_or(Value::Null)).collect(),
        };
        // A registered visit with no mdtrt_id has no visit at the insurance center: a self-paid
        // one, or one the hospital's own platform registered and settles (CASH), which uploads
        // its fees there itself. Its lines stay at the hub; a 2204 with mdtrt_id "" is refused.
        let sent = match visit.is_self_pay() || visit.mdtrt_id.is_empty() {
            true => Ok(json!({"result": []})),
            false => self.insurance.call("2204", &msgid, &inst, &visit.insuplc_admdvs, json!({"feedetail": feedetail})).await,
        };
        let output = match sent {
            Ok(output) => output,
            Err(e @ InsuranceError::Refused { .. }) => {
                self.store.delete_fee_batch(visit_id, &msgid).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let results = output.get("result").and_then(Value::as_array).cloned().unwrap_or_default();
        let by_sn: BTreeMap<String, String> =
            results.iter().filter_map(|r| Some((text_field(r.as_object()?, "feedetl_sn")?, r.to_string()))).collect();
        let marks: Vec<(String, String)> =
            batch.iter().map(|l| (l.feedetl_sn.clone(), by_sn.get(&l.feedetl_sn).cloned().unwrap_or_else(|| "{}".into()))).collect();
        let all = lines_after_upload(&existing, &batch, &marks);
        let uploaded: BTreeMap<&str, &FeeLineRow> =
            all.iter().filter(|l| l.upload_msgid == msgid).map(|l| (l.feedetl_sn.as_str(), l)).collect();
        let lines: Vec<FeeLineView> = sent_order.iter().filter_map(|sn| uploaded.get(sn.as_str()).copied()).map(FeeLineView::of).collect();
        let total: Fen = all.iter().filter(|l| l.uploaded).map(|l| l.amount).sum();
        let view = FeeUploadView { visit_id: visit_id.to_string(), lines, medfee_fen: total.0 };
        let answer = request.answer_for(&view)?;
        self.store.mark_fee_lines_uploaded(visit_id, &marks, answer.clone()).await?;
        request.stored(&answer);
        Ok(view)
    }

    /// The batch to send: the lines just written, or — when an earlier upload of exactly these lines
    /// ended with an unknown outcome — that batch again, with its request id; or, when these very
    /// lines are on record and taken, those (all `uploaded`: nothing to send).
    async fn fee_batch(
        &self,
        visit: &VisitRow,
        existing: &[FeeLineRow],
        details: &[(String, Fen, Value)],
    ) -> Result<Vec<FeeLineRow>, AppError> {
        let pending: Vec<&FeeLineRow> = existing.iter().filter(|l| !l.uploaded).collect();
        // A line already on the visit under a number sent again is the same line only if it is the
        // same item at the same price, count and batch: a corrected line under an old number is a
        // new line, never taken for the old one's retry (it would be answered 200 and dropped).
        let on_record = |sn: &str, detail: &Value, uploaded: bool| {
            existing.iter().any(|l| l.feedetl_sn == sn && l.uploaded == uploaded && same_item(&l.detail_json, detail))
        };
        if !pending.is_empty() {
            let same = pending.len() == details.len() && details.iter().all(|(sn, _, detail)| on_record(sn, detail, false));
            if same {
                return Ok(pending.into_iter().cloned().collect());
            }
            return Err(AppError::conflict(
                "upload_in_progress",
                "an earlier fee upload has not completed; resend exactly those lines first",
            ));
        }
        // The same lines again, whose answer was lost: on record and taken, they are answered as
        // they stand (the caller sends nothing: resending a part of an upload under its msgid
        // would be another message to the center).
        if details.iter().all(|(sn, _, detail)| on_record(sn, detail, true)) {
            return Ok(existing.iter().filter(|l| details.iter().any(|(sn, _, _)| sn == &l.feedetl_sn)).cloned().collect());
        }
        if let Some((sn, _, _)) = details.iter().find(|(sn, _, _)| existing.iter().any(|l| &l.feedetl_sn == sn)) {
            return Err(AppError::conflict("duplicate_fee_line", format!("fee line {sn} is already on this visit")));
        }
        let msgid = self.msgid(&visit.hospital_code).await?;
        let rows: Vec<FeeLineRow> = details
            .iter()
            .map(|(sn, amount, detail)| FeeLineRow {
                chrg_bchno: detail["chrg_bchno"].as_str().unwrap_or("1").to_string(),
                feedetl_sn: sn.clone(),
                amount: *amount,
                upload_msgid: msgid.clone(),
                uploaded: false,
                detail_json: detail.to_string(),
                result_json: None,
            })
            .collect();
        match self.store.insert_fee_lines(&visit.id, &rows).await {
            Ok(()) => Ok(rows),
            Err(crate::store::StoreError::Conflict(m)) => Err(AppError::conflict("duplicate_fee_line", m)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Another hospital's visit is answered exactly like a missing one: nothing leaks.
fn visit_not_found(visit_id: &str) -> AppError {
    AppError::not_found("visit_not_found", format!("no visit {visit_id} at this hospital"))
}

/// The basic insurances (基本医疗保险): 310 employees', 390 residents', 340 离休人员医疗保障. A person
/// holds one of them; the others the center lists beside it (320 公务员医疗补助, 330 大额医疗费用补助
/// …) it settles within the basic one's 2207, never on their own.
const BASIC_INSUTYPES: [&str; 3] = ["310", "390", "340"];

/// The insurance a visit, a stay or a sign-up settles under (issue 15): the one the HIS names
/// (held, or refused), else the one the patient signed with when held, else the person's only
/// one, else their one basic insurance among supplements; several basic ones and no choice is
/// refused rather than guessed (never by position: a platform lists them in no set order). None
/// held (no insurance in force): `None`, a self-paid visit.
pub(super) fn choose_insurance<'a>(
    held: &'a [Insurance],
    named: Option<&str>,
    signed: Option<&str>,
) -> Result<Option<&'a Insurance>, AppError> {
    let find = |t: &str| held.iter().find(|i| i.insutype == t);
    if let Some(t) = named {
        return find(t)
            .map(Some)
            .ok_or_else(|| AppError::invalid("insutype_not_held", format!("the insurance center has no insurance {t} for this person")));
    }
    if let Some(found) = signed.and_then(find) {
        return Ok(Some(found));
    }
    let basic: Vec<&Insurance> = held.iter().filter(|i| BASIC_INSUTYPES.contains(&i.insutype.as_str())).collect();
    match held {
        [] => Ok(None),
        [only] => Ok(Some(only)),
        _ if basic.len() == 1 => Ok(Some(basic[0])),
        several => {
            let types: Vec<&str> = several.iter().map(|i| i.insutype.as_str()).collect();
            Err(AppError::invalid(
                "insutype_not_held",
                format!("this person holds several insurances ({}): name the one to settle under (insutype)", types.join(", ")),
            ))
        }
    }
}

/// The visit's start (`begntime`) as the national interface writes it; `None` when the HIS sent
/// none (the hub's clock then says when).
fn national_begntime(sent: Option<&str>) -> Result<Option<String>, AppError> {
    match sent.map(str::trim).filter(|b| !b.is_empty()) {
        None => Ok(None),
        Some(b) => crate::clock::national_datetime(b).map(Some).ok_or_else(|| bad_datetime("begntime", b)),
    }
}

/// A line named twice in one upload (a visit's or a stay's) is refused before the upload is
/// compared with the record: no upload the hub took named a line twice, so such an upload is never
/// the same lines sent again. Lines whose number cannot be read are left to the line's own checks.
pub(super) fn refuse_repeated_lines(lines: &[Map<String, Value>]) -> Result<(), AppError> {
    let mut seen = HashSet::new();
    let number = |line: &Map<String, Value>| fee_line_number(line.get("feedetl_sn")?).ok().flatten();
    match lines.iter().filter_map(number).find(|sn| !seen.insert(sn.clone())) {
        Some(sn) => Err(AppError::invalid("duplicate_fee_line", format!("fee line {sn} appears twice in this upload"))),
        None => Ok(()),
    }
}

/// The text fields of a fee line the hub reads or defaults: they go to the insurance center as
/// sent, so only text passes (a visit's lines and a stay's alike).
pub(super) fn text_fields_are_text(line: &Map<String, Value>, i: usize) -> Result<(), AppError> {
    match ["medins_list_codg", "chrg_bchno", "fee_ocur_time"]
        .into_iter()
        .find(|field| !matches!(line.get(*field), None | Some(Value::Null) | Some(Value::String(_))))
    {
        Some(field) => Err(AppError::invalid("invalid_request", format!("lines[{i}].{field} must be a string"))),
        None => Ok(()),
    }
}

/// Checks one HIS fee line and turns it into a 2204 `feedetail` entry; returns it with its amount.
fn fee_detail(line: &Map<String, Value>, i: usize, visit: &VisitRow, china_now: &str) -> Result<(Value, Fen), AppError> {
    let sn = fee_line_number(line.get("feedetl_sn").unwrap_or(&Value::Null))
        .map_err(|why| AppError::invalid("invalid_request", format!("lines[{i}].feedetl_sn: {why}")))?
        .ok_or_else(|| AppError::invalid("missing_field", format!("lines[{i}].feedetl_sn is required")))?;
    check_text(&format!("lines[{i}].feedetl_sn"), &sn, 30)?;
    let code = text_field(line, "med_list_codg")
        .ok_or_else(|| AppError::invalid("missing_field", format!("lines[{i}].med_list_codg is required")))?;
    text_fields_are_text(line, i)?;
    let amount = yuan_field(line, "det_item_fee_sumamt", i)?;
    let cnt = scaled_field(line, "cnt", 4, i)?;
    let pric = scaled_field(line, "pric", 6, i)?;
    if !amount.is_positive() || amount > MAX_LINE_FEN || cnt <= 0 || pric <= 0 {
        return Err(AppError::invalid(
            "bad_amount",
            format!("lines[{i}]: amount, count and price must be positive and at most 1,000,000 yuan"),
        ));
    }
    let product = wugan_domain::money::price_times_quantity(pric, cnt);
    if (product - amount).0.abs() > 1 {
        return Err(AppError::invalid(
            "amount_mismatch",
            format!(
                "lines[{i}]: det_item_fee_sumamt {} is not pric × cnt ({} × {} = {}, to the fen)",
                amount.to_yuan_string(),
                wugan_domain::money::format_scaled(pric, 6),
                wugan_domain::money::format_scaled(cnt, 4),
                // Beyond what i64 fen holds, the product is clamped: say so rather than show it.
                if product.0 == i64::MAX { "more than any line's amount".into() } else { product.to_yuan_string() }
            ),
        ));
    }
    let mut detail = line.clone();
    detail.insert("feedetl_sn".into(), json!(sn));
    detail.insert("med_list_codg".into(), json!(code));
    detail.insert("mdtrt_id".into(), json!(visit.mdtrt_id));
    detail.insert("psn_no".into(), json!(visit.psn_no));
    detail.insert("det_item_fee_sumamt".into(), json!(amount.to_yuan_string()));
    detail.insert("cnt".into(), json!(wugan_domain::money::format_scaled(cnt, 4)));
    detail.insert("pric".into(), json!(wugan_domain::money::format_scaled(pric, 6)));
    // The batch without the white space a fixed-width column pads it with, as the withdrawal
    // (2205) names it: a padded batch could not be withdrawn by name.
    detail.insert("chrg_bchno".into(), json!(text_field(line, "chrg_bchno").unwrap_or_else(|| "1".into())));
    national_time_field(&mut detail, "fee_ocur_time", i, china_now)?;
    Ok((Value::Object(detail), amount))
}

/// A fee line's time as the national interface writes it (`clock::national_datetime`), or `now`
/// when the HIS sent none; `bad_datetime` for a time in another shape.
pub(super) fn national_time_field(detail: &mut Map<String, Value>, field: &str, i: usize, now: &str) -> Result<(), AppError> {
    let written = match text_field(detail, field) {
        None => now.to_string(),
        Some(sent) => crate::clock::national_datetime(&sent).ok_or_else(|| bad_datetime(&format!("lines[{i}].{field}"), &sent))?,
    };
    // A fee is charged when it happened, not in the future: a day's grace for an HIS whose clock
    // is off, none for a mistyped year (the platform would settle a fee dated 2030).
    if crate::clock::day_after(now).is_some_and(|latest| written > latest) {
        return Err(AppError::invalid(
            "bad_datetime",
            format!("lines[{i}].{field} '{written}' is more than a day after now ({now}): a fee is charged when it happened"),
        ));
    }
    detail.insert(field.into(), json!(written));
    Ok(())
}

/// A time the HIS sent in a shape neither the national interface nor ISO 8601 gives.
pub(super) fn bad_datetime(field: &str, sent: &str) -> AppError {
    AppError::invalid(
        "bad_datetime",
        format!("{field} '{sent}' is not a time: send yyyy-MM-dd HH:mm:ss (China time) or ISO 8601 with its offset"),
    )
}

/// Parses a yuan amount as HIS systems send it (number or string) into fen.
pub(super) fn yuan_field(line: &Map<String, Value>, field: &str, index: usize) -> Result<Fen, AppError> {
    let raw = line.get(field).unwrap_or(&Value::Null);
    match Fen::from_json_yuan(raw) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(AppError::invalid("missing_field", format!("lines[{index}].{field} is required"))),
        Err(e) => Err(AppError::invalid("bad_amount", format!("lines[{index}].{field}: {e}"))),
    }
}

pub(super) fn scaled_field(line: &Map<String, Value>, field: &str, scale: u32, index: usize) -> Result<i64, AppError> {
    let raw = line.get(field).unwrap_or(&Value::Null);
    match wugan_domain::money::scaled_from_json(raw, scale) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(AppError::invalid("missing_field", format!("lines[{index}].{field} is required"))),
        Err(e) => Err(AppError::invalid("bad_amount", format!("lines[{index}].{field}: {e}"))),
    }
}

/// An identifier as the hospital means it (门诊号, a fee line's number): without the white space
/// around it that a fixed-width (CHAR) column pads it with, as the insurance center reads it.
pub(crate) fn trimmed_id(sent: &str) -> String {
    sent.trim().to_string()
}

/// A fee line's number (`feedetl_sn`) as its text, however the HIS wrote it: a string without the
/// white space around it, or a whole JSON number as its integer digits (`13`, `13.0` and `1.3e1`
/// are all "13"). A number with a fraction, or too large to be read exactly, is refused (the
/// why); absent, null or blank is `None`.
pub(crate) fn fee_line_number(sent: &Value) -> Result<Option<String>, String> {
    /// Whole numbers beyond 2^53 are not read exactly from a JSON number.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match sent {
        Value::String(s) if !s.trim().is_empty() => Ok(Some(trimmed_id(s))),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Ok(Some(format!("{}", f as i64))),
            Some(f) if f.fract() == 0.0 => Err(format!("{n} is too large to be read exactly as a number: send it as text")),
            _ => Err(format!("{n} is not a whole number: a fee line's number is text or a whole number")),
        },
        Value::Null | Value::String(_) => Ok(None),
        other => Err(format!("{other} is neither text nor a whole number")),
    }
}

/// [`fee_line_number`] for serde: a refund's list of fee line numbers, text or whole numbers.
pub(crate) fn fee_line_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let sent = Vec::<Value>::deserialize(d)?;
    sent.iter()
        .enumerate()
        .map(|(i, v)| match fee_line_number(v) {
            Ok(Some(sn)) => Ok(sn),
            Ok(None) => Err(serde::de::Error::custom(format!("lines[{i}] is blank: name a fee line by its feedetl_sn"))),
            Err(why) => Err(serde::de::Error::custom(format!("lines[{i}]: {why}"))),
        })
        .collect()
}

pub(super) fn text_field(line: &Map<String, Value>, field: &str) -> Option<String> {
    match line.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a line on record (its stored detail) and a line sent are the same item: the catalogue
/// item, the price, count and amount, and the batch. A line's other fields (its doctor, its
/// department, when it happened) do not make it another charge.
pub(super) fn same_item(stored: &str, sent: &Value) -> bool {
    let (Ok(Value::Object(stored)), Some(sent)) = (serde_json::from_str::<Value>(stored), sent.as_object()) else { return false };
    let text = |line: &Map<String, Value>, field| text_field(line, field);
    let scaled = |line: &Map<String, Value>, field, scale| scaled_field(line, field, scale, 0).ok();
    ["med_list_codg", "medins_list_codg", "chrg_bchno"].iter().all(|f| text(&stored, f) == text(sent, f))
        && scaled(&stored, "pric", 6) == scaled(sent, "pric", 6)
        && scaled(&stored, "cnt", 4) == scaled(sent, "cnt", 4)
        && yuan_field(&stored, "det_item_fee_sumamt", 0).ok() == yuan_field(sent, "det_item_fee_sumamt", 0).ok()
}

/// The visit's open fee lines once `batch` is marked uploaded with `marks` (the insurance center's
/// result per line), in the store's order (by line number): what a read after the write returns.
fn lines_after_upload(existing: &[FeeLineRow], batch: &[FeeLineRow], marks: &[(String, String)]) -> Vec<FeeLineRow> {
    let results: BTreeMap<&str, &str> = marks.iter().map(|(sn, r)| (sn.as_str(), r.as_str())).collect();
    let mut lines: BTreeMap<String, FeeLineRow> = existing.iter().map(|l| (l.feedetl_sn.clone(), l.clone())).collect();
    for line in batch {
        lines.insert(line.feedetl_sn.clone(), line.clone());
    }
    for line in lines.values_mut() {
        if let Some(result) = results.get(line.feedetl_sn.as_str()) {
            (line.uploaded, line.result_json) = (true, Some(result.to_string()));
        }
    }
    lines.into_values().collect()
}

/// A visit's view from its row, its fee lines (the uploaded ones count) and its latest settlement.
fn visit_view_of(v: &VisitRow, lines: &[FeeLineRow], settlement: Option<&SettlementRow>) -> VisitView {
    let uploaded: Vec<&FeeLineRow> = lines.iter().filter(|l| l.uploaded).collect();
    let medfee: Fen = uploaded.iter().map(|l| l.amount).sum();
    VisitView {
        id: v.id.clone(),
        ipt_otp_no: v.ipt_otp_no.clone(),
        hospital_code: v.hospital_code.clone(),
        psn_no: v.psn_no.clone(),
        insutype: v.insutype.clone(),
        med_type: v.med_type.clone(),
        mdtrt_id: v.mdtrt_id.clone(),
        status: v.status.as_str(),
        seamless: VisitSeamlessView {
            enabled: v.agreement_id.is_some(),
            agreement_id: v.agreement_id.clone(),
            reason: v.seamless_reason.clone(),
        },
        fee_lines: uploaded.len(),
        medfee_fen: medfee.0,
        settlement: settlement.map(SettlementView::of),
        refunded_fen: 0,
        created_at: v.created_at.clone(),
    }
}

/// The click's settlement in force after its finished refunds (oldest first): the last one's
/// re-settlement, with what the capture still pays; `None` once one gave every line back.
/// `bill`: what is owed now and what was collected, as the visit's view reads them.
fn in_force(
    click: &SettlementRow,
    refunds: &[crate::store::RefundRow],
    (owed_fen, collected_fen): (i64, i64),
) -> Result<Option<SettlementInForceView>, AppError> {
    let mut last = None;
    for r in refunds.iter().filter(|r| r.settlement_id == click.id) {
        if let wugan_domain::refund::RefundStage::Refunded(done) = super::refunds::stage_of(r)? {
            last = Some((r.id.clone(), done));
        }
    }
    let Some((refund_id, done)) = last else {
        return Ok(SettlementView::of(click).in_force.map(|f| SettlementInForceView { unpaid_fen: owed_fen, collected_fen, ..f }));
    };
    let Some(again) = done.resettled else { return Ok(None) };
    let bank = done.original.captured - done.bank_refund;
    let billed = click.state == SettlementState::SettledUnpaid;
    Ok(Some(SettlementInForceView {
        refund_id: Some(refund_id),
        setl_id: Some(again.setl_id).filter(|id| !id.is_empty()),
        medfee_fen: again.split.medfee.0,
        fund_fen: again.split.fund.0,
        personal_account_fen: again.split.personal_account.0,
        cash_fen: again.split.cash.0,
        hospital_part_fen: again.split.hospital_part.0,
        bank_fen: bank.0,
        unpaid_fen: if billed { owed_fen } else { 0 },
        collected_fen: if billed { collected_fen } else { 0 },
        cash_at_hospital_fen: if click.cash_at_hospital { (again.split.cash - bank).0 } else { 0 },
    }))
}

/// What a settled visit's finished refunds gave back: its status (`refunded` once a refund left no
/// line in force; the stored status stays `settled`, the click's) and the fen of the lines
/// returned. `None` when nothing was refunded.
fn refunded(lines: &[FeeLineRow], refunds: &[crate::store::RefundRow]) -> Option<(&'static str, i64)> {
    let finished: Vec<_> = refunds.iter().filter(|r| r.state == "refunded").collect();
    let returned: std::collections::BTreeSet<&str> = finished.iter().flat_map(|r| r.lines.iter().map(String::as_str)).collect();
    if returned.is_empty() {
        return None;
    }
    let fen: Fen = lines.iter().filter(|l| returned.contains(l.feedetl_sn.as_str())).map(|l| l.amount).sum();
    let whole = finished.iter().any(|r| r.remaining.is_empty());
    Some((if whole { "refunded" } else { "settled" }, fen.0))
}

/// The settlement type the registration names for its visit, if it names one: ALL (the hub
/// settles insurance and charges the cash share), CASH (the hospital's platform settles
/// insurance, the hub charges the cash share) or HI (the hub settles insurance, the hospital
/// collects the cash share itself: app/settlement.rs fixes it on the attempt).
fn visit_setl_type(req: &RegisterVisitRequest) -> Result<Option<SetlType>, AppError> {
    let Some(named) = req.setl_type.as_deref() else { return Ok(None) };
    SetlType::parse(named).map(Some).ok_or_else(|| {
        AppError::invalid(
            "bad_setl_type",
            "setl_type is ALL (the hub settles insurance and charges the cash share), CASH (the hospital's platform settles \
             insurance) or HI (the hub settles insurance, the hospital collects the cash share itself)",
        )
    })
}

/// `visit_exists`, naming the visit already registered under the hospital's number.
fn visit_exists(ipt_otp_no: &str, visit_id: &str) -> AppError {
    AppError::Exists {
        code: "visit_exists",
        message: format!("visit {ipt_otp_no} is already registered as {visit_id}"),
        field: "visit_id",
        id: visit_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fee_dated_more_than_a_day_ahead_is_refused() {
        let now = "2026-12-02 10:00:00";
        let line = |time: &str| serde_json::json!({"fee_ocur_time": time}).as_object().cloned().unwrap();
        for (sent, ok) in
            [("2026-12-02 09:00:00", true), ("2026-12-03 09:59:59", true), ("2026-12-03 10:00:01", false), ("2030-12-02 09:00:00", false)]
        {
            let mut detail = line(sent);
            let taken = super::national_time_field(&mut detail, "fee_ocur_time", 0, now);
            assert_eq!(taken.as_ref().map(|_| ()).map_err(|e| e.code()), if ok { Ok(()) } else { Err("bad_datetime") }, "{sent}");
        }
        let mut unsent = serde_json::Map::new();
        assert!(super::national_time_field(&mut unsent, "fee_ocur_time", 0, now).is_ok());
        assert_eq!(unsent["fee_ocur_time"], now, "a line without its time is dated now");
    }

    use super::*;

    #[test]
    fn a_fee_line_number_is_read_as_the_hospital_means_it_however_its_json_writes_it() {
        let read = |sent: Value| fee_line_number(&sent).map_err(|why| why.contains("whole number") || why.contains("as text"));
        for (sent, number) in [
            (json!("13"), "13"),
            (json!("  13 "), "13"),
            (json!("A-7"), "A-7"),
            (json!(13), "13"),
            (json!(13.0), "13"),
            (json!(1e1), "10"),
            (json!(-2), "-2"),
            (json!(18446744073709551615u64), "18446744073709551615"),
        ] {
            assert_eq!(read(sent.clone()), Ok(Some(number.to_string())), "{sent}");
        }
        for blank in [json!(""), json!("   "), Value::Null] {
            assert_eq!(read(blank.clone()), Ok(None), "{blank}");
        }
        for refused in [json!(13.5), json!(1e300), json!(0.1)] {
            assert_eq!(read(refused.clone()), Err(true), "{refused}: said why");
        }
        assert!(fee_line_number(&json!(true)).is_err() && fee_line_number(&json!([1])).is_err());
        assert_eq!(trimmed_id(" MZ5001   "), "MZ5001");
    }

    #[test]
    fn the_insurance_is_chosen_by_type_never_by_position() {
        let held = |types: &[&str]| -> Vec<Insurance> {
            types
                .iter()
                .map(|t| Insurance { insutype: t.to_string(), psn_type: "11".into(), insuplc_admdvs: "440300".into(), balc: Fen(0) })
                .collect()
        };
        let chosen = |types: &[&str], named: Option<&str>, signed: Option<&str>| {
            choose_insurance(&held(types), named, signed).map(|i| i.map(|i| i.insutype.clone()).unwrap_or_default()).map_err(|e| e.code())
        };
        assert_eq!(chosen(&["390", "310"], Some("310"), None), Ok("310".into()));
        assert_eq!(chosen(&["390", "310"], Some("320"), None), Err("insutype_not_held"));
        assert_eq!(chosen(&["390", "310"], None, Some("310")), Ok("310".into()), "the signed one, wherever it is listed");
        assert_eq!(chosen(&["390"], None, Some("310")), Ok("390".into()), "the only one held");
        assert_eq!(chosen(&["390", "310"], None, Some("320")), Err("insutype_not_held"), "several and no choice: not the first");
        assert_eq!(chosen(&[], None, None), Ok(String::new()), "none held: a self-paid visit");
        // Supplements are settled within the basic insurance's 2207: the basic one, wherever listed.
        assert_eq!(chosen(&["330", "310", "320"], None, None), Ok("310".into()), "the basic one among supplements");
        assert_eq!(chosen(&["330", "390"], None, Some("330")), Ok("330".into()), "the signed one still comes first");
        assert_eq!(chosen(&["330", "320"], None, None), Err("insutype_not_held"), "supplements alone: no guess");
    }
}

#[cfg(test)]
mod same_item_tests {
    use super::same_item;
    use serde_json::json;

    #[test]
    fn a_line_is_the_same_item_by_what_it_charges_not_by_how_it_is_written() {
        let stored = json!({"feedetl_sn": "1", "med_list_codg": "001102000010000", "pric": "25.000000", "cnt": "1.0000",
            "det_item_fee_sumamt": "25.00", "chrg_bchno": "B1", "fee_ocur_time": "2026-12-01 09:00:00"})
        .to_string();
        let resent = json!({"feedetl_sn": 1, "med_list_codg": "001102000010000 ", "pric": 25, "cnt": "1",
            "det_item_fee_sumamt": "25.0", "chrg_bchno": "B1  ", "fee_ocur_time": "2026-12-01 10:00:00", "bilg_dr_name": "李"});
        assert!(same_item(&stored, &resent), "another time or doctor is the same charge");
        let drug = json!({"feedetl_sn": "1", "med_list_codg": "XL04AXL150E001010100136", "pric": "12.50", "cnt": "2",
            "det_item_fee_sumamt": "25.00", "chrg_bchno": "B1"});
        assert!(!same_item(&stored, &drug), "another item of the same total is another line (review r25 F1)");
        let other_batch =
            json!({"med_list_codg": "001102000010000", "pric": "25", "cnt": "1", "det_item_fee_sumamt": "25", "chrg_bchno": "B2"});
        assert!(!same_item(&stored, &other_batch));
        assert!(!same_item("not json", &resent));
    }
}
