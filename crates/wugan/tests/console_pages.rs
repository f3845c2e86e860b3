//! The hospital staff console's pages as staff read them (review 19): who the patient is (masked),
//! the fee lines by name, every action that moves money asking first with the patient and the
//! amount, the refunds and the figures in force, the admission whose deposit could not be held
//! said in words, the statement's rows by visit or stay number, each role's own home, and the
//! ward's undoings: the latest interim settlement cancelled, shown cancelled, and unsettled fee
//! lines withdrawn.

use serde_json::{json, Value};
use wugan::his::{fee_line, HisClient};
use wugan::system::{self, System};
use wugan_hub::app::staff::{NewStaffRequest, StaffRole};

mod common;

const CERTNO: &str = "440301199001011234";
const PASSWORD: &str = "a long staff password";

struct World {
    sys: System,
    http: reqwest::Client,
    _dir: common::TempDir,
}

struct Session {
    cookie: String,
    csrf: String,
}

async fn world() -> World {
    let (opts, dir) = common::fresh_options("console-pages").await;
    let sys = system::start(&opts).await.expect("system starts");
    let operator = HisClient::new(&sys.hub_url, &sys.credentials.operator_api_key);
    let signed = operator.sign_up("02", CERTNO, true, json!({"method": "credit_line", "bank_code": "BANK01"})).await.unwrap();
    assert!(signed.ok(), "{signed:?}");
    World { sys, http: reqwest::Client::new(), _dir: dir }
}

impl World {
    /// A staff member of the hospital, signed in.
    async fn session(&self, login: &str, role: StaffRole) -> Session {
        self.session_at(login, role, Some(self.sys.credentials.hospitals[0].code.clone())).await
    }

    async fn session_at(&self, login: &str, role: StaffRole, hospital_code: Option<String>) -> Session {
        let request = NewStaffRequest {
            login: login.into(),
            display_name: format!("{login} 同志"),
            role: role.as_str().into(),
            hospital_code,
            bank_code: None,
            password: PASSWORD.into(),
            totp: false,
        };
        self.sys.app.add_staff(request).await.expect("a staff account is added");
        let response = self
            .http
            .post(format!("{}/api/v1/staff/sessions", self.sys.hub_url))
            .body(json!({"login": login, "password": PASSWORD}).to_string())
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_string() }
    }

    async fn page(&self, s: &Session, path: &str) -> String {
        let response = self.http.get(format!("{}{path}", self.sys.hub_url)).header("cookie", &s.cookie).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.text().await.unwrap()
    }

    async fn post(&self, s: &Session, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sys.hub_url))
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    fn hospital_name(&self) -> String {
        self.sys.credentials.hospitals[0].name.clone()
    }
}

