//! `sso-operator plan`/`apply` against a separately started `auth0-emulator` binary, as a user
//! would run them: the merge keeps foreign options, a second apply writes nothing, turning
//! `restrictSsoOnly` off removes `domain_aliases`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sso_operator::emulator::admin::AdminClient;

const SSO: &str = env!("CARGO_BIN_EXE_sso-operator");
const EMULATOR: &str = env!("CARGO_BIN_EXE_auth0-emulator");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/idp-metadata")
            .join(name),
    )
    .unwrap()
}

struct Emulator {
    child: Child,
    base: String,
    admin: AdminClient,
    runtime: tokio::runtime::Runtime,
}

impl Emulator {
    fn start() -> Emulator {
        let mut child = Command::new(EMULATOR)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("auth0-emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("the emulator prints its base URL")
            .to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Emulator {
            child,
            admin: AdminClient::new(base.as_str()),
            base,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn seed(&self, connection: Value) {
        if let Err(e) = self
            .runtime
            .block_on(self.admin.seed_connection(connection))
        {
            panic!("{e}");
        }
    }

    fn connection(&self, name: &str) -> Value {
        self.runtime
            .block_on(self.admin.connection_named(name))
            .unwrap()
            .unwrap_or(Value::Null)
    }

    /// Methods and paths of Management API calls after `since`.
    fn api_calls_since(&self, since: u64) -> Vec<String> {
        let calls = self
            .runtime
            .block_on(self.admin.calls_since(since))
            .unwrap();
        calls
            .iter()
            .filter(|c| c.path.starts_with("/api/v2"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    fn last_seq(&self) -> u64 {
        self.runtime.block_on(self.admin.last_seq()).unwrap()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifests(dir: &Path, restrict: bool, adopt: bool) {
    let xml = fixture("azure-entra-tenant.xml");
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "acme-idp-metadata"},
        "data": {"federationmetadata.xml": xml},
    });
    let sso = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
        "metadata": {"name": "acme"},
        "spec": {
            "companyDomain": "acme.com", "connectionName": "acme-azure", "provider": "azureAd",
            "metadata": {"configMapRef": {"name": "acme-idp-metadata", "key": "federationmetadata.xml"}},
            "restrictSsoOnly": restrict, "adoptExisting": adopt,
            "attributeMapping": {"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"},
        },
    });
    let text = format!(
        "{}---\n{}",
        serde_yaml::to_string(&cm).unwrap(),
        serde_yaml::to_string(&sso).unwrap()
    );
    std::fs::write(dir.join("acme.yaml"), text).unwrap();
}

fn sso(args: &[&str], emulator: &Emulator, dir: &Path) -> (i32, String, String) {
    let out = Command::new(SSO)
        .args(args)
        .arg("-f")
        .arg(dir)
        .args(["--auth0-url", &emulator.base, "-n", "customers"])
        .env_remove("AUTH0_DOMAIN")
        .env_remove("AUTH0_CLIENT_ID")
        .env_remove("AUTH0_CLIENT_SECRET")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn foreign_connection() -> Value {
    // Extract the Okta fixture's certificate: a connection someone set up by hand earlier.
    let xml = fixture("okta-app.xml");
    let start = xml.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + xml[start..].find('<').unwrap();
    let cert = sso_operator::certs::Certificate::from_base64_text(&xml[start..end]).unwrap();
    json!({
        "name": "acme-azure", "strategy": "samlp",
        "options": {
            "signInEndpoint": "https://old-idp.example-idp.test/sso",
            "signingCert": cert.signing_cert_value(),
            "requestTemplate": "<samlp:AuthnRequest @@AssertServiceURLAndDestination@@ />",
            "assertion_decryption_settings": {"algorithm_profile": "v2026-1", "algorithm_exceptions": []},
            "upstream_params": {"screen_name": {"alias": "login_hint"}},
            "x_future_option": {"enabled": true, "nested": {"depth": [1, 2, 3]}},
            "debug": true,
            "metadataUrl": "https://old-idp.example-idp.test/metadata.xml",
        },
    })
}

#[test]
fn apply_refuses_a_foreign_connection_then_adopts_it_keeping_every_foreign_option() {
    let emulator = Emulator::start();
    emulator.seed(foreign_connection());
    let before = emulator.connection("acme-azure");
    let dir = tempfile::tempdir().unwrap();

    manifests(dir.path(), true, false);
    let seq = emulator.last_seq();
    let (code, stdout, _) = sso(&["apply"], &emulator, dir.path());
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("ConnectionConflict"), "{stdout}");
    assert!(
        stdout.contains("adoptExisting"),
        "the message says how to take it over: {stdout}"
    );
    let writes: Vec<String> = emulator
        .api_calls_since(seq)
        .into_iter()
        .filter(|c| !c.starts_with("GET"))
        .collect();
    assert!(
        writes.is_empty(),
        "a foreign connection is never written: {writes:?}"
    );
    assert_eq!(emulator.connection("acme-azure"), before);

    manifests(dir.path(), true, true);
    let (code, stdout, stderr) = sso(&["apply", "-o", "json"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result[0]["action"], "updated", "{stdout}");
    assert_eq!(result[0]["status"]["conditions"][0]["reason"], "Synced");
    let after = emulator.connection("acme-azure");
    let options = &after["options"];
    for kept in [
        "requestTemplate",
        "assertion_decryption_settings",
        "upstream_params",
        "x_future_option",
        "debug",
    ] {
        assert_eq!(
            options[kept], before["options"][kept],
            "{kept} survives the merge"
        );
    }
    assert!(
        options.get("metadataUrl").is_none(),
        "metadataUrl is removed"
    );
    assert_eq!(options["domain_aliases"], json!(["acme.com"]));
    assert_eq!(
        options["signInEndpoint"],
        "https://login.contoso-example.com/4f2b8c1e-7d3a-4e59-9b61-2c0d5a8e7f13/saml2"
    );
    assert_eq!(
        options["thumbprints"],
        json!(["036b35fc81a4bdea40b7082a87b79516798326ba"]),
        "Auth0 derived the thumbprint of the Azure certificate we sent as signingCert"
    );
    assert_eq!(after["metadata"]["managed-by"], "sso-operator");
    assert_eq!(after["metadata"]["sso-operator-owner"], "customers/acme");

    // A second apply of the same manifests reads and writes nothing.
    let seq = emulator.last_seq();
    let (code, stdout, _) = sso(&["apply", "-o", "json"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}");
    let calls = emulator.api_calls_since(seq);
    assert!(!calls.is_empty());
    assert!(
        calls.iter().all(|c| c.starts_with("GET")),
        "zero writes: {calls:?}"
    );
    assert_eq!(
        emulator.connection("acme-azure")["options"],
        after["options"]
    );

    // Turning restrictSsoOnly off offline: apply keeps no record of which aliases it set
    // (the controller keeps one in status.appliedOptions), so it leaves domain_aliases alone,
    // reports them as unclaimed, and changes nothing else.
    manifests(dir.path(), false, true);
    let seq = emulator.last_seq();
    let (code, stdout, _) = sso(&["plan"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("domain_aliases"), "{stdout}");
    assert!(
        emulator
            .api_calls_since(seq)
            .iter()
            .all(|c| c.starts_with("GET")),
        "plan never writes"
    );
    let (code, stdout, _) = sso(&["apply", "-o", "json"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        result[0]["status"]["unclaimedDomainAliases"],
        json!(["acme.com"]),
        "{stdout}"
    );
    let last = emulator.connection("acme-azure");
    assert_eq!(last["options"]["domain_aliases"], json!(["acme.com"]));
    for kept in [
        "requestTemplate",
        "assertion_decryption_settings",
        "x_future_option",
        "fieldsMap",
        "signingCert",
    ] {
        assert_eq!(
            last["options"][kept], after["options"][kept],
            "{kept} is kept"
        );
    }
}

#[test]
fn apply_without_credentials_uses_the_embedded_emulator_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), true, false);
    let out = Command::new(SSO)
        .args(["apply", "-o", "json", "-f"])
        .arg(dir.path())
        .env_remove("AUTH0_DOMAIN")
        .env_remove("AUTH0_CLIENT_ID")
        .env_remove("AUTH0_CLIENT_SECRET")
        .env_remove("AUTH0_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("embedded Auth0 emulator"), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result[0]["action"], "created");
    let status = &result[0]["status"];
    assert_eq!(status["connectionName"], "acme-azure");
    assert_eq!(status["entityId"], "urn:auth0:emulator:acme-azure");
    assert_eq!(
        status["acsUrl"],
        "https://emulator.local/login/callback?connection=acme-azure"
    );
    // Both certificates are valid; Entra ID lists the one it signs with first: that one is used,
    // the other reported with why it was not chosen.
    assert_eq!(
        status["signingCertificate"]["sha1Thumbprint"],
        "036b35fc81a4bdea40b7082a87b79516798326ba"
    );
    assert_eq!(
        status["otherSigningCertificates"][0]["sha1Thumbprint"],
        "8bfee73fb2eeea676a338a1cbb50e7720e98d3ab"
    );
    for secret_marker in [
        "-----BEGIN",
        "LS0tLS1CRUdJTi",
        "PRIVATE KEY",
        "emulator-secret",
    ] {
        assert!(
            !stdout.contains(secret_marker),
            "output leaks {secret_marker}"
        );
    }
}

#[test]
fn bad_metadata_is_reported_with_its_kind_and_nothing_is_written() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), false, false);
    let text = std::fs::read_to_string(dir.path().join("acme.yaml")).unwrap();
    let broken = text.replace("IDPSSODescriptor", "SPSSODescriptor");
    std::fs::write(dir.path().join("acme.yaml"), broken).unwrap();
    let seq = emulator.last_seq();
    let (code, stdout, _) = sso(&["apply"], &emulator, dir.path());
    assert_eq!(code, 1);
    assert!(stdout.contains("InvalidMetadata"), "{stdout}");
    assert!(stdout.contains("no_idp_descriptor"), "{stdout}");
    assert!(
        emulator.api_calls_since(seq).is_empty(),
        "no Auth0 call for unusable input"
    );
}

#[test]
fn apply_with_credential_variables_set_but_empty_refuses_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), true, false);
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::new(SSO);
        command.args(["apply", "-o", "json", "-f"]).arg(dir.path());
        for var in [
            "AUTH0_DOMAIN",
            "AUTH0_CLIENT_ID",
            "AUTH0_CLIENT_SECRET",
            "AUTH0_CLIENT_SECRET_FILE",
            "AUTH0_URL",
            "AUTH0_TENANT",
            "AUTH0_PUBLIC_DOMAIN",
        ] {
            command.env_remove(var);
        }
        command.envs(vars.iter().copied());
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = run(&[
        ("AUTH0_DOMAIN", ""),
        ("AUTH0_CLIENT_ID", ""),
        ("AUTH0_CLIENT_SECRET", ""),
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "nothing applied: {stdout}");
    assert!(!stderr.contains("embedded Auth0 emulator at"), "{stderr}");
    for name in ["AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"] {
        assert!(stderr.contains(name), "names {name}: {stderr}");
    }

    // One empty variable among good ones is named alone.
    let (code, _, stderr) = run(&[
        ("AUTH0_DOMAIN", "acme.us.auth0.com"),
        ("AUTH0_CLIENT_ID", "cid"),
        ("AUTH0_CLIENT_SECRET", "   "),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("AUTH0_CLIENT_SECRET"), "{stderr}");
    assert!(!stderr.contains("AUTH0_DOMAIN"), "{stderr}");
}

#[test]
fn apply_never_prints_secret_looking_extra_options_and_a_second_apply_writes_nothing() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), true, false);
    let text = std::fs::read_to_string(dir.path().join("acme.yaml")).unwrap();
    let secrets = [
        ("client_secret", "extra-client-secret-value"),
        ("bindPassword", "extra-password-value"),
        ("apiToken", "extra-token-value"),
    ];
    let mut extra = String::from("  extraOptions:\n    debug: false\n");
    for (key, value) in secrets {
        extra.push_str(&format!("    {key}: {value}\n"));
    }
    let with_secrets = text.replace("  companyDomain:", &format!("{extra}  companyDomain:"));
    assert_ne!(with_secrets, text, "extraOptions added to the spec");
    std::fs::write(dir.path().join("acme.yaml"), with_secrets).unwrap();

    for output in [["apply", "-o", "json"].as_slice(), ["apply"].as_slice()] {
        let seq = emulator.last_seq();
        let (code, stdout, stderr) = sso(output, &emulator, dir.path());
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        for (key, value) in secrets {
            assert!(!stdout.contains(value), "{key} printed in clear: {stdout}");
            assert!(!stderr.contains(value), "{key} logged in clear: {stderr}");
        }
        if output.len() == 3 {
            let result: Value = serde_json::from_str(&stdout).unwrap();
            let applied = &result[0]["status"]["appliedOptions"];
            assert_eq!(applied["debug"], false, "{stdout}");
            for (key, _) in secrets {
                assert!(applied[key].is_string(), "{key} recorded: {stdout}");
            }
        } else {
            // The second apply: reads only.
            let calls = emulator.api_calls_since(seq);
            assert!(
                calls.iter().all(|c| c.starts_with("GET")),
                "zero writes: {calls:?}"
            );
        }
    }
    // Auth0 got the real values.
    let options = &emulator.connection("acme-azure")["options"];
    for (key, value) in secrets {
        assert_eq!(options[key], value);
    }
}

