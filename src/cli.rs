//! Command-line interface: every flag also reads an environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// sso-operator: Auth0 SAML enterprise connections from Kubernetes manifests.
#[derive(Parser, Debug)]
#[command(name = "sso-operator", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "SSO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of commands that print results.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(Box<RunArgs>),
    /// Print the SsoConnection CRD as YAML.
    Crd,
    /// Work with IdP federation metadata.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Show what `apply` would change in Auth0 for the given manifests, without a cluster.
    Plan(OfflineArgs),
    /// Reconcile the given manifests against Auth0 without a cluster and print the status.
    Apply(OfflineArgs),
    /// Decrypt an `encryptedSigningCert` produced by the local encryption backend.
    Decrypt(DecryptArgs),
}

/// `metadata` subcommands.
#[derive(Subcommand, Debug)]
pub enum MetadataCommand {
    /// Parse a federation metadata file and show what would be sent to Auth0.
    Inspect(InspectArgs),
}

/// `metadata inspect` arguments.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Metadata XML file (`-` for standard input).
    pub file: PathBuf,
    /// Which entity to use when the file aggregates several entities (IdPs or SPs).
    #[arg(long)]
    pub entity_id: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Auth0 Management API settings.
#[derive(Args, Debug, Clone, Default)]
pub struct Auth0Args {
    /// Auth0 tenant domain, e.g. `acme.us.auth0.com`.
    #[arg(long, env = "AUTH0_DOMAIN")]
    pub auth0_domain: Option<String>,
    /// Machine-to-machine application client id.
    #[arg(long, env = "AUTH0_CLIENT_ID")]
    pub auth0_client_id: Option<String>,
    /// Its client secret (prefer --auth0-client-secret-file).
    #[arg(long, env = "AUTH0_CLIENT_SECRET", hide_env_values = true)]
    pub auth0_client_secret: Option<String>,
    /// File holding the client secret.
    #[arg(long, env = "AUTH0_CLIENT_SECRET_FILE")]
    pub auth0_client_secret_file: Option<PathBuf>,
    /// Base URL of the API, overriding `https://{domain}` (e.g. the emulator's
    /// `http://127.0.0.1:8787`).
    #[arg(long, env = "AUTH0_URL")]
    pub auth0_url: Option<String>,
    /// Tenant name for the SP entity ID `urn:auth0:{tenant}:{connection}`; default: the first
    /// label of the domain.
    #[arg(long, env = "AUTH0_TENANT")]
    pub auth0_tenant: Option<String>,
    /// Public (custom) domain used in ACS and SP metadata URLs; default: the tenant domain.
    #[arg(long, env = "AUTH0_PUBLIC_DOMAIN")]
    pub auth0_public_domain: Option<String>,
    /// Auth0 request budget: sustained requests per second shared by all calls.
    #[arg(long, env = "AUTH0_RATE_LIMIT", default_value_t = 2.0)]
    pub auth0_rate_limit: f64,
    /// Auth0 request budget: burst size.
    #[arg(long, env = "AUTH0_RATE_BURST", default_value_t = 2)]
    pub auth0_rate_burst: u32,
    /// Timeout of one Auth0 request, in seconds.
    #[arg(long, env = "AUTH0_TIMEOUT_SECONDS", default_value_t = 15)]
    pub auth0_timeout_seconds: u64,
}

/// Encryption backend for the IdP signing certificate.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EncryptionBackend {
    /// Embedded AES-256-GCM with a local key.
    #[default]
    Local,
    /// An HTTP `encrypt-string` service.
    Http,
}

/// Encryption settings.
#[derive(Args, Debug, Clone, Default)]
pub struct EncryptionArgs {
    /// Which backend encrypts the IdP signing certificate.
    #[arg(long, env = "SSO_ENCRYPTION_BACKEND", value_enum, default_value_t)]
    pub encryption_backend: EncryptionBackend,
    /// File holding the local key: base64 of 32 bytes.
    #[arg(long, env = "SSO_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// The local key itself, base64 of 32 bytes (prefer the file).
    #[arg(long, env = "SSO_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    /// Key id written into the envelope; default: derived from the key.
    #[arg(long, env = "SSO_ENCRYPTION_KEY_ID")]
    pub encryption_key_id: Option<String>,
    /// Base URL of the HTTP encryption service (`POST {url}/encrypt-string`).
    #[arg(long, env = "SSO_ENCRYPT_URL")]
    pub encrypt_url: Option<String>,
    /// File holding the bearer token for the HTTP encryption service.
    #[arg(long, env = "SSO_ENCRYPT_TOKEN_FILE")]
    pub encrypt_token_file: Option<PathBuf>,
    /// JSON field of the HTTP response that holds the ciphertext (plain-text bodies are also
    /// accepted).
    #[arg(
        long,
        env = "SSO_ENCRYPT_RESPONSE_FIELD",
        default_value = "encryptedString"
    )]
    pub encrypt_response_field: String,
    /// Timeout of one encryption request, in seconds.
    #[arg(long, env = "SSO_ENCRYPT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub encrypt_timeout_seconds: u64,
}

