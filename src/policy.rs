//! What a namespace may do with a tenant (pure): the `ClusterAuth0Tenant` policy, and the
//! claims of email domains among the SsoConnections of one tenant.
//!
//! Checked before anything is sent to Auth0. The trust model: the cluster administrator owns
//! namespaces (their labels and annotations) and tenant resources; a namespace's users own
//! only what is in their namespace.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use crate::crd::{
    ALLOWED_DOMAINS_ANNOTATION, ALLOWED_ORGANIZATIONS_ANNOTATION, DomainPolicy, OrganizationPolicy,
    SsoConnectionSpec, TenantPolicy,
};
use crate::ownership::Adoption;
use crate::status::Reason;

/// What the policy needs to know about the resource's namespace.
#[derive(Debug, Clone, Default)]
pub struct NamespaceFacts {
    /// The namespace's name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Why the policy refuses a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The namespace is outside `namespaceSelector`.
    NamespaceNotSelected {
        /// The tenant resource.
        tenant: String,
    },
    /// The selector cannot be evaluated (the tenant is misconfigured).
    InvalidSelector {
        /// The tenant resource.
        tenant: String,
        /// The parse error.
        message: String,
    },
    /// A claimed domain is not granted to the namespace.
    DomainNotAllowed {
        /// The domain.
        domain: String,
        /// What the namespace annotation grants.
        granted: Vec<String>,
    },
    /// An organization is not granted to the namespace.
    OrganizationNotAllowed {
        /// The organization as the spec names it (name or id).
        organization: String,
        /// What the namespace annotation grants.
        granted: Vec<String>,
    },
    /// An application outside `allowedClients`.
    ClientNotAllowed {
        /// The client id.
        client: String,
    },
    /// `spec.metadata.url` names a host outside `allowedMetadataHosts`.
    MetadataHostNotAllowed {
        /// The URL's host (or the whole value when it has none).
        host: String,
        /// The tenant's allowed hosts.
        allowed: Vec<String>,
    },
    /// The connection name lacks the required prefix.
    NamePrefix {
        /// The connection name.
        name: String,
        /// The required prefix, `{namespace}` replaced.
        prefix: String,
    },
}

impl Violation {
    /// The `Ready` reason.
    pub fn reason(&self) -> Reason {
        match self {
            Violation::NamespaceNotSelected { .. } | Violation::InvalidSelector { .. } => {
                Reason::TenantNotAllowed
            }
            Violation::DomainNotAllowed { .. } => Reason::DomainNotAllowed,
            Violation::OrganizationNotAllowed { .. } => Reason::OrganizationNotAllowed,
            Violation::MetadataHostNotAllowed { .. } => Reason::MetadataUrlNotAllowed,
            Violation::ClientNotAllowed { .. } | Violation::NamePrefix { .. } => {
                Reason::InvalidSpec
            }
        }
    }

    /// What is wrong and what to do; names no secret.
    pub fn message(&self, namespace: &str) -> String {
        match self {
            Violation::NamespaceNotSelected { tenant } => format!(
                "{tenant} does not admit namespace {namespace} (its spec.policy.namespaceSelector does not match the namespace's labels); nothing was sent to Auth0; ask the cluster administrator to label the namespace, or use another tenant"
            ),
            Violation::InvalidSelector { tenant, message } => format!(
                "{tenant} has an unusable spec.policy.namespaceSelector ({message}); nothing was sent to Auth0; the cluster administrator must fix the tenant"
            ),
            Violation::DomainNotAllowed { domain, granted } => format!(
                "namespace {namespace} may not claim the domain {domain}: the tenant only allows domains listed in the namespace annotation {ALLOWED_DOMAINS_ANNOTATION} ({}); nothing was sent to Auth0; ask the cluster administrator to grant it",
                if granted.is_empty() {
                    "none is granted".to_string()
                } else {
                    format!("granted: {}", granted.join(", "))
                }
            ),
            Violation::OrganizationNotAllowed {
                organization,
                granted,
            } => format!(
                "namespace {namespace} may not enable connections on the Auth0 organization {organization}: the tenant only allows organizations listed (by name or id) in the namespace annotation {ALLOWED_ORGANIZATIONS_ANNOTATION} ({}); nothing was sent to Auth0; ask the cluster administrator to grant it",
                if granted.is_empty() {
                    "none is granted".to_string()
                } else {
                    format!("granted: {}", granted.join(", "))
                }
            ),
            Violation::ClientNotAllowed { client } => format!(
                "spec.enabledClients names the application {client}, which the tenant's spec.policy.allowedClients does not list; remove it, or ask the cluster administrator to allow it"
            ),
            Violation::MetadataHostNotAllowed { host, allowed } => format!(
                "spec.metadata.url names the host {host}, which the tenant's spec.policy.allowedMetadataHosts does not list ({}); nothing was fetched or sent to Auth0; use the IdP's published metadata host, or ask the cluster administrator to allow it",
                allowed.join(", ")
            ),
            Violation::NamePrefix { name, prefix } => format!(
                "the Auth0 connection name {name:?} must start with {prefix:?} (the tenant's spec.policy.connectionNamePrefix); set spec.connectionName accordingly"
            ),
        }
    }
}

