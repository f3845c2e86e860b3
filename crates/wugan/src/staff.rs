//! `wugan staff` and `wugan audit`: staff accounts and the audit log on the hub's database, for
//! the first operator (before anyone can sign in to the console) and for an auditor's check of
//! the hash chain.

use std::io::BufRead;
use std::path::Path;
use wugan_hub::app::staff::{add_staff_on, NewStaffRequest};
use wugan_hub::pii::DataKey;
use wugan_hub::store::Store;

/// What `wugan staff add` is asked for.
pub struct NewStaff {
    pub login: String,
    pub name: String,
    pub role: String,
    pub hospital: Option<String>,
    pub bank: Option<String>,
    pub totp: bool,
}

/// The password: `WUGAN_STAFF_PASSWORD`, else the first line of standard input (never an
/// argument, which other users of the machine could read in the process list).
fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("WUGAN_STAFF_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (at least 12 characters), then Enter:");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Adds an account; returns what to print (the TOTP secret, once, when asked for).
pub async fn add(store: &Store, data_key: &DataKey, staff: NewStaff) -> anyhow::Result<String> {
    let request = NewStaffRequest {
        login: staff.login,
        display_name: staff.name,
        role: staff.role,
        hospital_code: staff.hospital,
        bank_code: staff.bank,
        password: password()?,
        totp: staff.totp,
    };
    // The banks are `serve`'s configuration, not the database's: any code is taken here.
    let added = add_staff_on(store, data_key, &|_| true, request).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = format!("{} added: {} ({})\n", added.staff.id, added.staff.login, added.staff.role);
    if let (Some(secret), Some(uri)) = (added.totp_secret, added.otpauth_uri) {
        out.push_str(&format!("TOTP secret, shown this once: {secret}\n{uri}\n"));
    }
    Ok(out)
}

/// Every account, one per line.
pub async fn list(store: &Store) -> anyhow::Result<String> {
    let mut out = String::new();
    for s in store.staff_list(None).await? {
        let tenant = s.hospital_code.or(s.bank_code).unwrap_or_default();
        out.push_str(&format!("{:<24} {:<9} {:<12} {}\n", s.login, s.role, tenant, s.display_name));
    }
    Ok(out)
}

/// Walks the audit log's hash chain: `Ok` with a summary when it is intact, an error naming every
/// broken entry otherwise.
pub async fn verify(store: &Store) -> anyhow::Result<String> {
    let (count, findings) = store.verify_audit_log().await?;
    if findings.is_empty() {
        return Ok(format!("audit log intact: {count} entries, each naming the one before\n"));
    }
    let lines: Vec<String> = findings.iter().map(|f| format!("  entry {}: {}", f.seq, f.problem)).collect();
    anyhow::bail!("the audit log was altered ({} findings in {count} entries):\n{}", findings.len(), lines.join("\n"))
}

#[derive(clap::Subcommand)]
pub enum StaffArgs {
    /// A new account; the password is read from WUGAN_STAFF_PASSWORD or standard input.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["operator", "doctor", "cashier", "finance", "bank"])]
        role: String,
        /// The hospital's code, for a doctor, cashier or finance clerk.
        #[arg(long)]
        hospital: Option<String>,
        /// The bank's code, for a bank's clerk.
        #[arg(long)]
        bank: Option<String>,
        /// Enroll in TOTP: the secret is printed once.
        #[arg(long)]
        totp: bool,
    },
    /// Every account: login, role, hospital or bank, name.
    List,
}

#[derive(clap::Subcommand)]
pub enum AuditArgs {
    /// Exit 0 when the chain is intact; otherwise name every broken entry.
    Verify,
}

/// Runs `wugan staff …` on the hub's database; returns what to print.
pub async fn run_staff(command: StaffArgs, database_url: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    let store = open_hub_store(database_url, data_dir).await?;
    match command {
        StaffArgs::List => list(&store).await,
        StaffArgs::Add { login, name, role, hospital, bank, totp } => {
            // The data key seals a TOTP secret: WUGAN_DATA_KEY, else the data folder's credentials.json.
            let key = match std::env::var("WUGAN_DATA_KEY").ok().filter(|k| !k.trim().is_empty()) {
                Some(hex) => hex,
                None => crate::system::Credentials::load_or_create(data_dir)?.data_key_hex,
            };
            let key = DataKey::from_hex(&key).map_err(|e| anyhow::anyhow!("the personal-data key: {e}"))?;
            add(&store, &key, NewStaff { login, name, role, hospital, bank, totp }).await
        }
    }
}

/// Runs `wugan audit …`.
pub async fn run_audit(command: AuditArgs, database_url: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    let store = open_hub_store(database_url, data_dir).await?;
    match command {
        AuditArgs::Verify => verify(&store).await,
    }
}

/// The hub's database (migrated), from `--database-url` or the data folder's hub.db.
pub async fn open_hub_store(database_url: Option<String>, data_dir: &Path) -> anyhow::Result<Store> {
    let url = match database_url {
        Some(url) => url,
        None => {
            let path = data_dir.join("hub.db");
            anyhow::ensure!(path.exists(), "no hub database at {} (--data-dir, or --database-url)", path.display());
            format!("sqlite://{}", path.display())
        }
    };
    let store = wugan_hub::store::Store::connect(&url).await.map_err(|e| anyhow::anyhow!("cannot open the hub's database: {e}"))?;
    store.migrate().await?;
    Ok(store)
}
