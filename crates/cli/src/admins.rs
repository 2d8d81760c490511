//! `hookhaven admins create|list|delete`: the Dashboard's administrator accounts, managed
//! directly on a data dir (no server needed). The password is read from standard input,
//! never from a flag, so it stays out of shell history and process listings.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Subcommand;
use hookhaven_core::AuditEvent;
use hookhaven_server::bootstrap::{open_data_dir, operator_error};
use hookhaven_server::dashboard::auth;
use serde_json::json;
use zeroize::Zeroizing;

use crate::settings::StorageArgs;

#[derive(Subcommand)]
pub enum AdminsCommand {
    /// Create a Dashboard administrator. The password is read from standard input (at a
    /// terminal: asked twice, not echoed; otherwise: the first line).
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        /// The administrator's email address, used to sign in.
        #[arg(long)]
        email: String,
    },
    /// List administrators as JSON (never their password hashes).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Delete an administrator; their sessions end at once.
    Delete {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        email: String,
    },
}

pub async fn run(command: AdminsCommand) -> anyhow::Result<()> {
    init_logging();
    match command {
        AdminsCommand::Create { storage, email } => create(storage, &email).await,
        AdminsCommand::List { storage } => list(storage).await,
        AdminsCommand::Delete { storage, email } => delete(storage, &email).await,
    }
}

/// A validation message without the API's "Payload validation error" wrapping.
fn plain(e: &hookhaven_core::Error) -> anyhow::Error {
    let m = e.message();
    anyhow::anyhow!(
        "{}",
        m.trim_start_matches("Payload validation error: '")
            .trim_end_matches("'.")
    )
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Turns terminal echo off or on (Unix terminals; best effort).
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

fn read_line(prompt: Option<&str>) -> anyhow::Result<Zeroizing<String>> {
    if let Some(prompt) = prompt {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    if prompt.is_some() {
        set_echo(true);
        eprintln!();
    }
    read.context("reading the password from standard input")?;
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    Ok(line)
}

fn read_password() -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let first = read_line(Some("Password: "))?;
        let second = read_line(Some("Password again: "))?;
        if *first != *second {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        read_line(None)
    }
}

async fn create(storage: StorageArgs, email: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    if password.is_empty() {
        bail!("no password on standard input");
    }
    auth::check_password_rules(&password).map_err(|e| plain(&e))?;
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let admin = auth::create_admin(opened.store.as_ref(), email, &password, "cli")
        .await
        .map_err(|e| match e {
            hookhaven_core::Error::InvalidBody(_) | hookhaven_core::Error::AdminExists => plain(&e),
            other => operator_error(other),
        })?;
    println!("created administrator {}", admin.email);
    Ok(())
}

async fn list(storage: StorageArgs) -> anyhow::Result<()> {
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let admins = opened.store.list_admins().await.map_err(operator_error)?;
    let out: Vec<_> = admins
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "email": a.email,
                "created_at": hookhaven_server::dashboard::html::datetime(a.created_at),
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn delete(storage: StorageArgs, email: &str) -> anyhow::Result<()> {
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let email = auth::normalize_email(email).map_err(|e| plain(&e))?;
    let event = AuditEvent::success("cli", "admin.delete", None).target(&email);
    opened
        .store
        .delete_admin(&email, &event)
        .await
        .map_err(|e| match e {
            hookhaven_core::Error::AdminNotFound => {
                anyhow::anyhow!("there is no administrator {email}")
            }
            other => operator_error(other),
        })?;
    println!("deleted administrator {email}");
    Ok(())
}
