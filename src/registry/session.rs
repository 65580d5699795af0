//! The clients of a run: one [`RegistryClient`] per (registry, role), sharing one transport
//! (connection pools, per-host backoff), with the credentials bound to each registry, else
//! docker `config.json`, else none.

use crate::registry::client::RegistryClient;
use crate::registry::credentials::{CredentialSource, Credentials};
use crate::registry::error::RegistryError;
use crate::registry::transport::Transport;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which side of a copy a client serves: sources are read with `pull` scopes, targets with
/// `push,pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Source,
    Target,
}

/// Clients for every registry a run touches, sharing one transport (connection pools).
pub struct Session {
    transport: Arc<Transport>,
    credentials: HashMap<(String, Role), (Credentials, CredentialSource)>,
    docker_config: Option<std::path::PathBuf>,
    clients: Mutex<HashMap<(String, Role), Arc<RegistryClient>>>,
    /// Held while a client is being made, so parallel images never run a credential helper
    /// twice for one registry.
    creating: tokio::sync::Mutex<()>,
}

impl Session {
    pub fn new(transport: Transport) -> Session {
        Session {
            transport: Arc::new(transport),
            credentials: HashMap::new(),
            docker_config: crate::registry::docker_config::docker_config_path(),
            clients: Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Use `creds` (given by `source`, named in errors) for `registry` (as written in
    /// references) in `role`. Its secrets are never shown by any output of the run.
    /// The transport every client shares (connection pools, what hosts said of their limits).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn set_credentials(
        &mut self,
        registry: &str,
        role: Role,
        creds: Credentials,
        source: CredentialSource,
    ) {
        for s in creds.secret_forms() {
            crate::untrusted::register_secret(&s);
        }
        self.credentials
            .insert((registry.to_string(), role), (creds, source));
    }

    /// The client for `registry` (as written in references, e.g. `docker.io`) reached at
    /// `api_host`, in `role`. Credentials: those set for it, else docker `config.json`, else none.
    pub async fn client(
        &self,
        registry: &str,
        api_host: &str,
        role: Role,
    ) -> Result<Arc<RegistryClient>, RegistryError> {
        let key = (registry.to_string(), role);
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let _creating = self.creating.lock().await;
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let creds = match self.credentials.get(&key) {
            Some((c, source)) => Some((c.clone(), source.clone())),
            None => self.docker_config_credentials(registry).await?,
        };
        let host = self.transport.endpoint(registry, api_host);
        let client = Arc::new(RegistryClient::new(
            registry,
            host,
            role,
            self.transport.clone(),
            creds,
        ));
        let mut clients = lock(&self.clients);
        Ok(clients.entry(key).or_insert(client).clone())
    }

    async fn docker_config_credentials(
        &self,
        registry: &str,
    ) -> Result<Option<(Credentials, CredentialSource)>, RegistryError> {
        let Some(path) = self.docker_config.clone() else {
            return Ok(None);
        };
        let registry = registry.to_string();
        let lookup = path.clone();
        // A helper silent for as long as a stalled connection is stopped like one.
        let wait = self.transport.stall();
        let creds = tokio::task::spawn_blocking(move || {
            crate::registry::docker_config::lookup_docker_config(&lookup, &registry, wait)
        })
        .await
        .map_err(|e| RegistryError::Config(format!("credential lookup stopped: {e}")))?
        .map_err(|e| RegistryError::Config(e.to_string()))?;
        for s in creds.iter().flat_map(Credentials::secret_forms) {
            crate::untrusted::register_secret(&s);
        }
        Ok(creds.map(|c| (c, CredentialSource::DockerConfig(path))))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
