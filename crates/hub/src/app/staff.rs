//! Staff accounts: who they are, what each role may do, signing in (password, then TOTP when
//! enrolled) and the sessions that follow. The role rules are data here (`StaffRole::may`), read
//! by the edge for every request a session makes; the audit log records sign-ins and the actions
//! that change money or consent (`audited_action`).

use super::commands::{optional_text, text, text_not_blank};
use super::*;
use crate::store::{NewAuditEntry, StaffRow};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::http::Method;
use hmac_sha1::{KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A session lasts a working shift, then its holder signs in again.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "wugan_staff";
/// The header a session's state-changing request carries (the page reads it from the sign-in
/// answer or the page itself; a cross-site form cannot set it).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// TOTP (RFC 6238): 30 s steps, 6 digits, one step of clock drift either way.
const TOTP_STEP_S: i64 = 30;
const TOTP_DRIFT_STEPS: i64 = 1;

/// What a staff member does: the hub's operator, a hospital's doctor, cashier or finance clerk, or
/// a bank's clerk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Operator,
    Doctor,
    Cashier,
    Finance,
    Bank,
}

impl StaffRole {
    pub const ALL: [StaffRole; 5] = [StaffRole::Operator, StaffRole::Doctor, StaffRole::Cashier, StaffRole::Finance, StaffRole::Bank];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Operator => "operator",
            StaffRole::Doctor => "doctor",
            StaffRole::Cashier => "cashier",
            StaffRole::Finance => "finance",
            StaffRole::Bank => "bank",
        }
    }

    pub fn parse(text: &str) -> Option<StaffRole> {
        StaffRole::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// A hospital's staff: scoped to one hospital's visits.
    pub fn is_hospital_staff(self) -> bool {
        matches!(self, StaffRole::Doctor | StaffRole::Cashier | StaffRole::Finance)
    }
}

/// The API caller kind a role acts as, and which of that kind's routes it may call.
impl StaffRole {
    /// What a session acts as on the API: the operator, its hospital, or (bank staff) neither.
    pub fn caller_of(self, staff: &StaffSession) -> Option<Caller> {
        match self {
            StaffRole::Operator => Some(Caller { role: Role::Operator, hospital_code: None }),
            StaffRole::Doctor | StaffRole::Cashier | StaffRole::Finance => {
                Some(Caller { role: Role::Hospital, hospital_code: staff.hospital_code.clone() })
            }
            StaffRole::Bank => None,
        }
    }

    /// Whether this role may call `method path` (a route template its caller kind opens).
    /// Doctors register, enter fees, estimate and settle (the click), and in the ward enter a stay's
    /// fees and discharge at the bedside; cashiers also admit, cancel and run
    /// the hospital's keys-free chores; finance reads. Operators may do what an operator key may.
    pub fn may(self, method: &Method, path: &str) -> bool {
        let reading = *method == Method::GET;
        match self {
            StaffRole::Operator => true,
            StaffRole::Cashier => true,
            StaffRole::Finance => reading,
            StaffRole::Doctor => {
                reading
                    || path == "/api/v1/visits"
                    || ["/fees", "/pre-settlement", "/settlement"]
                        .iter()
                        .any(|end| path.starts_with("/api/v1/visits/") && path.ends_with(end))
                    // In the ward: the day's fees and the bedside discharge (病区结算).
                    || ["/fees", "/discharge"].iter().any(|end| path.starts_with("/api/v1/stays/") && path.ends_with(end))
            }
            StaffRole::Bank => false,
        }
    }
}

/// The outcome of a write-ahead audit entry: the action was about to run. Its outcome follows in
/// a later entry; an attempt without one means the hub stopped before answering.
pub const AUDIT_ATTEMPT: &str = "attempt";

