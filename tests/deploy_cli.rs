//! A real Auth0 client accepts the emulator: `auth0-deploy-cli` (Auth0's configuration-as-code
//! tool, pinned in scripts/deploy-cli/) imports, re-imports and exports a tenant holding two
//! `samlp` connections and a SAML application against `auth0-emulator` serving HTTPS with a
//! certificate from a test CA, and what it wrote is what the operator's own client
//! (`Auth0Client`) reads back (docs/AUTH0_API.md §12).
//!
//! deploy-cli comes from `SSO_A0DEPLOY` (`scripts/test.sh` sets it to the last line of
//! `scripts/install-deploy-cli.sh`); without it the test runs that script itself. It never
//! skips: when deploy-cli cannot be installed or run, the test fails and says why.

#[path = "support/test_ca.rs"]
mod test_ca;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sso_operator::auth0::{Auth0Client, Auth0Config, Connection, RetryTiming};
use sso_operator::certs::Certificate;
use sso_operator::emulator::admin::AdminClient;
use sso_operator::emulator::{
    self, CallRecord, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, RunningEmulator,
};
use sso_operator::metadata::parse_idp_metadata;
use sso_operator::secret::SecretString;
use url::Url;

/// The application of the tenant file.
const APP: &str = "Acme SAML App";
/// One deploy-cli run may take this long (it compiles its JSON schemas with ajv, about half a
/// minute of CPU on a busy two-core machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// What the server derives from `signingCert` after every options write (docs/AUTH0_API.md §5).
const DERIVED: [&str; 4] = ["cert", "thumbprints", "expires", "subject"];
/// What a create adds to `options` on a current tenant and a PATCH of `options` without it
/// drops (docs/AUTH0_API.md §4, §12).
const CREATE_DEFAULT: &str = "assertion_decryption_settings";

/// The `a0deploy` executable: `SSO_A0DEPLOY`, else what `scripts/install-deploy-cli.sh`
/// installs (and prints on its last line).
fn a0deploy() -> PathBuf {
    if let Some(path) = std::env::var_os("SSO_A0DEPLOY") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SSO_A0DEPLOY={} is not a file; run scripts/install-deploy-cli.sh",
            path.display()
        );
        return path;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-deploy-cli.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "auth0-deploy-cli could not be installed: {} exited with {}\n{}\n{}",
        script.display(),
        out.status,
        tail(&stdout),
        tail(&stderr)
    );
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(
        path.is_file(),
        "{} did not print the a0deploy path on its last line:\n{stdout}",
        script.display()
    );
    path
}

/// The last lines of a program's output, for failure messages, without the colour codes
/// deploy-cli's logger always writes.
fn tail(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let lines: Vec<&str> = plain.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// What one deploy-cli run printed.
struct Run {
    output: String,
    took: Duration,
}

/// Runs `a0deploy ARGS` in `dir` with the test CA trusted and nothing of the caller's
/// environment (no `AUTH0_*` variable, no proxy); fails with its output unless it exits 0.
async fn deploy_cli(bin: &Path, dir: &Path, ca_file: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(bin);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("NODE_EXTRA_CA_CERTS", ca_file)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Some(value) = std::env::var_os(keep) {
            command.env(keep, value);
        }
    }
    let out = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "a0deploy {} did not finish within {RUN_TIMEOUT:?}",
                args.join(" ")
            )
        })
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "a0deploy {} exited with {}; its output ends:\n{}",
        args.join(" "),
        out.status,
        tail(&output)
    );
    Run {
        output,
        took: started.elapsed(),
    }
}

/// A fixture's IdP metadata, parsed as the operator parses it.
fn idp(name: &str) -> sso_operator::metadata::IdpMetadata {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/idp-metadata")
        .join(name);
    let xml = std::fs::read(&path).unwrap();
    parse_idp_metadata(&xml, None, Timestamp::now()).unwrap()
}

/// The operator's client, trusting the test CA.
fn operator_client(running: &RunningEmulator, ca_pem: &str) -> Auth0Client {
    let mut config = Auth0Config::new(
        Url::parse(&running.base_url()).unwrap(),
        DEFAULT_CLIENT_ID,
        SecretString::new(DEFAULT_CLIENT_SECRET),
    );
    config.extra_root_certificates = Some(ca_pem.to_string());
    config.rate_per_second = 1000.0;
    config.burst = 100;
    config.timing = RetryTiming {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        min_rate_limit_wait: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(3),
    };
    Auth0Client::new(config).unwrap()
}

