//! `wugan`: one binary for every party. See `wugan --help`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use wugan::system::{self, SystemOptions};

#[derive(Parser)]
#[command(name = "wugan", version, about = "wugan (无感): queue-free, pay-later hospital payments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub. With no partner URLs, a built-in insurance center and bank start beside it.
    Serve(ServeArgs),
    /// The insurance center (national interface) on its own.
    Insurance {
        #[command(subcommand)]
        command: InsuranceCommand,
    },
    /// The bank on its own.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
    },
    /// Run the seed story on a fresh embedded instance and print what happened.
    Demo {
        /// Print one JSON object (amounts in fen) instead of a table.
        #[arg(long)]
        json: bool,
        /// Number of outpatient visits.
        #[arg(long, default_value_t = 36)]
        visits: usize,
        /// Seed for the visit generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Adjudicate one claim (JSON on stdin) against a policy and print the settlement (setlinfo + setldetail).
    Adjudicate {
        /// A built-in policy (shenzhen-2024, guangzhou-example) or a policy file.
        #[arg(long, default_value = "shenzhen-2024")]
        policy: String,
        /// Explain each step in words.
        #[arg(long)]
        explain: bool,
    },
    /// Apply the hub's database migrations and exit.
    Migrate {
        #[arg(long, env = "WUGAN_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, env = "WUGAN_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum InsuranceCommand {
    Serve {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
        /// Insured persons, one JSON object per line.
        #[arg(long)]
        persons: Option<PathBuf>,
        /// 医保区划 of this insurance center.
        #[arg(long, default_value = "440300")]
        admdvs: String,
    },
}

#[derive(Subcommand)]
enum BankCommand {
    Serve {
        #[arg(long, default_value = "127.0.0.1:9200")]
        listen: String,
        #[arg(long, default_value = "BANK01")]
        bank_code: String,
        /// Key id of the hub's signing key.
        #[arg(long, default_value = "hub")]
        key_id: String,
        /// The shared HMAC secret the hub signs with.
        #[arg(long, env = "WUGAN_BANK_SECRET")]
        secret: String,
    },
}

#[derive(Args, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServeArgs {
    /// Where the hub listens.
    #[arg(long)]
    listen: Option<String>,
    /// PostgreSQL URL (postgres://…) or sqlite://PATH; default: SQLite in the data folder.
    #[arg(long, env = "WUGAN_DATABASE_URL")]
    database_url: Option<String>,
    /// An external insurance center (national interface); default: a built-in one.
    #[arg(long, env = "WUGAN_INSURANCE_URL")]
    insurance_url: Option<String>,
    /// An external bank; default: a built-in one.
    #[arg(long, env = "WUGAN_BANK_URL")]
    bank_url: Option<String>,
    #[arg(long, env = "WUGAN_BANK_CODE")]
    bank_code: Option<String>,
    #[arg(long, env = "WUGAN_BANK_KEY_ID")]
    bank_key_id: Option<String>,
    #[arg(long, env = "WUGAN_BANK_SECRET")]
    bank_secret: Option<String>,
    /// Folder for the SQLite database, keys and credentials.
    #[arg(long, env = "WUGAN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Insured persons for the built-in insurance center.
    #[arg(long)]
    persons: Option<PathBuf>,
    /// A JSON file with any of these options (snake_case keys); flags and environment win.
    #[arg(long, env = "WUGAN_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
}

impl ServeArgs {
    /// Flags and environment first, then the config file, then defaults.
    fn resolve(self) -> anyhow::Result<SystemOptions> {
        let file: ServeArgs = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let mut opts = SystemOptions::local(self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data")));
        opts.hub_listen = self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        opts.database_url = self.database_url.or(file.database_url);
        opts.insurance_url = self.insurance_url.or(file.insurance_url);
        opts.bank_url = self.bank_url.or(file.bank_url);
        if let Some(code) = self.bank_code.or(file.bank_code) {
            opts.bank_code = code;
        }
        opts.bank_key_id = self.bank_key_id.or(file.bank_key_id);
        opts.bank_secret = self.bank_secret.or(file.bank_secret);
        opts.persons_file = self.persons.or(file.persons);
        Ok(opts)
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("WUGAN_LOG").unwrap_or_else(|_| "warn,wugan=info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("wugan: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args.resolve()?).await,
        Command::Insurance { command: InsuranceCommand::Serve { listen, persons, admdvs } } => {
            let addr = system::spawn_server(&listen, system::builtin_insurance(persons.as_deref(), &admdvs)?).await?;
            println!("insurance center (national interface) on http://{addr}{}", wugan_hub::insurance_client::CALL_SERVICE_PATH);
            wait_for_shutdown().await
        }
        Command::Bank { command: BankCommand::Serve { listen, bank_code, key_id, secret } } => {
            let addr = system::spawn_server(&listen, system::builtin_bank(&bank_code, &key_id, &secret)).await?;
            println!("bank {bank_code} on http://{addr}/bank/v1");
            wait_for_shutdown().await
        }
        Command::Demo { json, visits, seed } => wugan::demo::run(visits, seed, json).await,
        Command::Adjudicate { policy, explain } => wugan::adjudicate::run(&policy, explain),
        Command::Migrate { database_url, data_dir } => {
            std::fs::create_dir_all(&data_dir)?;
            let url = database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("hub.db").display()));
            let store = wugan_hub::store::Store::connect(&url).await?;
            let applied = store.migrate().await?;
            println!("migrations applied: {applied:?}");
            Ok(())
        }
    }
}

async fn serve(opts: SystemOptions) -> anyhow::Result<()> {
    let sys = system::start(&opts).await?;
    let db = if sys.database_url.starts_with("sqlite:") { sys.database_url.clone() } else { "PostgreSQL".to_string() };
    println!("wugan hub        {}   (HIS API: {}/openapi.json)", sys.hub_url, sys.hub_url);
    println!("insurance center {}", sys.insurance_url);
    println!("bank             {}", sys.bank_url);
    println!("database         {db}");
    println!("API keys         {}", opts.data_dir.join("credentials.json").display());
    let _keep: Arc<_> = sys.app.clone();
    wait_for_shutdown().await
}

async fn wait_for_shutdown() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