/// Whether a request changes money or consent, so that the audit log records it: settling,
/// cancelling, signing up and revoking, family payment, repayments, limits, exceptions, keys,
/// staff, hospitals and webhook endpoints. Registering a visit and entering fees change neither.
pub fn audited_action(method: &Method, path: &str) -> bool {
    if *method != Method::POST {
        return false;
    }
    let not_audited = ["/api/v1/visits", "/verify", "/api/v1/staff/sessions"];
    let quiet_suffixes = ["/fees", "/pre-settlement"];
    !not_audited.contains(&path) && !quiet_suffixes.iter().any(|s| path.ends_with(s)) && path.starts_with("/api/v1/")
}

/// A signed-in staff member, as the edge hands it to handlers (beside the `Caller` it acts as).
#[derive(Clone, Debug)]
pub struct StaffSession {
    pub staff_id: String,
    pub login: String,
    pub display_name: String,
    pub role: StaffRole,
    pub hospital_code: Option<String>,
    pub bank_code: Option<String>,
    pub expires_at: String,
    /// The value `CSRF_HEADER` must carry.
    pub csrf_token: String,
}

/// The account as the API shows it (never the password hash or TOTP secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: &'static str,
    pub hospital_code: Option<String>,
    pub bank_code: Option<String>,
    pub totp_enrolled: bool,
    pub created_at: String,
}

/// A session just started: the cookie's token goes in `Set-Cookie`, not here.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub staff: StaffView,
    pub expires_at: String,
    pub csrf_token: String,
}

/// A new account: the TOTP secret (when asked for) is shown once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NewStaffView {
    pub staff: StaffView,
    /// Base32, for an authenticator app (`otpauth_uri`).
    pub totp_secret: Option<String>,
    pub otpauth_uri: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(schema_with = text_not_blank::<64>)]
    pub login: String,
    #[schema(schema_with = text_not_blank::<128>)]
    pub password: String,
    /// The authenticator's 6 digits, for an account enrolled in TOTP.
    #[serde(default)]
    #[schema(schema_with = optional_text::<6>)]
    pub totp: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    #[schema(schema_with = text_not_blank::<64>)]
    pub login: String,
    #[schema(schema_with = text_not_blank::<64>)]
    pub display_name: String,
    /// operator, doctor, cashier, finance or bank.
    #[schema(schema_with = text::<16>)]
    pub role: String,
    #[serde(default)]
    #[schema(schema_with = optional_text::<32>)]
    pub hospital_code: Option<String>,
    #[serde(default)]
    #[schema(schema_with = optional_text::<32>)]
    pub bank_code: Option<String>,
    /// At least 12 characters.
    #[schema(schema_with = password_text)]
    pub password: String,
    /// Enroll in TOTP: the secret is in the answer, once.
    #[serde(default)]
    pub totp: bool,
}

/// Refused sign-ins of one login within `LOCKOUT_WINDOW` after which it is refused without a
/// look at the password (429 too_many_attempts) until the window has passed: a password guesser
/// gets five tries a quarter of an hour, whatever address it comes from.
pub const MAX_REFUSED_SIGN_INS: i64 = 5;
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The shortest password an account may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A new password: 12 to 128 characters of text.
fn password_text() -> utoipa::openapi::schema::Object {
    let mut schema = text::<128>();
    schema.min_length = Some(MIN_PASSWORD_CHARS);
    schema
}

fn view_of(s: &StaffRow) -> StaffView {
    StaffView {
        id: s.id.clone(),
        login: s.login.clone(),
        display_name: s.display_name.clone(),
        role: StaffRole::parse(&s.role).map(StaffRole::as_str).unwrap_or("unknown"),
        hospital_code: s.hospital_code.clone(),
        bank_code: s.bank_code.clone(),
        totp_enrolled: s.totp_secret_enc.is_some(),
        created_at: s.created_at.clone(),
    }
}

/// The stored name of a session token (and of nothing else: the CSRF token is another hash).
pub fn session_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("session:{token}").as_bytes()))
}