/// The domains an annotation value grants: comma- or whitespace-separated, lowercase.
pub fn granted_domains(annotations: &BTreeMap<String, String>) -> Vec<String> {
    annotations
        .get(ALLOWED_DOMAINS_ANNOTATION)
        .map(|v| {
            v.split([',', ' ', '\n', '\t'])
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The organizations (names or ids) an annotation value grants: comma- or
/// whitespace-separated. Names are compared without case (Auth0 keeps them lowercase); ids
/// exactly.
pub fn granted_organizations(annotations: &BTreeMap<String, String>) -> Vec<String> {
    annotations
        .get(ALLOWED_ORGANIZATIONS_ANNOTATION)
        .map(|v| {
            v.split([',', ' ', '\n', '\t'])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the organization `key` (a name or an `org_` id, as the spec names it) is granted.
pub fn organization_granted(key: &str, granted: &[String]) -> bool {
    granted.iter().any(|g| {
        if key.starts_with("org_") {
            g == key
        } else {
            g.eq_ignore_ascii_case(key)
        }
    })
}

/// Whether `domain` is one of `granted` or a subdomain of one.
pub fn domain_granted(domain: &str, granted: &[String]) -> bool {
    let domain = domain.to_ascii_lowercase();
    granted
        .iter()
        .any(|g| domain == *g || domain.ends_with(&format!(".{g}")))
}

/// Whether `host` (lowercase) is `pattern`, or a subdomain when the pattern is `*.domain`.
pub fn host_matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(parent) => host.ends_with(&format!(".{parent}")),
        None => host == pattern,
    }
}

/// The adoption rule of a tenant policy.
pub fn adoption(policy: Option<&TenantPolicy>) -> Adoption {
    match policy.map(|p| p.adoption) {
        Some(crate::crd::AdoptionPolicy::Disabled) => Adoption::Disabled,
        _ => Adoption::Unowned,
    }
}

/// Checks a resource against a `ClusterAuth0Tenant` policy. `tenant` names the tenant resource
/// in messages; `connection_name` is the Auth0 connection name the resource would use.
pub fn check(
    policy: &TenantPolicy,
    tenant: &str,
    namespace: &NamespaceFacts,
    spec: &SsoConnectionSpec,
    connection_name: &str,
) -> Result<(), Violation> {
    check_namespace(policy, tenant, namespace)?;
    check_claims(policy, namespace, spec)?;
    check_name(policy, namespace, connection_name)
}

/// Whether the tenant admits the namespace at all (`namespaceSelector`).
pub fn check_namespace(
    policy: &TenantPolicy,
    tenant: &str,
    namespace: &NamespaceFacts,
) -> Result<(), Violation> {
    if let Some(selector) = &policy.namespace_selector {
        let selector =
            Selector::try_from(selector.clone()).map_err(|e| Violation::InvalidSelector {
                tenant: tenant.to_string(),
                message: e.to_string(),
            })?;
        if !selector.matches(&namespace.labels) {
            return Err(Violation::NamespaceNotSelected {
                tenant: tenant.to_string(),
            });
        }
    }
    Ok(())
}

/// Domains, organizations, applications and the metadata host an SsoConnection names.
fn check_claims(
    policy: &TenantPolicy,
    namespace: &NamespaceFacts,
    spec: &SsoConnectionSpec,
) -> Result<(), Violation> {
    if policy.domains == DomainPolicy::NamespaceAnnotation {
        let granted = granted_domains(&namespace.annotations);
        if let Some(domain) = spec
            .claimed_domains()
            .into_iter()
            .find(|d| !domain_granted(d, &granted))
        {
            return Err(Violation::DomainNotAllowed { domain, granted });
        }
    }
    if policy.organizations == OrganizationPolicy::NamespaceAnnotation {
        let granted = granted_organizations(&namespace.annotations);
        if let Some(org) = spec
            .organizations
            .iter()
            .find(|o| !organization_granted(o.key(), &granted))
        {
            return Err(Violation::OrganizationNotAllowed {
                organization: org.key().to_string(),
                granted,
            });
        }
    }
    if let Some(allowed) = &policy.allowed_clients
        && let Some(client) = spec.enabled_clients.iter().find(|c| !allowed.contains(c))
    {
        return Err(Violation::ClientNotAllowed {
            client: client.clone(),
        });
    }
    if let (Some(allowed), Some(url)) = (&policy.allowed_metadata_hosts, &spec.metadata.url) {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_else(|| url.clone());
        if !allowed.iter().any(|pattern| host_matches(&host, pattern)) {
            return Err(Violation::MetadataHostNotAllowed {
                host,
                allowed: allowed.clone(),
            });
        }
    }
    Ok(())
}

/// The Auth0 name (of a connection or an application) must start with
/// `connectionNamePrefix`.
pub fn check_name(
    policy: &TenantPolicy,
    namespace: &NamespaceFacts,
    connection_name: &str,
) -> Result<(), Violation> {
    if let Some(prefix) = &policy.connection_name_prefix {
        let prefix = prefix.replace("{namespace}", &namespace.name);
        if !connection_name.starts_with(&prefix) {
            return Err(Violation::NamePrefix {
                name: connection_name.to_string(),
                prefix,
            });
        }
    }
    Ok(())
}

/// One SsoConnection's claim on domains within a tenant.
#[derive(Debug, Clone)]
pub struct DomainClaim {
    /// `namespace/name`.
    pub resource: String,
    /// Its creation time (older claims win).
    pub created: Option<Timestamp>,
    /// The claimed domains, lowercase.
    pub domains: Vec<String>,
    /// Whether the claim is already applied (the resource is Ready with these domains): an
    /// established holder is never displaced, whatever the timestamps (they have one-second
    /// resolution, so two claims made in the same second would otherwise fall to the name).
    pub established: bool,
}

impl DomainClaim {
    fn precedes(&self, other: &DomainClaim) -> bool {
        // Established claims first; then the oldest (a missing timestamp sorts last); the
        // name breaks ties deterministically.
        let key = |c: &DomainClaim| {
            (
                !c.established,
                c.created.is_none(),
                c.created,
                c.resource.clone(),
            )
        };
        key(self) < key(other)
    }
}

/// The first of `mine`'s domains that an older claim in `others` holds: `(domain, holder)`.
pub fn domain_conflict(mine: &DomainClaim, others: &[DomainClaim]) -> Option<(String, String)> {
    mine.domains.iter().find_map(|domain| {
        others
            .iter()
            .filter(|o| o.resource != mine.resource && o.domains.contains(domain))
            .filter(|o| o.precedes(mine))
            .min_by(|a, b| {
                if a.precedes(b) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
            .map(|holder| (domain.clone(), holder.resource.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn spec(domains: &[&str], clients: &[&str]) -> SsoConnectionSpec {
        serde_json::from_value(serde_json::json!({
            "companyDomains": domains,
            "enabledClients": clients,
            "metadata": {"configMapRef": {"name": "m", "key": "k"}}
        }))
        .unwrap()
    }

    fn ns(name: &str, labels: &[(&str, &str)], allowed: Option<&str>) -> NamespaceFacts {
        NamespaceFacts {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: allowed
                .map(|a| BTreeMap::from([(ALLOWED_DOMAINS_ANNOTATION.to_string(), a.to_string())]))
                .unwrap_or_default(),
        }
    }

    const T: &str = "ClusterAuth0Tenant/prod";

    #[test]
    fn by_default_a_namespace_claims_only_the_domains_its_annotation_grants() {
        let policy = TenantPolicy::default();
        let granted = ns("tenant-a", &[], Some("acme.com, acme.co.uk"));
        assert_eq!(
            check(
                &policy,
                T,
                &granted,
                &spec(&["acme.com", "eu.acme.com", "ACME.co.uk"], &[]),
                "c"
            ),
            Ok(())
        );
        let err = check(
            &policy,
            T,
            &granted,
            &spec(&["acme.com", "gmail.com"], &[]),
            "c",
        )
        .unwrap_err();
        assert_eq!(err.reason(), Reason::DomainNotAllowed);
        assert!(err.message("tenant-a").contains("gmail.com"));
        assert!(err.message("tenant-a").contains("acme.com, acme.co.uk"));
        // A suffix that is not a subdomain is not granted.
        assert!(check(&policy, T, &granted, &spec(&["notacme.com"], &[]), "c").is_err());
        let bare = ns("tenant-b", &[], None);
        let err = check(&policy, T, &bare, &spec(&["acme.com"], &[]), "c").unwrap_err();
        assert!(err.message("tenant-b").contains("none is granted"));
        let open = TenantPolicy {
            domains: DomainPolicy::Unrestricted,
            ..Default::default()
        };
        assert_eq!(
            check(&open, T, &bare, &spec(&["gmail.com"], &[]), "c"),
            Ok(())
        );
    }

    #[test]
    fn the_namespace_selector_admits_only_matching_namespaces() {
        let policy = TenantPolicy {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("sso".to_string(), "prod".to_string())])),
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "In".into(),
                    values: Some(vec!["identity".into(), "platform".into()]),
                }]),
            }),
            domains: DomainPolicy::Unrestricted,
            ..Default::default()
        };
        let s = spec(&["acme.com"], &[]);
        let inside = ns("a", &[("sso", "prod"), ("team", "identity")], None);
        assert_eq!(check(&policy, T, &inside, &s, "c"), Ok(()));
        for outside in [
            ns("b", &[("sso", "prod")], None),
            ns("c", &[("sso", "dev"), ("team", "identity")], None),
            ns("d", &[], None),
        ] {
            let err = check(&policy, T, &outside, &s, "c").unwrap_err();
            assert_eq!(err.reason(), Reason::TenantNotAllowed, "{}", outside.name);
            assert!(err.message(&outside.name).contains(T));
        }
    }

    #[test]
    fn a_namespace_enables_connections_only_on_the_organizations_it_was_granted() {
        let with_orgs = |orgs: serde_json::Value| -> SsoConnectionSpec {
            serde_json::from_value(serde_json::json!({
                "companyDomains": ["acme.com"],
                "organizations": orgs,
                "metadata": {"configMapRef": {"name": "m", "key": "k"}}
            }))
            .unwrap()
        };
        let policy = TenantPolicy {
            domains: DomainPolicy::Unrestricted,
            ..Default::default()
        };
        let mut granted = ns("tenant-a", &[], None);
        granted.annotations.insert(
            ALLOWED_ORGANIZATIONS_ANNOTATION.to_string(),
            "acme, org_AbC123".to_string(),
        );
        let ok = with_orgs(serde_json::json!([{"name": "Acme"}, {"id": "org_AbC123"}]));
        assert_eq!(check(&policy, T, &granted, &ok, "c"), Ok(()));
        // Ids are exact: another id, or the granted id in another case, is refused.
        for refused in [
            serde_json::json!([{"name": "acme"}, {"name": "globex"}]),
            serde_json::json!([{"id": "org_abc123"}]),
        ] {
            let err = check(&policy, T, &granted, &with_orgs(refused), "c").unwrap_err();
            assert_eq!(err.reason(), Reason::OrganizationNotAllowed);
            assert!(err.message("tenant-a").contains("acme, org_AbC123"));
            assert!(
                err.message("tenant-a")
                    .contains(ALLOWED_ORGANIZATIONS_ANNOTATION)
            );
        }
        // No annotation: no organization; a spec without organizations is unaffected.
        let bare = ns("tenant-b", &[], None);
        let err = check(&policy, T, &bare, &ok, "c").unwrap_err();
        assert!(err.message("tenant-b").contains("none is granted"));
        assert_eq!(
            check(&policy, T, &bare, &with_orgs(serde_json::json!([])), "c"),
            Ok(())
        );
        let open = TenantPolicy {
            domains: DomainPolicy::Unrestricted,
            organizations: OrganizationPolicy::Unrestricted,
            ..Default::default()
        };
        assert_eq!(check(&open, T, &bare, &ok, "c"), Ok(()));
    }

    #[test]
    fn metadata_urls_must_name_an_allowed_host() {
        let policy = TenantPolicy {
            domains: DomainPolicy::Unrestricted,
            allowed_metadata_hosts: Some(vec![
                "login.microsoftonline.com".into(),
                "*.okta.com".into(),
            ]),
            ..Default::default()
        };
        let with_url = |url: &str| {
            let mut s = spec(&["acme.com"], &[]);
            s.metadata = serde_json::from_value(serde_json::json!({"url": url})).unwrap();
            s
        };
        let n = ns("a", &[], None);
        for ok in [
            "https://login.microsoftonline.com/t/federationmetadata/2007-06/federationmetadata.xml",
            "https://LOGIN.microsoftonline.com./x",
            "https://acme.okta.com/app/x/sso/saml/metadata",
        ] {
            assert_eq!(check(&policy, T, &n, &with_url(ok), "c"), Ok(()), "{ok}");
        }
        for bad in [
            "https://okta.com/x",
            "https://evil-okta.com/x",
            "https://login.microsoftonline.com.evil.example/x",
            "https://10.0.0.1/x",
        ] {
            let err = check(&policy, T, &n, &with_url(bad), "c").unwrap_err();
            assert_eq!(err.reason(), Reason::MetadataUrlNotAllowed, "{bad}");
            assert!(err.message("a").contains("allowedMetadataHosts"), "{bad}");
        }
        // A ConfigMap source is not a host.
        assert_eq!(
            check(&policy, T, &n, &spec(&["acme.com"], &[]), "c"),
            Ok(())
        );
    }

    #[test]
    fn allowed_clients_and_the_name_prefix_are_enforced() {
        let policy = TenantPolicy {
            domains: DomainPolicy::Unrestricted,
            allowed_clients: Some(vec!["app-1".into()]),
            connection_name_prefix: Some("{namespace}-".into()),
            ..Default::default()
        };
        let n = ns("tenant-a", &[], None);
        assert_eq!(
            check(
                &policy,
                T,
                &n,
                &spec(&["a.com"], &["app-1"]),
                "tenant-a-acme"
            ),
            Ok(())
        );
        let err = check(
            &policy,
            T,
            &n,
            &spec(&["a.com"], &["app-2"]),
            "tenant-a-acme",
        )
        .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidSpec);
        assert!(err.message("tenant-a").contains("app-2"));
        let err = check(&policy, T, &n, &spec(&["a.com"], &[]), "acme").unwrap_err();
        assert_eq!(
            err,
            Violation::NamePrefix {
                name: "acme".into(),
                prefix: "tenant-a-".into()
            }
        );
    }

    #[test]
    fn the_oldest_claim_holds_a_domain() {
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let old = DomainClaim {
            resource: "tenant-a/acme".into(),
            created: at("2026-01-01T00:00:00Z"),
            domains: vec!["acme.com".into()],
            established: false,
        };
        let new = DomainClaim {
            resource: "tenant-b/hijack".into(),
            created: at("2026-06-01T00:00:00Z"),
            domains: vec!["other.com".into(), "acme.com".into()],
            established: false,
        };
        assert_eq!(
            domain_conflict(&new, std::slice::from_ref(&old)),
            Some(("acme.com".into(), "tenant-a/acme".into()))
        );
        assert_eq!(domain_conflict(&old, std::slice::from_ref(&new)), None);
        // Same time: the name decides, the same way for both sides.
        let twin = DomainClaim {
            resource: "tenant-0/first".into(),
            created: old.created,
            ..old.clone()
        };
        assert!(domain_conflict(&old, std::slice::from_ref(&twin)).is_some());
        assert!(domain_conflict(&twin, std::slice::from_ref(&old)).is_none());
        // A resource never conflicts with itself.
        assert_eq!(domain_conflict(&old, std::slice::from_ref(&old)), None);
        // An applied claim holds its domain against any newcomer, even one created in the
        // same second with a name that sorts first.
        let holder = DomainClaim {
            established: true,
            ..old.clone()
        };
        assert!(domain_conflict(&twin, std::slice::from_ref(&holder)).is_some());
        assert!(domain_conflict(&holder, std::slice::from_ref(&twin)).is_none());
    }
}
