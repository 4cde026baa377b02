//! Reads the ConfigMaps and Secrets an SsoConnection references from the API server, and
//! whether the owner named by an ownership marker still exists.

use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::crd::{SamlApplication, SsoConnection};
use crate::reconcile::{OwnerKind, Sources, SyncError, UrlDocument};

/// Reads referenced ConfigMaps and Secrets from the API server (one GET each, no cache), and
/// hands over the `metadata.url` document the reconcile fetched.
pub(super) struct KubeSources {
    pub(super) client: Client,
    pub(super) url_document: Option<UrlDocument>,
}

impl Sources for KubeSources {
    async fn url_document(&self, _res: &SsoConnection) -> Result<UrlDocument, SyncError> {
        self.url_document.clone().ok_or_else(|| {
            SyncError::MetadataUnreachable("metadata.url has not been fetched yet".to_string())
        })
    }

    async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let cm = api.get_opt(name).await.map_err(|e| e.to_string())?;
        Ok(cm.map(|cm| {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            data
        }))
    }

    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(name).await.map_err(|e| e.to_string())?;
        Ok(secret.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        }))
    }

    async fn owner_gone(
        &self,
        kind: OwnerKind,
        namespace: &str,
        name: &str,
    ) -> Result<bool, String> {
        let found = match kind {
            OwnerKind::SsoConnection => self.exists::<SsoConnection>(namespace, name).await,
            OwnerKind::SamlApplication => self.exists::<SamlApplication>(namespace, name).await,
        };
        match found {
            Ok(exists) => Ok(!exists),
            // Not allowed to look (the operator watches some namespaces only): the owner may
            // well exist, so it counts as live.
            Err(kube::Error::Api(e)) if e.code == 403 => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl KubeSources {
    /// Whether the `K` resource `namespace/name` exists (a metadata-only GET).
    async fn exists<K>(&self, namespace: &str, name: &str) -> Result<bool, kube::Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + DeserializeOwned
            + Clone
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_metadata_opt(name).await?.is_some())
    }
}