/// `apply` reads tenant manifests and their credential Secrets from the files: each
/// SsoConnection lands in the tenant its `tenantRef` names, with the full ownership marker,
/// and a reference to a tenant that is not in the files is `TenantNotFound`.
#[test]
fn apply_uses_the_tenant_manifests_the_connections_name() {
    let flags_tenant = Emulator::start();
    let named_tenant = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let xml = fixture("okta-app.xml");
    let tenant = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "Auth0Tenant",
        "metadata": {"name": "own"},
        "spec": {
            "domain": "own-tenant.example-auth0.com",
            "baseUrl": named_tenant.base,
            "credentialsSecretRef": {"name": "own-credentials"},
        },
    });
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "own-credentials"},
        "stringData": {"client_id": "sso-operator-emulator", "client_secret": "emulator-secret"},
    });
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "md"},
        "data": {"federationmetadata.xml": xml},
    });
    let resource = |name: &str, tenant: &str| {
        json!({
            "apiVersion": "sso-operator.io/v1alpha1", "kind": "SsoConnection",
            "metadata": {"name": name},
            "spec": {
                "tenantRef": {"kind": "Auth0Tenant", "name": tenant},
                "companyDomain": "acme.com",
                "metadata": {"configMapRef": {"name": "md", "key": "federationmetadata.xml"}},
            },
        })
    };
    let docs: Vec<String> = [
        tenant,
        secret,
        cm,
        resource("in-own", "own"),
        resource("in-missing", "missing"),
    ]
    .iter()
    .map(|d| serde_yaml::to_string(d).unwrap())
    .collect();
    std::fs::write(dir.path().join("all.yaml"), docs.join("---\n")).unwrap();

    let (code, stdout, stderr) = sso(&["apply", "-o", "json"], &flags_tenant, dir.path());
    assert_eq!(code, 1, "one resource fails: {stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    let by_name = |n: &str| {
        result
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r.to_string().contains(n))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("in-own")["action"], "created", "{stdout}");
    assert_eq!(
        by_name("in-own")["status"]["entityId"],
        "urn:auth0:own-tenant:in-own",
        "the tenant's name, from its domain: {stdout}"
    );
    assert!(
        by_name("in-missing").to_string().contains("TenantNotFound"),
        "{stdout}"
    );
    let created = named_tenant.connection("in-own");
    assert_eq!(
        created["metadata"]["sso-operator-owner"],
        "customers/in-own"
    );
    assert_eq!(created["metadata"]["sso-operator-cluster"], "offline");
    assert!(
        flags_tenant.connection("in-own").is_null(),
        "not in the flags' tenant"
    );
    assert!(named_tenant.connection("in-missing").is_null());
}