/// The calls after `seq` as `METHOD path?query status`, ids replaced by placeholders, sorted
/// (deploy-cli sends some in parallel).
fn normalized(calls: &[CallRecord], ids: &[(&str, &str)]) -> Vec<String> {
    let mut lines: Vec<String> = calls
        .iter()
        .map(|c| {
            let mut line = format!("{} {}", c.method, c.path);
            if !c.query.is_empty() {
                line = format!("{line}?{}", c.query);
            }
            for (id, placeholder) in ids {
                line = line.replace(id, placeholder);
            }
            format!("{line} {}", c.status)
        })
        .collect();
    lines.sort();
    lines
}

/// Everything the operator reads back of the tenant deploy-cli manages.
#[derive(Debug, PartialEq)]
struct ReadBack {
    okta: Value,
    entra: Value,
    okta_clients: Vec<String>,
    entra_clients: Vec<String>,
    app: sso_operator::auth0::applications::Application,
}

async fn read_back(client: &Auth0Client) -> (ReadBack, Connection, Connection) {
    let okta = client
        .find_connection_by_name("acme-okta")
        .await
        .unwrap()
        .expect("acme-okta exists");
    let entra = client
        .find_connection_by_name("acme-entra")
        .await
        .unwrap()
        .expect("acme-entra exists");
    // A read by id gives the same connection as the lookup by name.
    for conn in [&okta, &entra] {
        let by_id = client.get_connection(&conn.id).await.unwrap().unwrap();
        assert_eq!(&by_id, conn);
    }
    let apps = client.applications_named(APP).await.unwrap();
    assert_eq!(apps.len(), 1, "exactly one {APP}: {apps:?}");
    let app = client
        .get_application(&apps[0].client_id)
        .await
        .unwrap()
        .expect("the application reads by id");
    assert_eq!(app, apps[0]);
    let read = ReadBack {
        okta: okta.options.clone().expect("options readable"),
        entra: entra.options.clone().expect("options readable"),
        okta_clients: client.enabled_clients(&okta.id).await.unwrap(),
        entra_clients: client.enabled_clients(&entra.id).await.unwrap(),
        app,
    };
    (read, okta, entra)
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
}