/// `plan` / `apply` arguments.
#[derive(Args, Debug)]
pub struct OfflineArgs {
    /// Manifest files or directories (multi-document YAML); repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Namespace for manifests that name none.
    /// Let `spec.metadata.url` reach loopback, private and link-local addresses (and plain
    /// http there): for IdPs inside the cluster, and tests. Cloud metadata endpoints stay
    /// refused.
    #[arg(long, env = "SSO_ALLOW_PRIVATE_METADATA_URLS", default_value_t = false)]
    pub allow_private_metadata_urls: bool,
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub auth0: Auth0Args,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
    /// Cluster id written into the ownership marker of what `apply` creates or adopts; use
    /// the id of the cluster that will manage the connections (see `run --cluster-id`).
    #[arg(long, env = "SSO_CLUSTER_ID", default_value = "offline")]
    pub cluster_id: String,
    /// Namespace whose Secrets hold the credentials of ClusterAuth0Tenants in the manifests.
    #[arg(
        long,
        env = "SSO_CLUSTER_RESOURCE_NAMESPACE",
        default_value = "sso-operator"
    )]
    pub cluster_resource_namespace: String,
}

/// `decrypt` arguments.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// File holding the envelope (`-` or absent: standard input).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
}

/// `run` arguments.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub auth0: Auth0Args,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
    /// Only watch this namespace (default: all).
    #[arg(long, env = "SSO_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Drift resync interval in seconds (jittered); at most 86400, so that status (e.g.
    /// certificate expiry) is recomputed at least daily.
    #[arg(long, env = "SSO_RESYNC_SECONDS", default_value_t = 3600)]
    pub resync_seconds: u64,
    /// Days before a certificate's notAfter when the CertificateExpiring condition turns True
    /// (reason ExpiresSoon).
    #[arg(long, env = "SSO_CERTIFICATE_WARNING_DAYS", default_value_t = 30)]
    pub certificate_warning_days: u32,
    /// Days before a certificate's notAfter at which a Warning Event is published, once per
    /// threshold and certificate (comma-separated); expiry itself is always noticed.
    #[arg(
        long,
        env = "SSO_CERTIFICATE_NOTICE_DAYS",
        value_delimiter = ',',
        default_value = "90,30,7,1"
    )]
    pub certificate_notice_days: Vec<u32>,
    /// Let `spec.metadata.url` reach loopback, private and link-local addresses (and plain
    /// http there): for IdPs inside the cluster, and tests. Cloud metadata endpoints stay
    /// refused.
    #[arg(long, env = "SSO_ALLOW_PRIVATE_METADATA_URLS", default_value_t = false)]
    pub allow_private_metadata_urls: bool,
    /// Reconciles running at once.
    #[arg(long, env = "SSO_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Listen address of /livez, /readyz and /metrics.
    #[arg(long, env = "SSO_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: String,
    /// Run leader election on a coordination.k8s.io Lease (needed with several replicas).
    #[arg(long, env = "SSO_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace).
    #[arg(long, env = "SSO_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long a leader's Lease stays valid without renewal, in seconds (failover time).
    #[arg(long, env = "SSO_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// How long before expiry the leader renews its Lease, in seconds.
    #[arg(long, env = "SSO_LEASE_GRACE_SECONDS", default_value_t = 5)]
    pub lease_grace_seconds: u64,
    /// Identity of this replica in leader election (default: hostname).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// This cluster's id in the ownership marker of every Auth0 object the operator manages
    /// (default: the UID of the kube-system namespace). Clusters sharing an Auth0 tenant must
    /// have different ids.
    #[arg(long, env = "SSO_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// Namespace of the credentials Secrets of ClusterAuth0Tenants (default: the pod's
    /// namespace).
    #[arg(long, env = "SSO_CLUSTER_RESOURCE_NAMESPACE")]
    pub cluster_resource_namespace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["sso-operator", "run"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Run(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn certificate_flags_take_the_charts_spelling_and_default_as_documented() {
        let args = run_args(&[
            "--certificate-warning-days=14",
            "--certificate-notice-days=60,14,2",
        ]);
        assert_eq!(args.certificate_warning_days, 14);
        assert_eq!(args.certificate_notice_days, [60, 14, 2]);
        let args = run_args(&[]);
        assert!(
            !args.allow_private_metadata_urls,
            "private metadata URLs are refused by default"
        );
        assert_eq!(args.certificate_warning_days, 30);
        assert_eq!(args.certificate_notice_days, [90, 30, 7, 1]);
    }
}