/// The attribute `data-confirm` of the form `id`, as the page has it.
fn confirm_of(html: &str, id: &str) -> String {
    let form = html.split(&format!("<form id=\"{id}\"")).nth(1).unwrap_or_else(|| panic!("no form {id}: {html}"));
    let tag = form.split('>').next().unwrap();
    tag.split("data-confirm=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("form {id} asks nothing: {tag}"))
        .to_string()
}

#[tokio::test]
async fn a_visit_names_its_patient_lists_its_lines_asks_before_money_moves_and_shows_its_refunds() {
    let w = world().await;
    let cashier = w.session("cash1", StaffRole::Cashier).await;
    let visit =
        w.post(&cashier, "/api/v1/visits", json!({"ipt_otp_no": "MZ-PAGES-1", "mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO})).await;
    let id = visit["id"].as_str().expect("registered").to_string();
    let lines = json!({"lines": [fee_line("P1", "001102000010000", "25.00", "2", "50.00"), fee_line("P2", "250101001000000", "20.00", "1", "20.00")]});
    w.post(&cashier, &format!("/api/v1/visits/{id}/fees"), lines).await;

    let html = w.page(&cashier, &format!("/console/visits/{id}")).await;
    // The patient masked, with sex and age from the ID number; never the number or the whole name.
    assert!(html.contains(r#"id="visit-patient">张* · 男 · "#), "{html}");
    assert!(!html.contains(CERTNO) && !html.contains("张三"), "{html}");
    // The lines by item name, in the page's language only, and the click asks with the amount.
    assert!(html.contains("<th scope=\"row\">普通门诊诊查费</th><td class=\"num\">¥25.00 × 2</td><td class=\"num\">¥50.00</td>"), "{html}");
    assert!(!html.contains("general outpatient consultation"), "{html}");
    let asked = confirm_of(&html, "settle");
    assert!(asked.starts_with("确认为 张* · 男 · ") && asked.contains("医疗费用 ¥70.00"), "{asked}");
    assert!(html.contains(r#"data-set="25.00""#), "each item carries its price: {html}");

    let settled = w.post(&cashier, &format!("/api/v1/visits/{id}/settlement"), json!({})).await;
    assert_eq!(settled["state"], "settled", "{settled}");
    let html = w.page(&cashier, &format!("/console/visits/{id}")).await;
    assert!(confirm_of(&html, "cancel").contains("医疗费用 ¥70.00"), "{html}");
    assert!(confirm_of(&html, "refund").starts_with("确认为 张* "), "{html}");
    assert!(html.contains("血细胞分析 × 1 · ¥20.00") && !html.contains(">P2 · "), "refunds are chosen by item: {html}");

    // A partial refund: the page shows it, the figures in force, and says the amount.
    let refund = w.post(&cashier, &format!("/api/v1/visits/{id}/refunds"), json!({"lines": ["P2"]})).await;
    assert_eq!(refund["state"], "refunded", "{refund}");
    let refund_id = refund["id"].as_str().unwrap();
    let html = w.page(&cashier, &format!("/console/visits/{id}?refund={refund_id}")).await;
    assert!(html.contains(r#"id="visit-refunded">¥20.00<"#) && html.contains(r#"id="in-force-medfee">¥50.00<"#), "{html}");
    assert!(html.contains("id=\"refund-done\"") && html.contains("退回项目的费用 ¥20.00"), "{html}");
    let refunds = html.split("id=\"refunds\"").nth(1).expect("the refunds table");
    assert!(refunds.contains("血细胞分析") && refunds.contains("20.00"), "{refunds}");

    // The doctor, who cannot cancel, sees no empty card of actions after the click.
    let doctor = w.session("doc1", StaffRole::Doctor).await;
    let html = w.page(&doctor, &format!("/console/visits/{id}")).await;
    assert!(!html.contains("id=\"actions-title\"") && html.contains("id=\"settlement-title\""), "{html}");

    // The lists say what stands after the refund, marked, not the click's ¥70.00 (review: the
    // console's and the operator's lists kept the original total).
    let operator = w.session_at("ops-lists", StaffRole::Operator, None).await;
    let row_of = |html: &str| -> String {
        let after = html
            .split(&format!("href=\"/console/visits/{id}\""))
            .nth(1)
            .or_else(|| html.split(&format!("href=\"/ops/visits/{id}\"")).nth(1));
        after.and_then(|rest| rest.split("</tr>").next()).unwrap_or_else(|| panic!("no row of the visit: {html}")).to_string()
    };
    for html in [w.page(&cashier, "/console/").await, w.page(&operator, "/ops/visits").await] {
        let row = row_of(&html);
        assert!(row.contains("¥50.00") && row.contains("部分退费 −¥20.00") && !row.contains("¥70.00"), "{row}");
    }
    let rest = w.post(&cashier, &format!("/api/v1/visits/{id}/refunds"), json!({"lines": ["P1"]})).await;
    assert_eq!(rest["state"], "refunded", "{rest}");
    for html in [w.page(&cashier, "/console/?lang=en").await, w.page(&operator, "/ops/visits?lang=en").await] {
        let row = row_of(&html);
        assert!(row.contains("¥0.00") && row.contains("Refunded in full −¥70.00"), "{row}");
    }
}

#[tokio::test]
async fn a_deposit_the_line_cannot_hold_is_said_in_words_and_a_settled_stay_is_on_the_statement_by_its_number() {
    let w = world().await;
    let cashier = w.session("cash1", StaffRole::Cashier).await;
    // 90,000 yuan: far above the patient's line. Admitted, nothing held.
    let admit = json!({"ipt_no": "ZY-PAGES-1", "mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO, "deposit_fen": 9_000_000});
    let stay = w.post(&cashier, "/api/v1/stays", admit).await;
    let id = stay["id"].as_str().unwrap_or_else(|| panic!("{stay}")).to_string();
    assert_eq!(stay["held_fen"], 0, "{stay}");
    let html = w.page(&cashier, &format!("/console/stays/{id}")).await;
    let short = html.split("id=\"deposit-short\">").nth(1).and_then(|t| t.split('<').next()).unwrap_or_else(|| panic!("{html}"));
    assert!(short.starts_with("已入院，但押金未冻结") && short.contains("补交押金"), "{short}");
    assert!(!short.contains("insufficient") && !short.contains('('), "no bank code: {short}");
    assert!(html.contains(r#"id="stay-patient">张* · 男 · "#) && !html.contains(CERTNO), "{html}");
    assert!(confirm_of(&html, "stay-deposit").contains("张*"), "{html}");
    assert!(confirm_of(&html, "cancel-admission").contains("张*"), "{html}");
    let list = w.page(&cashier, "/console/stays").await;
    assert!(list.contains("<td class=\"patient\">张* · 男 · "), "{list}");

    // A fresh deposit the line holds, a day's fee, and the bedside click: on the day's statement
    // the row is the stay's number and leads to the ward's page.
    let held = w.post(&cashier, &format!("/api/v1/stays/{id}/deposit"), json!({"deposit_fen": 30_000})).await;
    assert_eq!(held["held_fen"], 30_000, "{held}");
    let fees = json!({"lines": [fee_line("W1", "001102000010000", "25.00", "2", "50.00")]});
    w.post(&cashier, &format!("/api/v1/stays/{id}/fees"), fees).await;
    let html = w.page(&cashier, &format!("/console/stays/{id}")).await;
    assert!(confirm_of(&html, "discharge").contains("住院费用 ¥50.00"), "{html}");
    let settled = w.post(&cashier, &format!("/api/v1/stays/{id}/discharge"), json!({})).await;
    assert_eq!(settled["state"], "settled", "{settled}");
    let statement = w.page(&cashier, "/console/statement").await;
    assert!(statement.contains(&format!("<a href=\"/console/stays/{id}\">ZY-PAGES-1</a>")), "{statement}");
    assert!(statement.contains(&format!("id=\"statement-totals\">{} · ", w.hospital_name())), "{statement}");
    assert!(statement.contains(">已结算</td>"), "the state in words: {statement}");
}

/// The form `id` as the page has it, up to its end.
fn form_of<'a>(html: &'a str, id: &str) -> &'a str {
    let form = html.split(&format!("<form id=\"{id}\"")).nth(1).unwrap_or_else(|| panic!("no form {id}: {html}"));
    form.split("</form>").next().unwrap_or_default()
}

#[tokio::test]
async fn the_ward_page_cancels_only_the_latest_interim_settlement_shows_it_cancelled_and_withdraws_unsettled_lines() {
    let w = world().await;
    let cashier = w.session("cash1", StaffRole::Cashier).await;
    let admit = json!({"ipt_no": "ZY-PAGES-2", "mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO, "deposit_fen": 200_000});
    let stay = w.post(&cashier, "/api/v1/stays", admit).await;
    let id = stay["id"].as_str().unwrap_or_else(|| panic!("{stay}")).to_string();
    let api = format!("/api/v1/stays/{id}");
    // Two days' fees, each settled in the middle; a third day's line, not settled yet.
    for (sn, code, price, amount) in [("W1", "001102000010000", "25.00", "25.00"), ("W2", "250101001000000", "20.00", "20.00")] {
        w.post(&cashier, &format!("{api}/fees"), json!({"lines": [fee_line(sn, code, price, "1", amount)]})).await;
        let settled = w.post(&cashier, &format!("{api}/interim_settlement"), json!({})).await;
        assert_eq!(settled["state"], "in_ward", "{settled}");
    }
    w.post(&cashier, &format!("{api}/fees"), json!({"lines": [fee_line("W3", "001102000010000", "25.00", "2", "50.00")]})).await;

    let html = w.page(&cashier, &format!("/console/stays/{id}")).await;
    // The lines by item name, each with the interim settlement that took it.
    let lines = html.split("id=\"stay-lines\"").nth(1).unwrap_or_else(|| panic!("the fee lines: {html}"));
    assert!(lines.contains("普通门诊诊查费 <span class=\"tag\">第 1 次中途结算已结</span>"), "{lines}");
    assert!(lines.contains("血细胞分析 <span class=\"tag\">第 2 次中途结算已结</span>"), "{lines}");
    // Only the latest interim settlement in force is offered for cancellation, asking first with its figures.
    assert_eq!(html.matches("<form id=\"cancel-interim\"").count(), 1, "{html}");
    assert!(html.contains(&format!("data-api=\"{api}/interim_settlements/2/cancel\"")), "{html}");
    let asked = confirm_of(&html, "cancel-interim");
    assert!(asked.starts_with("确认撤销 张* · 男 · ") && asked.contains("第 2 次中途结算（医疗费用 ¥20.00）"), "{asked}");
    // Only the unsettled line may be ticked for withdrawal; the question names what is ticked.
    let form = form_of(&html, "withdraw-fees");
    assert!(form.contains("value=\"W3\"") && !form.contains("value=\"W1\"") && !form.contains("value=\"W2\""), "{form}");
    assert!(confirm_of(&html, "withdraw-fees").contains("{checked}，共 {checked|yuan}"), "{html}");

    // The API refuses what the page does not offer.
    let refused = w.post(&cashier, &format!("{api}/interim_settlements/1/cancel"), json!({})).await;
    assert_eq!(refused["error"]["code"], "interim_not_latest", "{refused}");
    let refused = w.post(&cashier, &format!("{api}/fees/withdraw"), json!({"lines": ["W1"]})).await;
    assert_eq!(refused["error"]["code"], "fee_line_settled", "{refused}");
    for code in ["interim_not_latest", "fee_line_settled"] {
        let words = wugan_web::i18n::error_message(wugan_web::i18n::Lang::Zh, code);
        assert!(html.contains(&format!("\"{code}\":\"{words}\"")), "{code} is said in the page's words: {words}");
    }

    // The latest cancelled, the third day's line withdrawn: the page as the ward reads it next.
    let cancelled = w.post(&cashier, &format!("{api}/interim_settlements/2/cancel"), json!({})).await;
    assert_eq!(cancelled["cancelled_interim_settlements"][0]["n"], 2, "{cancelled}");
    let withdrawn = w.post(&cashier, &format!("{api}/fees/withdraw"), json!({"lines": ["W3"]})).await;
    assert_eq!(withdrawn["fee_lines"], 2, "{withdrawn}");
    let html = w.page(&cashier, &format!("/console/stays/{id}")).await;
    assert!(html.contains("id=\"stay-state\">在院<"), "{html}");
    let gone = html.split("id=\"stay-interim-cancelled-2\">").nth(1).unwrap_or_else(|| panic!("shown cancelled: {html}"));
    assert!(gone.starts_with("<th scope=\"row\">2 <span class=\"tag\">已撤销</span></th><td class=\"num\">¥20.00</td>"), "{gone}");
    assert!(!html.contains("id=\"stay-interim-2\""), "no longer in force: {html}");
    assert!(html.contains(&format!("data-api=\"{api}/interim_settlements/1/cancel\"")), "the first is the latest now: {html}");
    let form = form_of(&html, "withdraw-fees");
    assert!(form.contains("value=\"W2\"") && !form.contains("value=\"W1\"") && !form.contains("value=\"W3\""), "{form}");

    // In English too, every word its own.
    let html = w.page(&cashier, &format!("/console/stays/{id}?lang=en")).await;
    for words in ["Cancel this interim settlement", "Interim settlements cancelled", ">cancelled</span>", "Withdraw the lines ticked"] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(confirm_of(&html, "cancel-interim").starts_with("Cancel interim settlement no. 1 of 张* · male · "), "{html}");

    // A doctor may do neither (the role's rights, as the API's).
    let doctor = w.session("doc1", StaffRole::Doctor).await;
    let html = w.page(&doctor, &format!("/console/stays/{id}")).await;
    assert!(!html.contains("id=\"cancel-interim\"") && !html.contains("id=\"withdraw-fees\""), "{html}");
    assert!(html.contains("id=\"stay-interim-cancelled-2\""), "{html}");
    // The operator's page of the stay shows it cancelled too, beside the one in force.
    let operator = w.session_at("ops1", StaffRole::Operator, None).await;
    let html = w.page(&operator, &format!("/ops/stays/{id}")).await;
    let gone = html.split("id=\"stay-interim-cancelled-2\">").nth(1).unwrap_or_else(|| panic!("shown cancelled: {html}"));
    assert!(gone.starts_with("<th scope=\"row\">中途结算 第 2 次 <span class=\"tag\">已撤销</span>"), "{gone}");
    assert!(html.contains("id=\"stay-state\">在院<"), "{html}");
}

#[tokio::test]
async fn each_role_reads_its_own_home_with_its_role_and_hospital_in_words() {
    let w = world().await;
    let finance = w.session("fin1", StaffRole::Finance).await;
    let html = w.page(&finance, "/console/").await;
    assert!(html.contains("<h1>财务工作台</h1>") && !html.contains("id=\"register\""), "finance registers nothing: {html}");
    assert!(html.contains("<span id=\"whoami-role\">财务</span>"), "{html}");
    assert!(html.contains(&format!("<span id=\"whoami-hospital\">{}</span>", w.hospital_name())), "{html}");
    let cashier = w.session("cash1", StaffRole::Cashier).await;
    let html = w.page(&cashier, "/console/").await;
    let (register, visits, hooks) = (html.find("id=\"register\""), html.find("id=\"visits-title\""), html.find("id=\"integration\""));
    assert!(register < visits && visits < hooks && register.is_some(), "register first, integration last: {html}");
    assert!(html.contains("待缴账单") && !html.contains("待还"), "待缴 for bills the bank did not pay: {html}");
}