/// `plan` lists the organization and SCIM changes and writes nothing; `apply` enables the
/// connection on the organization beside a connection already enabled there and creates the
/// SCIM configuration (the token is issued only by the operator in the cluster, into a
/// Secret); a second `apply` writes nothing and `plan` then reports the connection unchanged.
#[test]
fn plan_and_apply_enable_the_connection_on_an_organization_and_configure_scim() {
    let emulator = Emulator::start();
    let admin = &emulator.admin;
    let org = emulator
        .runtime
        .block_on(admin.create_organization("acme"))
        .unwrap();
    let google = emulator
        .runtime
        .block_on(admin.seed_connection(
            json!({"name": "acme-google", "strategy": "google-apps", "options": {}}),
        ))
        .unwrap();
    let google_id = google["id"].as_str().unwrap().to_string();
    emulator
        .runtime
        .block_on(admin.enable_connection(&org, &google_id, false, true))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Routed, so an apply looks the name up before it would create.
    manifests(dir.path(), true, false);
    let text = std::fs::read_to_string(dir.path().join("acme.yaml")).unwrap();
    let b2b = "  displayName: Acme (Entra ID)\n  organizations:\n  - name: acme\n    assignMembershipOnLogin: true\n  scim:\n    enabled: true\n    userIdAttribute: userName\n";
    let with_b2b = text.replace("  companyDomain:", &format!("{b2b}  companyDomain:"));
    assert_ne!(with_b2b, text);
    std::fs::write(dir.path().join("acme.yaml"), with_b2b).unwrap();

    let seq = emulator.last_seq();
    let (code, stdout, stderr) = sso(&["plan"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for line in [
        format!("+ organization acme ({org}): assignMembershipOnLogin=true, showAsButton=true"),
        "+ scim configuration: userIdAttribute=userName, mapping=(Auth0 default)".to_string(),
        "+ scim token: issued by the operator in the cluster into Secret acme-scim".to_string(),
    ] {
        assert!(
            stdout.contains(&line),
            "{line:?} missing from the plan:\n{stdout}"
        );
    }
    let calls = emulator.api_calls_since(seq);
    assert!(calls.iter().all(|c| c.starts_with("GET")), "{calls:?}");

    let (code, stdout, stderr) = sso(&["apply", "-o", "json"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    let conn_id = result[0]["connectionId"].as_str().unwrap().to_string();
    let enabled = emulator
        .runtime
        .block_on(admin.enabled_connections(&org))
        .unwrap();
    let ids: Vec<&str> = enabled
        .iter()
        .filter_map(|i| i["connection_id"].as_str())
        .collect();
    assert!(
        ids.contains(&conn_id.as_str()) && ids.contains(&google_id.as_str()),
        "{enabled:?}"
    );
    let config = emulator
        .runtime
        .block_on(admin.scim_configuration(&conn_id))
        .unwrap()
        .expect("SCIM configured");
    assert_eq!(config["user_id_attribute"], "userName");
    let scim = &result[0]["status"]["scim"];
    assert!(
        scim["endpoint"]
            .as_str()
            .is_some_and(|e| e.ends_with(&format!("/scim/v2/connections/{conn_id}"))),
        "{scim}"
    );
    assert!(scim["tokenId"].is_null(), "apply issues no token: {scim}");
    assert!(
        emulator
            .runtime
            .block_on(admin.scim_tokens(&conn_id))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        emulator.connection("acme-azure")["display_name"],
        "Acme (Entra ID)"
    );

    let seq = emulator.last_seq();
    let (code, stdout, stderr) = sso(&["apply"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let calls = emulator.api_calls_since(seq);
    assert!(
        calls.iter().all(|c| c.starts_with("GET")),
        "zero writes: {calls:?}"
    );
    let (code, stdout, _) = sso(&["plan"], &emulator, dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains(": unchanged"), "{stdout}");
}

/// `plan`/`apply` handle `SamlApplication` manifests like SsoConnections: the plan lists the
/// addon settings and writes nothing, `apply` creates the application, a second `apply`
/// writes nothing.
#[test]
fn plan_and_apply_handle_a_saml_application() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let app = json!({
        "apiVersion": "sso-operator.io/v1alpha1", "kind": "SamlApplication",
        "metadata": {"name": "portal"},
        "spec": {"entityId": "https://portal.example/sp", "acsUrl": "https://portal.example/acs", "signResponse": true},
    });
    std::fs::write(
        dir.path().join("portal.yaml"),
        serde_yaml::to_string(&app).unwrap(),
    )
    .unwrap();
    let seq = emulator.last_seq();
    let (code, stdout, stderr) = sso(&["plan"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("samlapplication customers/portal (Auth0 application portal): create"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ addons.samlp.audience: \"https://portal.example/sp\""),
        "{stdout}"
    );
    assert!(
        emulator
            .api_calls_since(seq)
            .iter()
            .all(|c| c.starts_with("GET"))
    );

    let (code, stdout, stderr) = sso(&["apply", "-o", "json"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    let id = result[0]["clientId"]
        .as_str()
        .expect("client id")
        .to_string();
    assert_eq!(result[0]["status"]["clientId"], id.as_str());
    let stored = emulator
        .runtime
        .block_on(emulator.admin.client(&id))
        .unwrap()
        .expect("created");
    assert_eq!(stored["addons"]["samlp"]["signResponse"], true);
    assert_eq!(stored["callbacks"], json!(["https://portal.example/acs"]));

    let seq = emulator.last_seq();
    let (code, stdout, stderr) = sso(&["apply"], &emulator, dir.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains(": unchanged"), "{stdout}");
    let calls = emulator.api_calls_since(seq);
    assert!(
        calls.iter().all(|c| c.starts_with("GET")),
        "zero writes: {calls:?}"
    );
}