/// The CSRF token of a session: derived from its token, so nothing more is stored.
pub fn csrf_token_of(token: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf:{token}").as_bytes()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// RFC 4648 base32 without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The TOTP code of `secret` for time step `step` (RFC 6238 with HMAC-SHA1, RFC 4226 truncation).
pub fn totp_code(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = hmac_sha1::Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return String::new(); // HMAC takes keys of any length; unreachable
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", value % 1_000_000)
}

/// Whether `code` is the TOTP of `secret` at `unix_s`, one step of drift allowed either way.
pub fn totp_matches(secret: &[u8], code: &str, unix_s: i64) -> bool {
    let step = unix_s.div_euclid(TOTP_STEP_S);
    (-TOTP_DRIFT_STEPS..=TOTP_DRIFT_STEPS).any(|d| totp_code(secret, step + d) == code.trim())
}

/// Whether a session opens the API at `now`: not signed out, not expired, its account not disabled.
pub fn session_is_open(session: &crate::store::SessionRow, staff: &StaffRow, now: &str) -> bool {
    session.ended_at.is_none() && session.expires_at.as_str() > now && staff.disabled_at.is_none()
}

/// argon2id of a password (blocking: run off the async threads).
fn hash_password(password: &str) -> Result<String, AppError> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hashing: {e}")))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A PHC string no password matches, verified when the login is unknown so that an unknown login
/// takes as long as a known one.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Lq1pQ3bWvS2Y0m4bq9m3X5q0u8b1XnJcK3a9yZt7Xo";

/// Adds a staff account on `store` (the console, and `wugan staff add` before any operator can
/// sign in); `known_bank` says which bank codes the hub routes to.
pub async fn add_staff_on(
    store: &crate::store::Store,
    data_key: &DataKey,
    known_bank: &(dyn Fn(&str) -> bool + Sync),
    req: NewStaffRequest,
) -> Result<NewStaffView, AppError> {
    let role = StaffRole::parse(&req.role)
        .ok_or_else(|| AppError::invalid("bad_staff_role", "role is operator, doctor, cashier, finance or bank"))?;
    if req.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid("weak_password", format!("a password has at least {MIN_PASSWORD_CHARS} characters")));
    }
    let hospital_code = req.hospital_code.filter(|_| role.is_hospital_staff());
    let bank_code = req.bank_code.filter(|_| role == StaffRole::Bank);
    match (&hospital_code, role.is_hospital_staff()) {
        (None, true) => return Err(AppError::invalid("tenant_required", "hospital staff name their hospital_code")),
        (Some(code), _) if !store.hospital_exists(code).await? => {
            return Err(AppError::invalid("unknown_hospital", format!("no hospital {code} on this hub")))
        }
        _ => {}
    }
    match &bank_code {
        None if role == StaffRole::Bank => return Err(AppError::invalid("tenant_required", "bank staff name their bank_code")),
        Some(code) if !known_bank(code) => return Err(AppError::invalid("unknown_bank", format!("no bank {code} on this hub"))),
        _ => {}
    }
    let secret = if req.totp { Some(random_bytes::<20>()?) } else { None };
    let password = req.password.clone();
    let password_hash =
        tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|e| AppError::internal(e.to_string()))??;
    let row = StaffRow {
        id: new_id("stf"),
        login: req.login.trim().to_string(),
        display_name: req.display_name.trim().to_string(),
        role: role.as_str().to_string(),
        hospital_code,
        bank_code,
        password_hash,
        totp_secret_enc: secret.map(|s| data_key.seal(&hex::encode(s))).transpose()?,
        disabled_at: None,
        created_at: store.now(),
    };
    match store.insert_staff(row.clone()).await {
        Err(crate::store::StoreError::Conflict(_)) => {
            return Err(AppError::conflict("staff_exists", format!("the login {} is taken", row.login)))
        }
        other => other?,
    }
    let totp_secret = secret.map(|s| base32(&s));
    let otpauth_uri = totp_secret.as_ref().map(|s| format!("otpauth://totp/wugan:{}?secret={s}&issuer=wugan", row.login));
    Ok(NewStaffView { staff: view_of(&row), totp_secret, otpauth_uri })
}

