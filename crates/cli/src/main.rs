//! The `hookhaven` binary: the server and the offline administration commands.

mod admins;
mod commands;
mod db;
mod deploy;
mod hooks;
mod keys;
mod settings;

use clap::{Parser, Subcommand};

use settings::{ServeArgs, StorageArgs};

#[derive(Parser)]
#[command(
    name = "hookhaven",
    version,
    about = "A self-hosted, Auth0-compatible server for Hooks and their secrets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite in ./data by default; no configuration needed).
    Serve(Box<ServeArgs>),
    /// Manage machine-to-machine clients directly on a data dir (no server needed).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Read the audit log directly from a data dir.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List or disable hooks directly on a data dir (no server needed): the way back in
    /// when a credentials-exchange hook refuses every token.
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// Manage the Dashboard's administrators directly on a data dir (no server needed).
    #[command(subcommand)]
    Admins(admins::AdminsCommand),
    /// Copy a database to another backend (`db migrate`), or back up SQLite (`db backup`).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Rotate the master key and the JWT signing key; show which key seals how many values.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Export hooks and secret names from a server in auth0-deploy-cli's files (yaml or directory).
    #[command(visible_alias = "dump")]
    Export(deploy::ExportArgs),
    /// Plan, then apply, hooks and secrets from auth0-deploy-cli's files to a server.
    #[command(visible_alias = "deploy")]
    Import(deploy::ImportArgs),
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Create a client and print its credentials as JSON (the only time the secret is shown).
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Space-separated scopes to grant on the Management API, e.g. "read:hooks update:hooks".
        #[arg(long)]
        scopes: String,
    },
    /// List clients and their granted scopes as JSON.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Delete a client and its grants.
    Delete {
        #[command(flatten)]
        storage: StorageArgs,
        client_id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print audit events, newest first, one JSON object per line.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Only events about this hook id.
        #[arg(long)]
        hook: Option<String>,
        /// Only events by this actor (a client id, `cli` or `bootstrap`).
        #[arg(long)]
        actor: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve(*args).await,
            Command::Clients(ClientsCommand::Create {
                storage,
                name,
                description,
                scopes,
            }) => commands::clients_create(storage, &name, &description, &scopes).await,
            Command::Clients(ClientsCommand::List { storage }) => {
                commands::clients_list(storage).await
            }
            Command::Clients(ClientsCommand::Delete { storage, client_id }) => {
                commands::clients_delete(storage, &client_id).await
            }
            Command::Audit(AuditCommand::List {
                storage,
                hook,
                actor,
                limit,
            }) => commands::audit_list(storage, hook, actor, limit).await,
            Command::Db(command) => db::run(command).await,
            Command::Hooks(command) => hooks::run(command).await,
            Command::Admins(command) => admins::run(command).await,
            Command::Keys(command) => keys::run(command).await,
            Command::Export(args) => deploy::export(args).await,
            Command::Import(args) => deploy::import(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