/// `options` as read back: every option of the file as written (after deploy-cli's
/// transformations, in `expected`), the four derived from `cert`, and nothing else but
/// `allowed_extra`.
fn assert_options(name: &str, read: &Value, expected: &Value, cert: &Certificate, extra: &[&str]) {
    let read = object(read);
    for (key, want) in object(expected) {
        assert_eq!(read.get(key), Some(want), "{name}: options.{key}");
    }
    assert_eq!(read["cert"], json!(cert.to_pem()), "{name}: options.cert");
    assert_eq!(
        read["thumbprints"],
        json!([cert.sha1_hex()]),
        "{name}: options.thumbprints"
    );
    assert_eq!(
        read["subject"],
        Value::Object(cert.subject_long_names()),
        "{name}: options.subject"
    );
    let expires: Timestamp = read["expires"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, cert.not_after(), "{name}: options.expires");
    let keys: BTreeSet<&str> = read.keys().map(String::as_str).collect();
    let mut want: BTreeSet<&str> = object(expected).keys().map(String::as_str).collect();
    want.extend(DERIVED);
    want.extend(extra);
    assert_eq!(keys, want, "{name}: the option keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_cli_imports_reimports_and_exports_saml_connections_and_an_application() {
    let bin = a0deploy();
    let dir = tempfile::tempdir().unwrap();
    let pki = test_ca::localhost_pki("sso-operator deploy-cli test CA");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();

    let running = start_tls_emulator(&pki, 0).await;
    let port = running.addr().port();
    assert_eq!(running.base_url(), format!("https://localhost:{port}"));
    let admin = AdminClient::with_http(running.base_url(), test_ca::https_client(&pki.ca_pem));
    let operator = operator_client(&running, &pki.ca_pem);

    // Two IdPs from the fixtures: Okta's certificate as Auth0's canonical base64(PEM), Entra
    // ID's as raw PEM through deploy-cli's @@…@@ keyword replacement (a JSON string), and the
    // Entra sign-in URL's host through ##…## replacement.
    let okta = idp("okta-app.xml");
    let entra = idp("azure-entra-tenant.xml");
    let okta_cert = okta.selected_cert().clone();
    let entra_cert = entra.selected_cert().clone();
    let okta_sso = okta.sso_redirect.clone().unwrap();
    let entra_sso = entra.sso_redirect.clone().unwrap();
    let entra_host = Url::parse(&entra_sso)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let entra_sso_templated = entra_sso.replace(&entra_host, "##IDP_HOST##");
    let callbacks = [
        "https://sp.acme.test/saml/acs",
        "https://sp.acme.test/saml/acs/alt",
    ];
    let samlp = json!({
        "audience": "urn:acme:sp",
        "recipient": "https://sp.acme.test/saml/acs",
        "mappings": {
            "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        },
        "nameIdentifierFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "nameIdentifierProbes": ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"],
        "signatureAlgorithm": "rsa-sha256",
        "digestAlgorithm": "sha256",
        "lifetimeInSeconds": 3600,
        "signResponse": true,
        "logout": {"callback": "https://sp.acme.test/saml/slo", "slo_enabled": true},
    });
    let tenant_yaml = format!(
        r#"clients:
  - name: {APP}
    app_type: regular_web
    callbacks: @@SP_CALLBACKS@@
    addons:
      samlp: {samlp}
connections:
  - name: acme-okta
    strategy: samlp
    display_name: Acme (Okta)
    show_as_button: true
    enabled_clients:
      - {APP}
    options:
      signingCert: {okta_signing_cert}
      signInEndpoint: {okta_sso}
      signOutEndpoint: https://fabrikam.example-idp.test/logout
      signSAMLRequest: true
      signatureAlgorithm: rsa-sha256
      digestAlgorithm: sha256
      protocolBinding: urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST
      debug: false
      domain_aliases:
        - acme.test
      idpinitiated:
        enabled: true
        client_id: {APP}
        client_protocol: samlp
  - name: acme-entra
    strategy: samlp
    enabled_clients:
      - {APP}
    options:
      signingCert: @@ENTRA_SIGNING_CERT@@
      signInEndpoint: {entra_sso_templated}
      signSAMLRequest: false
      debug: true
      fieldsMap:
        email: http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress
"#,
        okta_signing_cert = okta_cert.signing_cert_value(),
    );
    let tenant_file = dir.path().join("tenant.yaml");
    std::fs::write(&tenant_file, &tenant_yaml).unwrap();
    let config = json!({
        "AUTH0_DOMAIN": format!("localhost:{port}"),
        "AUTH0_CLIENT_ID": DEFAULT_CLIENT_ID,
        "AUTH0_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "AUTH0_INCLUDED_ONLY": ["clients", "connections"],
        "AUTH0_ALLOW_DELETE": false,
        "AUTH0_KEYWORD_REPLACE_MAPPINGS": {
            "IDP_HOST": entra_host,
            "ENTRA_SIGNING_CERT": entra_cert.to_pem(),
            "SP_CALLBACKS": callbacks,
        },
    });
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    // 1. Import into an empty tenant.
    let seq = admin.last_seq().await.unwrap();
    let import = deploy_cli(
        &bin,
        dir.path(),
        &ca_file,
        &import_args(&config_file, &tenant_file),
    )
    .await;
    let import_calls = admin.calls_since(seq).await.unwrap();
    let (first, okta_conn, entra_conn) = read_back(&operator).await;
    let app_id = first.app.client_id.clone();
    let ids = [
        (okta_conn.id.as_str(), "{okta}"),
        (entra_conn.id.as_str(), "{entra}"),
        (app_id.as_str(), "{app}"),
    ];
    // It resolves application names first (with and without the global client), creates the
    // application, lists connections (twice) and directory provisionings, creates both
    // connections, waits 2.5 s, finds each by name and enables the application on it.
    assert_eq!(
        normalized(&import_calls, &ids),
        [
            "GET /api/v2/clients?page=0&per_page=100&include_totals=true 200",
            "GET /api/v2/clients?page=0&per_page=100&include_totals=true&is_global=false 200",
            "GET /api/v2/connections-directory-provisionings?take=50 200",
            "GET /api/v2/connections?include_totals=true&take=1&name=acme-entra&include_fields=true 200",
            "GET /api/v2/connections?include_totals=true&take=1&name=acme-okta&include_fields=true 200",
            "GET /api/v2/connections?include_totals=true&take=50 200",
            "GET /api/v2/connections?include_totals=true&take=50 200",
            "PATCH /api/v2/connections/{entra}/clients 204",
            "PATCH /api/v2/connections/{okta}/clients 204",
            "POST /api/v2/clients 201",
            "POST /api/v2/connections 201",
            "POST /api/v2/connections 201",
            "POST /oauth/token 200",
        ],
        "{}",
        tail(&import.output)
    );

    // The application: what the file said, the callbacks from the @@SP_CALLBACKS@@ array.
    assert_eq!(first.app.name, APP);
    assert_eq!(first.app.callbacks, callbacks);
    assert_eq!(first.app.addons, *object(&json!({"samlp": samlp})));
    assert_eq!(Value::Object(first.app.samlp()), samlp);
    let stored_app = admin.client(&app_id).await.unwrap().unwrap();
    assert_eq!(stored_app["app_type"], "regular_web");

    // The connections: the file's options; deploy-cli turned idpinitiated.client_id from the
    // application's name into its id and replaced the keywords, and it sent enabled_clients
    // (names in the file) as ids through PATCH …/clients, not in the connection body.
    let okta_options = json!({
        "signingCert": okta_cert.signing_cert_value(),
        "signInEndpoint": okta_sso,
        "signOutEndpoint": "https://fabrikam.example-idp.test/logout",
        "signSAMLRequest": true,
        "signatureAlgorithm": "rsa-sha256",
        "digestAlgorithm": "sha256",
        "protocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        "debug": false,
        "domain_aliases": ["acme.test"],
        "idpinitiated": {"enabled": true, "client_id": app_id, "client_protocol": "samlp"},
    });
    let entra_options = json!({
        "signingCert": entra_cert.to_pem(),
        "signInEndpoint": entra_sso,
        "signSAMLRequest": false,
        "debug": true,
        "fieldsMap": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
    });
    assert_options(
        "acme-okta",
        &first.okta,
        &okta_options,
        &okta_cert,
        &[CREATE_DEFAULT],
    );
    assert_options(
        "acme-entra",
        &first.entra,
        &entra_options,
        &entra_cert,
        &[CREATE_DEFAULT],
    );
    assert_eq!(okta_conn.strategy, "samlp");
    assert_eq!(entra_conn.strategy, "samlp");
    assert_eq!(okta_conn.other["display_name"], "Acme (Okta)");
    assert_eq!(okta_conn.other["show_as_button"], true);
    assert_eq!(entra_conn.other["show_as_button"], false);
    assert!(entra_conn.other.get("display_name").is_none());
    assert_eq!(first.okta_clients, [app_id.as_str()]);
    assert_eq!(first.entra_clients, [app_id.as_str()]);

    // 2. Re-import the same file: deploy-cli reads the SCIM configuration and enabled clients of
    // every connection, PATCHes the application and every connection (with only the options
    // of the file), and leaves the enabled clients alone, since they did not change.
    let seq = admin.last_seq().await.unwrap();
    let reimport = deploy_cli(
        &bin,
        dir.path(),
        &ca_file,
        &import_args(&config_file, &tenant_file),
    )
    .await;
    let reimport_calls = admin.calls_since(seq).await.unwrap();
    assert_eq!(
        normalized(&reimport_calls, &ids),
        [
            "GET /api/v2/clients?page=0&per_page=100&include_totals=true 200",
            "GET /api/v2/clients?page=0&per_page=100&include_totals=true&is_global=false 200",
            "GET /api/v2/connections-directory-provisionings?take=50 200",
            "GET /api/v2/connections/{entra}/clients?take=100 200",
            "GET /api/v2/connections/{entra}/scim-configuration 404",
            "GET /api/v2/connections/{okta}/clients?take=100 200",
            "GET /api/v2/connections/{okta}/scim-configuration 404",
            "GET /api/v2/connections?include_totals=true&take=50 200",
            "GET /api/v2/connections?include_totals=true&take=50 200",
            "PATCH /api/v2/clients/{app} 200",
            "PATCH /api/v2/connections/{entra} 200",
            "PATCH /api/v2/connections/{okta} 200",
            "POST /oauth/token 200",
        ],
        "{}",
        tail(&reimport.output)
    );
    let (second, _, _) = read_back(&operator).await;
    // The same state, except the create default that the PATCH of options replaced away.
    let mut expected = first;
    for options in [&mut expected.okta, &mut expected.entra] {
        options.as_object_mut().unwrap().remove(CREATE_DEFAULT);
    }
    assert_eq!(second, expected);
    assert_options("acme-okta", &second.okta, &okta_options, &okta_cert, &[]);
    assert_options(
        "acme-entra",
        &second.entra,
        &entra_options,
        &entra_cert,
        &[],
    );

    // 3. Export: only reads.
    let out_dir = dir.path().join("export");
    let seq = admin.last_seq().await.unwrap();
    let out_arg = out_dir.to_str().unwrap();
    let export = deploy_cli(
        &bin,
        dir.path(),
        &ca_file,
        &[
            "export",
            "-c",
            config_file.to_str().unwrap(),
            "-f",
            "yaml",
            "-o",
            out_arg,
        ],
    )
    .await;
    assert_eq!(
        normalized(&admin.calls_since(seq).await.unwrap(), &ids),
        [
            "GET /api/v2/clients?page=0&per_page=100&include_totals=true&is_global=false 200",
            "GET /api/v2/connections-directory-provisionings?take=50 200",
            "GET /api/v2/connections/{entra}/clients?take=100 200",
            "GET /api/v2/connections/{entra}/scim-configuration 404",
            "GET /api/v2/connections/{okta}/clients?take=100 200",
            "GET /api/v2/connections/{okta}/scim-configuration 404",
            "GET /api/v2/connections?include_totals=true&take=50 200",
            "POST /oauth/token 200",
        ],
        "{}",
        tail(&export.output)
    );
    let exported_file = out_dir.join("tenant.yaml");
    let exported_text = std::fs::read_to_string(&exported_file).unwrap();
    assert!(!exported_text.contains(DEFAULT_CLIENT_SECRET));
    let exported: Value = serde_yaml::from_str(&exported_text).unwrap();
    assert_export(
        &exported,
        &second,
        &okta_options,
        &entra_options,
        &samlp,
        &callbacks,
    );

    // 4. The export imported into another (empty) tenant, deploy-cli's promotion workflow:
    // the file now carries the derived cert, thumbprints, expires and subject, and cert as
    // base64(PEM); the second tenant derives them again and reads back the same.
    // Another seed: other ids.
    let other = start_tls_emulator(&pki, 1).await;
    let other_config = dir.path().join("other-config.json");
    let mut config2 = config.clone();
    config2["AUTH0_DOMAIN"] = json!(format!("localhost:{}", other.addr().port()));
    std::fs::write(&other_config, serde_json::to_vec_pretty(&config2).unwrap()).unwrap();
    let promote = deploy_cli(
        &bin,
        dir.path(),
        &ca_file,
        &import_args(&other_config, &exported_file),
    )
    .await;
    let (third, okta3, entra3) = read_back(&operator_client(&other, &pki.ca_pem)).await;
    let new_app = third.app.client_id.clone();
    assert_ne!(new_app, app_id);
    assert_eq!(third.app.callbacks, callbacks, "{}", tail(&promote.output));
    assert_eq!(Value::Object(third.app.samlp()), samlp);
    assert_eq!(third.okta_clients, [new_app.as_str()]);
    assert_eq!(third.entra_clients, [new_app.as_str()]);
    assert_eq!(okta3.other["display_name"], "Acme (Okta)");
    // The connections as in the first tenant, the application's id aside, with the create
    // default of the new tenant.
    let mut okta_there = second.okta.clone();
    okta_there["idpinitiated"]["client_id"] = json!(new_app);
    let mut okta_read = third.okta.clone();
    let mut entra_read = third.entra.clone();
    for options in [&mut okta_read, &mut entra_read] {
        assert!(
            options
                .as_object_mut()
                .unwrap()
                .remove(CREATE_DEFAULT)
                .is_some()
        );
    }
    assert_eq!(okta_read, okta_there);
    // Entra ID's raw-PEM signingCert went through the file base64-encoded, and stays so.
    let mut entra_there = second.entra.clone();
    entra_there["signingCert"] = json!(B64.encode(entra_cert.to_pem()));
    assert_eq!(entra_read, entra_there);
    assert_eq!(entra3.strategy, "samlp");

    eprintln!(
        "deploy-cli: import {:?}, re-import {:?}, export {:?}, import of the export elsewhere {:?}",
        import.took, reimport.took, export.took, promote.took
    );
    other.shutdown().await;
    running.shutdown().await;
}

fn import_args<'a>(config: &'a Path, input: &'a Path) -> [&'a str; 5] {
    [
        "import",
        "-c",
        config.to_str().unwrap(),
        "-i",
        input.to_str().unwrap(),
    ]
}