impl App {
    /// Adds a staff account (the operator's console).
    pub async fn add_staff(&self, req: NewStaffRequest) -> Result<NewStaffView, AppError> {
        add_staff_on(&self.store, &self.config.data_key, &|code| self.banks.contains_key(code), req).await
    }

    pub async fn staff_list(&self) -> Result<Vec<StaffView>, AppError> {
        Ok(self.store.staff_list(None).await?.iter().map(view_of).collect())
    }

    /// Signs a staff member in from `address`; returns the session's token (for the cookie) and
    /// its view. Every attempt is audited, the refused ones too. A wrong login, password or code
    /// all answer alike.
    pub async fn sign_in(&self, req: SignInRequest, address: &str) -> Result<(String, SessionView), AppError> {
        let login = req.login.trim().to_string();
        let actor = format!("staff:{login}");
        let since = self.store.before_now(LOCKOUT_WINDOW);
        if self.store.refused_sign_ins(&actor, &since).await? >= MAX_REFUSED_SIGN_INS {
            self.audit(&actor, "sign_in", "-", address, "too_many_attempts").await;
            return Err(AppError::Http {
                status: axum::http::StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_attempts",
                message: format!("too many refused sign-ins for this login; try again in {} minutes", LOCKOUT_WINDOW.as_secs() / 60),
            });
        }
        let staff = self.store.staff_by_login(&login).await?;
        let phc = staff.as_ref().map(|s| s.password_hash.clone()).unwrap_or_else(|| DECOY_HASH.to_string());
        let password = req.password.clone();
        let password_ok =
            tokio::task::spawn_blocking(move || password_matches(&password, &phc)).await.map_err(|e| AppError::internal(e.to_string()))?;
        let checked = match staff {
            Some(s) if password_ok && s.disabled_at.is_none() => self.second_factor(s, req.totp.as_deref()),
            _ => Err(AppError::Unauthorized { code: "bad_credentials", message: "the login, password or code is wrong".into() }),
        };
        let outcome = checked.as_ref().map(|_| "ok").unwrap_or_else(|e| e.code());
        self.audit(&actor, "sign_in", "-", address, outcome).await;
        let staff = checked?;
        let token = hex::encode(random_bytes::<32>()?);
        let expires_at = crate::clock::timestamp(self.store.clock.now_utc() + SESSION_TTL);
        self.store.insert_session(&session_token_hash(&token), &staff.id, &expires_at, address).await?;
        let view = SessionView { staff: view_of(&staff), expires_at, csrf_token: csrf_token_of(&token) };
        Ok((token, view))
    }

    fn second_factor(&self, staff: StaffRow, code: Option<&str>) -> Result<StaffRow, AppError> {
        let Some(sealed) = &staff.totp_secret_enc else {
            return Ok(staff);
        };
        let secret = hex::decode(self.config.data_key.open(sealed)?).map_err(|e| AppError::internal(format!("a TOTP secret: {e}")))?;
        let now = self.store.clock.now_utc().unix_timestamp();
        match code {
            Some(code) if totp_matches(&secret, code, now) => Ok(staff),
            Some(_) => Err(AppError::Unauthorized { code: "bad_credentials", message: "the login, password or code is wrong".into() }),
            None => Err(AppError::Unauthorized {
                code: "totp_required",
                message: "this account signs in with its authenticator's code too".into(),
            }),
        }
    }

    /// The session a cookie's token opens now, if any.
    pub async fn staff_session(&self, token: &str) -> Result<Option<StaffSession>, AppError> {
        let Some((session, staff)) = self.store.session(&session_token_hash(token)).await? else {
            return Ok(None);
        };
        let role = StaffRole::parse(&staff.role).ok_or_else(|| AppError::internal(format!("staff role {}", staff.role)))?;
        if !session_is_open(&session, &staff, &self.now()) {
            return Ok(None);
        }
        Ok(Some(StaffSession {
            staff_id: staff.id,
            login: staff.login,
            display_name: staff.display_name,
            role,
            hospital_code: staff.hospital_code,
            bank_code: staff.bank_code,
            expires_at: session.expires_at,
            csrf_token: csrf_token_of(token),
        }))
    }

