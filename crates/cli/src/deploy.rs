//! `hookhaven export` and `hookhaven import`: the auth0-deploy-cli workflow against a running
//! server. They take a0deploy's settings (`AUTH0_*` variables, an optional `-c config.json`,
//! and its flag spellings), so a pipeline switches by changing the command name.
//! Precedence: flag > environment > config file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::builder::BoolishValueParser;
use hookhaven_deploy::{Api, Connection, ExportOptions, Format, ImportOptions, Mappings, Progress};
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
pub struct ConnArgs {
    /// The server: host[:port] (https), https://host[:port], or http://127.0.0.1[:port] /
    /// http://localhost[:port].
    #[arg(long, env = "AUTH0_DOMAIN")]
    domain: Option<String>,
    /// Client id for a client-credentials token.
    #[arg(long, env = "AUTH0_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret for a client-credentials token.
    #[arg(
        long,
        short = 'x',
        visible_alias = "secret",
        env = "AUTH0_CLIENT_SECRET",
        hide_env_values = true
    )]
    client_secret: Option<String>,
    /// A Management API access token (used instead of client credentials).
    #[arg(long, env = "AUTH0_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// Token audience; default https://{domain}/api/v2/.
    #[arg(long, env = "AUTH0_AUDIENCE")]
    audience: Option<String>,
    /// PEM file of certificates to trust (a self-signed server). Without it,
    /// NODE_EXTRA_CA_CERTS is used when set, as a0deploy pipelines already set it.
    #[arg(long, env = "HOOKHAVEN_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// a0deploy's JSON config file (AUTH0_* keys).
    #[arg(short = 'c', long = "config-file", visible_alias = "config_file")]
    config_file: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Retries of a 429 (honouring Retry-After) and of failed reads.
    #[arg(long, env = "AUTH0_API_MAX_RETRIES")]
    max_retries: Option<u32>,
    /// Machine-readable output on stdout (no progress output).
    #[arg(long)]
    json: bool,
    /// Print one line per request to stderr.
    #[arg(short = 'd', long)]
    debug: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Folder to write into.
    #[arg(short = 'o', long = "output-folder", visible_alias = "output_folder")]
    output_folder: PathBuf,
    /// `yaml` (tenant.yaml + hooks/*.js) or `directory` (hooks/<name>.json + .js).
    #[arg(short = 'f', long, value_parser = ["yaml", "directory"])]
    format: String,
    /// Write each hook's id (AUTH0_EXPORT_IDENTIFIERS=true).
    #[arg(short = 'e', long = "export-ids", visible_alias = "export_ids")]
    export_ids: bool,
    /// Accepted for a0deploy compatibility; keys are always ordered.
    #[arg(
        short = 's',
        long = "export-ordered",
        alias = "export_ordered",
        hide = true
    )]
    export_ordered: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// tenant.yaml (or .yml), or a folder holding hooks/.
    #[arg(
        short = 'i',
        long = "input-file",
        visible_alias = "input_file",
        env = "AUTH0_INPUT_FILE"
    )]
    input_file: Option<PathBuf>,
    /// Folder that script paths in a YAML file start from (default: the YAML file's folder).
    #[arg(
        long = "base-path",
        visible_alias = "base_path",
        env = "AUTH0_BASE_PATH"
    )]
    base_path: Option<PathBuf>,
    /// Keyword mappings as a JSON object.
    #[arg(
        long = "keyword-mappings",
        env = "AUTH0_KEYWORD_REPLACE_MAPPINGS",
        hide_env_values = true
    )]
    keyword_mappings: Option<String>,
    /// Also use every environment variable as a keyword mapping (a0deploy's default).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    env: Option<bool>,
    /// Same as --env=false.
    #[arg(long = "no-env")]
    no_env: bool,
    /// Delete hooks that are on the server but not in the files (AUTH0_ALLOW_DELETE=true).
    #[arg(long = "allow-delete")]
    allow_delete: bool,
    /// Print the plan and change nothing.
    #[arg(long = "dry-run", visible_alias = "dry_run", num_args = 0..=1, require_equals = true, default_missing_value = "preview")]
    dry_run: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
}

/// a0deploy's `config.json`.
#[derive(Default)]
struct ConfigFile(Map<String, Value>);

impl ConfigFile {
    fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        let Some(path) = path else {
            return Ok(ConfigFile::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(ConfigFile(map)),
            Ok(_) => anyhow::bail!("{} must hold a JSON object", path.display()),
            Err(e) => anyhow::bail!("{} is not valid JSON: {e}", path.display()),
        }
    }

    fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn truthy(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(Value::Bool(true)))
            || self.text(key).as_deref() == Some("true")
    }
}

/// a0deploy's `isTruthy`: `true` or `"true"`, nothing else.
fn env_truthy(name: &str) -> bool {
    std::env::var(name).map(|v| v == "true").unwrap_or(false)
}