/// An emulator serving HTTPS with the test CA's `localhost` certificate; `seed` sets its ids.
async fn start_tls_emulator(pki: &test_ca::TestPki, seed: u64) -> RunningEmulator {
    emulator::start(EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(pki.server.clone()),
        seed,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// base64 of a PEM text, as deploy-cli writes certificates on export; `None` if it is not.
fn decoded_pem(value: &Value) -> Option<String> {
    let text = String::from_utf8(B64.decode(value.as_str()?).ok()?).ok()?;
    text.starts_with("-----BEGIN CERTIFICATE-----")
        .then_some(text)
}

/// The exported `tenant.yaml`: both connections and the application with the settings of the
/// file, after deploy-cli's export transformations — ids back to names (enabled_clients,
/// idpinitiated.client_id), no client ids or secrets, certificates that begin with
/// `-----BEGIN CERTIFICATE-----` (the derived `cert`, a raw-PEM `signingCert`) base64-encoded —
/// and with the server's defaults it read.
fn assert_export(
    exported: &Value,
    state: &ReadBack,
    okta_options: &Value,
    entra_options: &Value,
    samlp: &Value,
    callbacks: &[&str],
) {
    let clients = exported["clients"].as_array().expect("clients exported");
    let names: Vec<&str> = clients.iter().filter_map(|c| c["name"].as_str()).collect();
    // Every non-global application, the machine-to-machine one deploy-cli runs as included
    // (the emulator lists it as Auth0 lists the application of a client grant).
    assert_eq!(names, [APP, DEFAULT_CLIENT_ID]);
    let app = &clients[0];
    assert_eq!(app["app_type"], "regular_web");
    assert_eq!(app["callbacks"], json!(callbacks));
    assert_eq!(app["addons"], json!({"samlp": samlp}));
    for absent in [
        "client_id",
        "client_secret",
        "signing_keys",
        "tenant",
        "global",
    ] {
        assert!(app.get(absent).is_none(), "{absent} exported: {app}");
    }

    let connections = exported["connections"]
        .as_array()
        .expect("connections exported");
    let by_name = |name: &str| {
        connections
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} exported: {exported}"))
    };
    for (name, read, file_options) in [
        ("acme-okta", &state.okta, okta_options),
        ("acme-entra", &state.entra, entra_options),
    ] {
        let conn = by_name(name);
        assert_eq!(conn["strategy"], "samlp");
        assert!(conn.get("id").is_none(), "{conn}");
        assert_eq!(conn["enabled_clients"], json!([APP]), "{name}");
        let options = object(&conn["options"]);
        let read = object(read);
        let keys: BTreeSet<&String> = options.keys().collect();
        assert_eq!(keys, read.keys().collect(), "{name}: exported option keys");
        for (key, value) in options {
            match key.as_str() {
                // Turned back from the id into the name.
                "idpinitiated" => {
                    let mut want = file_options["idpinitiated"].clone();
                    want["client_id"] = json!(APP);
                    assert_eq!(value, &want, "{name}");
                }
                // PEM as read, base64-encoded by deploy-cli.
                "cert" => assert_eq!(
                    decoded_pem(value).as_ref(),
                    read["cert"].as_str().map(str::to_string).as_ref(),
                    "{name}: options.cert"
                ),
                "signingCert" => match decoded_pem(&read[key]) {
                    // Stored as base64(PEM) already: exported unchanged.
                    Some(_) => assert_eq!(value, &read[key], "{name}"),
                    // Stored as raw PEM: exported base64-encoded.
                    None => assert_eq!(
                        decoded_pem(value).as_deref(),
                        read[key].as_str(),
                        "{name}: options.signingCert"
                    ),
                },
                _ => assert_eq!(value, &read[key], "{name}: options.{key}"),
            }
        }
    }
    assert_eq!(by_name("acme-okta")["display_name"], "Acme (Okta)");
    assert_eq!(by_name("acme-okta")["show_as_button"], true);
    assert_eq!(by_name("acme-entra")["show_as_button"], false);
}