    pub async fn sign_out(&self, token: &str) -> Result<Value, AppError> {
        let ended = self.store.end_session(&session_token_hash(token)).await?;
        Ok(json!({"signed_out": ended}))
    }

    /// Appends the write-ahead entry of an action about to run (outcome `attempt`); its error
    /// stops the action (nothing may happen without a trace).
    pub async fn audit_attempt(&self, actor: &str, action: &str, target: &str, address: &str) -> Result<(), AppError> {
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            address: address.to_string(),
            outcome: AUDIT_ATTEMPT.to_string(),
        };
        self.store.append_audit(entry).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, actor, action, target, "could not append to the audit log: the action is refused");
            AppError::from(e)
        })
    }

    /// Appends to the audit log; a failure to write it is logged loudly, and the action it
    /// records stands (it has happened).
    pub async fn audit(&self, actor: &str, action: &str, target: &str, address: &str, outcome: &str) {
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            address: address.to_string(),
            outcome: outcome.to_string(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, actor, action, target, "could not append to the audit log");
        }
    }
}

/// The issue-18 types' schemas by name (openapi_check compares them with openapi.json).
pub fn schemas() -> Vec<(String, Value)> {
    fn one<T: utoipa::ToSchema>() -> (String, Value) {
        (T::name().to_string(), serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    use super::hospitals::{ApiKeyView, HospitalView, IssuedKeyView};
    use super::visit_lists::VisitListView;
    use super::webhooks::NewEndpointView;
    vec![
        one::<StaffView>(),
        one::<SessionView>(),
        one::<NewStaffView>(),
        one::<HospitalView>(),
        one::<super::bank_onboarding::BankView>(),
        one::<ApiKeyView>(),
        one::<IssuedKeyView>(),
        one::<VisitListView>(),
        one::<NewEndpointView>(),
    ]
}

/// The issue-18 commands, by the route that reads them.
pub fn command_schemas() -> Vec<(&'static str, Value)> {
    fn one<T: utoipa::ToSchema>(route: &'static str) -> (&'static str, Value) {
        (route, serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    vec![
        one::<SignInRequest>("post /api/v1/staff/sessions"),
        one::<NewStaffRequest>("post /api/v1/operator/staff"),
        one::<super::hospitals::OnboardHospitalRequest>("post /api/v1/operator/hospitals"),
        one::<super::deposit_policy::SetDepositPolicyRequest>("post /api/v1/operator/hospitals/{code}/deposit_policy"),
        one::<super::bank_onboarding::OnboardBankRequest>("post /api/v1/operator/banks"),
        one::<super::hospitals::IssueKeyRequest>("post /api/v1/operator/keys"),
        one::<super::hospitals::RotateKeyRequest>("post /api/v1/operator/keys/{key_id}/rotate"),
        one::<super::webhooks::NewEndpointRequest>("post /api/v1/webhook-endpoints"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 8 digits truncated to our 6.
        let secret = b"12345678901234567890";
        for (unix_s, eight_digits) in
            [(59, "94287082"), (1_111_111_109, "07081804"), (1_234_567_890, "89005924"), (2_000_000_000, "69279037")]
        {
            assert_eq!(totp_code(secret, unix_s / 30), eight_digits[2..], "at {unix_s}");
            assert!(totp_matches(secret, &eight_digits[2..], unix_s + 30), "one step late is accepted");
            assert!(!totp_matches(secret, &eight_digits[2..], unix_s + 90), "three steps late is not");
        }
    }

    #[test]
    fn a_session_ends_when_it_expires_is_signed_out_or_its_account_is_disabled() {
        let staff = |disabled: Option<&str>| StaffRow {
            id: "stf_1".into(),
            login: "cash1".into(),
            display_name: "收费员".into(),
            role: "cashier".into(),
            hospital_code: Some("H1".into()),
            bank_code: None,
            password_hash: String::new(),
            totp_secret_enc: None,
            disabled_at: disabled.map(str::to_string),
            created_at: "2026-11-30T08:00:00.000000Z".into(),
        };
        let session = |ended: Option<&str>| crate::store::SessionRow {
            staff_id: "stf_1".into(),
            created_at: "2026-11-30T08:00:00.000000Z".into(),
            expires_at: "2026-11-30T16:00:00.000000Z".into(),
            ended_at: ended.map(str::to_string),
        };
        let during = "2026-11-30T15:59:59.999999Z";
        let at_the_end = "2026-11-30T16:00:00.000000Z";
        assert!(session_is_open(&session(None), &staff(None), during));
        assert!(!session_is_open(&session(None), &staff(None), at_the_end), "expired");
        assert!(!session_is_open(&session(Some("2026-11-30T09:00:00.000000Z")), &staff(None), during), "signed out");
        assert!(!session_is_open(&session(None), &staff(Some("2026-11-30T09:00:00.000000Z")), during), "account disabled");
    }

    #[test]
    fn base32_is_rfc_4648() {
        for (bytes, text) in
            [(&b""[..], ""), (b"f", "MY"), (b"fo", "MZXQ"), (b"foo", "MZXW6"), (b"foob", "MZXW6YQ"), (b"fooba", "MZXW6YTB")]
        {
            assert_eq!(base32(bytes), text);
        }
    }

    #[test]
    fn each_role_may_do_what_its_work_needs_and_no_more() {
        use StaffRole::*;
        let (get, post) = (Method::GET, Method::POST);
        let table: &[(StaffRole, &Method, &str, bool)] = &[
            (Doctor, &post, "/api/v1/visits", true),
            (Doctor, &post, "/api/v1/visits/{id}/fees", true),
            (Doctor, &post, "/api/v1/visits/{id}/settlement", true),
            (Doctor, &post, "/api/v1/visits/{id}/settlement/cancel", false),
            (Doctor, &get, "/api/v1/invoices", true),
            (Cashier, &post, "/api/v1/visits/{id}/settlement/cancel", true),
            (Finance, &get, "/api/v1/hospitals/{code}/statements/{date}", true),
            (Finance, &post, "/api/v1/visits/{id}/settlement", false),
            (Bank, &get, "/api/v1/visits/{id}", false),
            (Operator, &post, "/api/v1/exceptions/{id}/retry", true),
        ];
        for (role, method, path, may) in table {
            assert_eq!(role.may(method, path), *may, "{role:?} {method} {path}");
        }
    }

    #[test]
    fn money_and_consent_are_audited_registration_and_fees_are_not() {
        for (method, path, audited) in [
            (Method::POST, "/api/v1/visits/{id}/settlement", true),
            (Method::POST, "/api/v1/visits/{id}/settlement/cancel", true),
            (Method::POST, "/api/v1/agreements", true),
            (Method::POST, "/api/v1/agreements/{id}/revoke", true),
            (Method::POST, "/api/v1/operator/keys", true),
            (Method::POST, "/api/v1/visits", false),
            (Method::POST, "/api/v1/visits/{id}/fees", false),
            (Method::POST, "/api/v1/visits/{id}/pre-settlement", false),
            (Method::GET, "/api/v1/visits/{id}", false),
        ] {
            assert_eq!(audited_action(&method, path), audited, "{method} {path}");
        }
    }

    #[test]
    fn a_password_hash_verifies_its_password_only_and_the_decoy_nothing() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(password_matches("correct horse battery", &phc));
        assert!(!password_matches("correct horse batterz", &phc));
        assert!(!password_matches("correct horse battery", DECOY_HASH));
    }
}