fn connection(args: &ConnArgs, file: &ConfigFile) -> anyhow::Result<Connection> {
    let pick = |flag: &Option<String>, key: &str| flag.clone().or_else(|| file.text(key));
    let ca_cert = args.ca_cert.clone().or_else(|| {
        std::env::var_os("NODE_EXTRA_CA_CERTS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let max_retries = match args.max_retries {
        Some(n) => n,
        None => match file.text("AUTH0_API_MAX_RETRIES") {
            Some(t) => t
                .parse()
                .context("AUTH0_API_MAX_RETRIES must be a number")?,
            None => 10,
        },
    };
    Ok(Connection {
        domain: pick(&args.domain, "AUTH0_DOMAIN").unwrap_or_default(),
        client_id: pick(&args.client_id, "AUTH0_CLIENT_ID"),
        client_secret: pick(&args.client_secret, "AUTH0_CLIENT_SECRET"),
        access_token: pick(&args.access_token, "AUTH0_ACCESS_TOKEN"),
        audience: pick(&args.audience, "AUTH0_AUDIENCE"),
        ca_cert,
        concurrency: args.concurrency.max(1),
        max_retries,
        debug: args.debug,
    })
}

/// A failure whose details are already in the printed report.
#[derive(Debug)]
struct Reported(String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// Runs a command body; with `--json`, a failure is also printed as JSON on stdout.
async fn run_reporting<F>(json: bool, command: &str, body: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let result = body.await;
    if let (true, Err(e)) = (json, &result) {
        if e.downcast_ref::<Reported>().is_some() {
            return result;
        }
        println!(
            "{}",
            json!({"ok": false, "command": command, "error": format!("{e:#}")})
        );
    }
    result
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let json_out = args.conn.json;
    run_reporting(json_out, "export", async move {
        let file = ConfigFile::load(args.conn.config_file.as_deref())?;
        let conn = connection(&args.conn, &file)?;
        let opts = ExportOptions {
            output: args.output_folder,
            format: Format::parse(&args.format).context("--format must be yaml or directory")?,
            export_ids: args.export_ids
                || env_truthy("AUTH0_EXPORT_IDENTIFIERS")
                || file.truthy("AUTH0_EXPORT_IDENTIFIERS"),
        };
        let progress = Progress::auto(json_out);
        let api = Api::connect(&conn).await?;
        let report = hookhaven_deploy::export(&api, &opts, &progress).await?;
        if json_out {
            println!("{}", report.to_json(&opts));
        } else {
            print!("{}", report.to_text(&opts));
        }
        Ok(())
    })
    .await
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let json_out = args.conn.json;
    run_reporting(json_out, "import", async move {
        let file = ConfigFile::load(args.conn.config_file.as_deref())?;
        let conn = connection(&args.conn, &file)?;
        let input = args
            .input_file
            .clone()
            .or_else(|| file.text("AUTH0_INPUT_FILE").map(PathBuf::from))
            .context("pass --input-file (-i) with a tenant.yaml or a folder holding hooks/")?;
        let base_path = args
            .base_path
            .clone()
            .or_else(|| file.text("AUTH0_BASE_PATH").map(PathBuf::from));
        let explicit = match args.keyword_mappings.as_deref() {
            Some(text) => Mappings::parse_object(text)?,
            None => match file.0.get("AUTH0_KEYWORD_REPLACE_MAPPINGS") {
                Some(Value::Object(map)) => map.clone(),
                Some(Value::String(text)) => Mappings::parse_object(text)?,
                Some(_) => anyhow::bail!(
                    "AUTH0_KEYWORD_REPLACE_MAPPINGS in the config file must be an object"
                ),
                None => Map::new(),
            },
        };
        let use_env = !args.no_env && args.env.unwrap_or(true);
        let env: Vec<(String, String)> = if use_env {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        } else {
            Vec::new()
        };
        let mappings = Mappings::new(explicit, env);
        let dry_run = match args.dry_run.as_deref() {
            None => false,
            Some("preview") | Some("true") => true,
            Some(other) => anyhow::bail!("--dry-run takes no value (or =preview), not {other:?}"),
        };
        let opts = ImportOptions {
            allow_delete: args.allow_delete
                || env_truthy("AUTH0_ALLOW_DELETE")
                || file.truthy("AUTH0_ALLOW_DELETE"),
            dry_run,
        };
        // The files are checked completely before anything is sent.
        let loaded = hookhaven_deploy::load_files(&input, base_path.as_deref(), &mappings)?;
        let progress = Progress::auto(json_out);
        let api = Api::connect(&conn).await?;
        let mut report = hookhaven_deploy::plan_import(&api, loaded, &opts, &progress).await?;
        if !json_out {
            // The plan comes first, then the changes as they are applied (on stderr).
            print!("{}", report.plan_text());
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        hookhaven_deploy::apply_import(&api, &mut report, &progress).await?;
        if json_out {
            println!("{}", report.to_json());
        } else {
            print!("{}", report.result_text());
        }
        if !report.ok() {
            return Err(Reported(format!(
                "the import failed part way: {} change(s) applied, {} failed (see above)",
                report.applied.len(),
                report.failed.len()
            ))
            .into());
        }
        Ok(())
    })
    .await
}
