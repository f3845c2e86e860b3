//! What the end-to-end suites share: a fresh system per test, on SQLite by default or, when
//! WUGAN_TEST_DATABASE_URL names a PostgreSQL server (an admin URL), on a fresh database there.

use wugan::system::SystemOptions;

#[allow(dead_code)] // the suites where the center refuses of its own accord
pub mod national_desk;
#[allow(dead_code)]
pub mod own_platform;
#[allow(dead_code)]
pub mod ward;

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[allow(dead_code)]
async fn fresh_database_url() -> Option<String> {
    let admin = std::env::var("WUGAN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    sqlx::any::install_default_drivers();
    let name = format!("wugan_t_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::AnyPool::connect(&admin).await.expect("connect to the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.expect("create a test database");
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// Options for a fresh local system in its own folder (removed when the `TempDir` drops).
#[allow(dead_code)] // not every test binary starts from fresh options
pub async fn fresh_options(label: &str) -> (SystemOptions, TempDir) {
    let dir = std::env::temp_dir().join(format!("wugan-{label}-{}", uuid::Uuid::new_v4().simple()));
    let mut opts = SystemOptions::local(dir.clone());
    opts.database_url = fresh_database_url().await;
    (opts, TempDir(dir))
}

/// A sandbox view of the insurance center's own records (`/sandbox/…`), as its operator.
#[allow(dead_code)] // not every test binary reads the sandbox
pub async fn insurance_sandbox(sys: &wugan::system::System, path: &str) -> serde_json::Value {
    let url = format!("{}{path}", sys.insurance_url);
    let token = &sys.credentials.insurance_gateway.operator_token;
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.expect("the insurance center answers");
    response.json().await.expect("a JSON view")
}

/// The insurance center's own record of a person's settlements (cancelled ones included).
#[allow(dead_code)] // not every test binary reads the sandbox
pub async fn center_settlements_of(sys: &wugan::system::System, psn_no: &str) -> Vec<serde_json::Value> {
    let all = insurance_sandbox(sys, "/sandbox/settlements").await;
    let list = all.as_array().cloned().or_else(|| all["settlements"].as_array().cloned()).unwrap_or_default();
    list.into_iter().filter(|s| s["psn_no"] == serde_json::json!(psn_no)).collect()
}
