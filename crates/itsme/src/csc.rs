//! Placeholder: replaced by the sandbox-csc branch's implementation.
#![allow(unused_variables, clippy::unused_async)]

#[derive(Debug, Clone)]
pub struct CscConfig {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub sca_name: Option<String>,
}
#[derive(Debug)]
pub struct CscClient {
    config: CscConfig,
}
#[derive(Debug, thiserror::Error)]
pub enum CscError {
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("{error}: {description}")]
    Refused { error: String, description: String },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("invalid: {0}")]
    Invalid(String),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Bearer,
    Sad,
}
#[derive(Debug, Clone)]
pub struct CscToken {
    pub access_token: String,
    pub kind: TokenKind,
    pub expires_in: i64,
}
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    pub chain: Vec<Vec<u8>>,
}
impl CscClient {
    pub fn new(config: CscConfig) -> Result<Self, CscError> {
        Ok(CscClient { config })
    }
    pub fn service_authorization_url(&self, account_id: &str, state: &str, lang: Option<&str>) -> String {
        todo!()
    }
    pub fn credential_authorization_url(
        &self,
        account_id: &str,
        state: &str,
        lang: Option<&str>,
        credential_id: &str,
        hashes: &[[u8; 32]],
        description: &str,
    ) -> Result<String, CscError> {
        todo!()
    }
    pub async fn redeem(&self, code: &str) -> Result<CscToken, CscError> {
        todo!()
    }
    pub async fn credential(&self, bearer: &str) -> Result<Credential, CscError> {
        todo!()
    }
    pub async fn sign_hashes(
        &self,
        bearer: &str,
        credential_id: &str,
        sad: &str,
        hashes: &[[u8; 32]],
    ) -> Result<Vec<Vec<u8>>, CscError> {
        todo!()
    }
    pub async fn revoke(&self, bearer: &str) -> Result<(), CscError> {
        todo!()
    }
}
