//! Bearer-token authentication. Tokens are JWTs with a pinned algorithm
//! (HS256 shared secret for development; EdDSA or ES256 public keys selected by
//! `kid` for deployments), required `exp`, `nbf`, `iss`, `aud` and `sub`, a
//! `role` claim and, for governments, an ISO alpha-3 `country` claim. As in
//! RFC 7519, `aud` may be one string or an array (one of which must be
//! ours) and `iat` is optional (when present it may not lie in the
//! future). A token may not outlive the policy's `limits.max_token_hours`
//! from now, whatever its `exp` says.
//!
//! The extractors at the bottom make a handler's signature its access rule:
//! a handler taking [`Counter`] can only be reached by researchers and governments.

use crate::domain::{Country, Role};
use crate::error::ApiError;
use crate::rate::RateLimiter;
use crate::settings::{JwtAlgorithm, Settings, SettingsError, load_or_create_secret};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

mod roles;

pub use roles::Roles;

/// The claims of an API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The region of a regional partner (a policy region id, e.g. `gms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
    pub nbf: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The `aud` claim: one audience, or several (RFC 7519, section 4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

pub use crate::domain::Consumer;

enum Keys {
    Secret(DecodingKey),
    ByKid(HashMap<String, DecodingKey>),
}

/// Verifies bearer tokens against the configured keys.
pub struct Verifier {
    keys: Keys,
    validation: Validation,
    /// The longest a token may still live, from now (seconds).
    max_lifetime: u64,
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

impl Verifier {
    /// A verifier with the configured keys; tokens may live at most
    /// `max_lifetime_secs` from now (the policy's `limits.max_token_hours`).
    pub fn from_settings(s: &Settings, max_lifetime_secs: u64) -> Result<Verifier, SettingsError> {
        let alg = algorithm(s.jwt_algorithm);
        let keys = match s.jwt_algorithm {
            JwtAlgorithm::HS256 => {
                let secret = load_or_create_secret(&s.jwt_secret_file, 32)?;
                Keys::Secret(
                    DecodingKey::from_secret(&secret)
                        .map_err(|e| SettingsError(format!("JWT secret: {e}")))?,
                )
            }
            JwtAlgorithm::EdDSA | JwtAlgorithm::ES256 => {
                let dir = &s.jwt_public_keys_dir;
                let entries = std::fs::read_dir(dir).map_err(|e| {
                    SettingsError(format!("JWT_PUBLIC_KEYS_DIR {}: {e}", dir.display()))
                })?;
                let mut map = HashMap::new();
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().and_then(|e| e.to_str()) != Some("pem") {
                        continue;
                    }
                    let Some(kid) = path.file_stem().and_then(|s| s.to_str()).map(String::from)
                    else {
                        continue;
                    };
                    let pem = std::fs::read(&path)
                        .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
                    let key = if alg == Algorithm::EdDSA {
                        DecodingKey::from_ed_pem(&pem)
                    } else {
                        DecodingKey::from_ec_pem(&pem)
                    }
                    .map_err(|e| {
                        SettingsError(format!("{}: not a {alg:?} public key: {e}", path.display()))
                    })?;
                    map.insert(kid, key);
                }
                if map.is_empty() {
                    return Err(SettingsError(format!(
                        "no <kid>.pem public keys in {}",
                        dir.display()
                    )));
                }
                Keys::ByKid(map)
            }
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&s.jwt_issuer]);
        validation.set_audience(&[&s.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.leeway = s.jwt_leeway_secs;
        Ok(Verifier {
            keys,
            validation,
            max_lifetime: max_lifetime_secs,
        })
    }

    /// Checks a token and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Consumer, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            ApiError::InvalidToken("malformed token or unsupported algorithm".into())
        })?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(ApiError::InvalidToken("algorithm not accepted".into()));
        }
        let key = match &self.keys {
            Keys::Secret(k) => k,
            Keys::ByKid(map) => header
                .kid
                .as_deref()
                .and_then(|kid| map.get(kid))
                .ok_or_else(|| ApiError::InvalidToken("unknown or missing key id (kid)".into()))?,
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            ApiError::InvalidToken(
                match e.kind() {
                    K::ExpiredSignature => "token expired",
                    K::ImmatureSignature => "token not valid yet (nbf)",
                    K::InvalidSignature => "bad signature",
                    K::InvalidAudience => "wrong audience",
                    K::InvalidIssuer => "wrong issuer",
                    K::MissingRequiredClaim(_) => {
                        "a required claim (exp, nbf, iss, aud, sub) is missing"
                    }
                    K::InvalidAlgorithm => "algorithm not accepted",
                    _ => "token could not be verified",
                }
                .into(),
            )
        })?;
        let c = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.validation.leeway;
        if c.exp > now.saturating_add(self.max_lifetime).saturating_add(leeway) {
            return Err(ApiError::InvalidToken(format!(
                "the token lives longer than this service accepts ({} hours from now at most)",
                self.max_lifetime / 3600
            )));
        }
        if c.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(ApiError::InvalidToken(
                "token issued in the future (iat)".into(),
            ));
        }
        if !crate::domain::is_valid_consumer_id(&c.sub) {
            return Err(ApiError::InvalidToken(format!(
                "sub must be {}",
                crate::domain::CONSUMER_ID_RULE
            )));
        }
        let role = Role::parse(&c.role).ok_or_else(|| {
            ApiError::InvalidToken(
                "role must be researcher, government, regional, auditor or admin".into(),
            )
        })?;
        let country = match role {
            Role::Government => {
                let code = c.country.as_deref().unwrap_or("");
                let country = Country::parse_alpha3(code)
                    .filter(|c| !c.is_unknown())
                    .ok_or_else(|| {
                        ApiError::InvalidToken(
                            "a government token needs an ISO alpha-3 country claim".into(),
                        )
                    })?;
                Some(country)
            }
            _ => None,
        };
        let region = match role {
            Role::Regional => Some(
                c.region
                    .filter(|r| crate::domain::is_region_id(r))
                    .ok_or_else(|| {
                        ApiError::InvalidToken(
                            "a regional token needs a region claim: a region id of the policy, such as gms".into(),
                        )
                    })?,
            ),
            _ => None,
        };
        Ok(Consumer {
            id: c.sub,
            role,
            country,
            region,
        })
    }
}

/// Signs development and operator tokens with the configured key (the `token` command).
pub struct Minter {
    alg: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
    issuer: String,
    audience: String,
}

impl Minter {
    pub fn from_settings(s: &Settings) -> Result<Minter, SettingsError> {
        let alg = algorithm(s.jwt_algorithm);
        let key = match s.jwt_algorithm {
            JwtAlgorithm::HS256 => {
                let secret = load_or_create_secret(&s.jwt_secret_file, 32)?;
                EncodingKey::from_secret(&secret)
                    .map_err(|e| SettingsError(format!("JWT secret: {e}")))?
            }
            JwtAlgorithm::EdDSA | JwtAlgorithm::ES256 => {
                let path = s.jwt_private_key_file.as_ref().ok_or_else(|| {
                    SettingsError(
                        "JWT_PRIVATE_KEY_FILE is needed to sign tokens with EdDSA/ES256".into(),
                    )
                })?;
                let pem = std::fs::read(path)
                    .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
                if alg == Algorithm::EdDSA {
                    EncodingKey::from_ed_pem(&pem)
                } else {
                    EncodingKey::from_ec_pem(&pem)
                }
                .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?
            }
        };
        if alg != Algorithm::HS256 && s.jwt_kid.is_none() {
            return Err(SettingsError(
                "JWT_KID is needed to sign tokens with EdDSA/ES256".into(),
            ));
        }
        Ok(Minter {
            alg,
            key,
            kid: s.jwt_kid.clone(),
            issuer: s.jwt_issuer.clone(),
            audience: s.jwt_audience.clone(),
        })
    }

    /// Signs a token; `area` is the country claim of a government token,
    /// the region claim of a regional one, and ignored otherwise.
    pub fn mint(
        &self,
        sub: &str,
        role: Role,
        area: Option<&str>,
        ttl_secs: u64,
    ) -> Result<String, SettingsError> {
        if !crate::domain::is_valid_consumer_id(sub) {
            return Err(SettingsError(format!(
                "--sub must be {}",
                crate::domain::CONSUMER_ID_RULE
            )));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: sub.into(),
            role: role.code().into(),
            country: area
                .filter(|_| role != Role::Regional)
                .map(|c| c.to_ascii_uppercase()),
            region: area
                .filter(|_| role == Role::Regional)
                .map(|r| r.to_ascii_lowercase()),
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: now.saturating_add(ttl_secs),
            nbf: now.saturating_sub(1),
            iat: Some(now),
        };
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| SettingsError(format!("cannot sign token: {e}")))
    }
}

fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken("Authorization header is not ASCII".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::InvalidToken("expected Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidToken("expected Bearer <token>".into()));
    }
    Ok(token.trim())
}

/// Verifies the bearer token, checks that its consumer keeps its stored
/// role ([`Roles`]), then takes one request of its rate
/// ([`crate::rate::RateLimiter`]: `rate.limited` with `Retry-After`), all
/// before the handler runs, so no endpoint can forget the limit and a
/// refused request reads and charges nothing.
fn authenticate(req: &HttpRequest) -> impl Future<Output = Result<Consumer, ApiError>> + 'static {
    let verified = req
        .app_data::<web::Data<Verifier>>()
        .ok_or_else(|| ApiError::internal("token verifier not configured"))
        .and_then(|verifier| verifier.verify(bearer(req)?));
    let roles = req.app_data::<web::Data<Roles>>().cloned();
    let rate = req.app_data::<web::Data<RateLimiter>>().cloned();
    async move {
        let consumer = verified?;
        tracing::Span::current().record("consumer", consumer.id.as_str());
        roles
            .ok_or_else(|| ApiError::internal("consumer roles not configured"))?
            .check(&consumer)
            .await?;
        rate.ok_or_else(|| ApiError::internal("rate limiter not configured"))?
            .check(&consumer.id)?;
        Ok(consumer)
    }
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, [$($role:ident),+], $allowed:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Consumer);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let consumer = authenticate(req);
                Box::pin(async move {
                    let c = consumer.await?;
                    // For AnyConsumer the refusal arm is unreachable; the macro keeps one shape for all.
                    #[allow(unreachable_patterns)]
                    match c.role {
                        $(Role::$role)|+ => Ok($name(c)),
                        other => Err(ApiError::ForbiddenRole { role: other.code().into(), allowed: $allowed }),
                    }
                })
            }
        }
    };
}

role_extractor!(
    /// Any authenticated consumer.
    AnyConsumer, [Researcher, Government, Regional, Auditor, Admin], "any role"
);
role_extractor!(
    /// A consumer who may read national or regional figures: researcher,
    /// government (its own country) or regional partner (its own region).
    FigureReader, [Researcher, Government, Regional], "researcher, government, regional"
);
role_extractor!(
    /// A consumer who may receive counts: researcher or government.
    Counter, [Researcher, Government], "researcher, government"
);
role_extractor!(
    /// An auditor of the privacy-budget ledger.
    Auditor, [Auditor], "auditor"
);
role_extractor!(
    /// An administrator of consumer budgets.
    Admin, [Admin], "admin"
);
role_extractor!(
    /// An auditor or an administrator: may sign a ledger checkpoint on demand.
    AuditorOrAdmin, [Auditor, Admin], "auditor, admin"
);

/// Creates an Ed25519 key pair for EdDSA tokens: the private key (PKCS#8 PEM,
/// mode 0600) for whoever mints tokens, and `<kid>.pem` (SPKI PEM) in the
/// public-key directory the service verifies with. Returns the two paths.
pub fn generate_eddsa_keys(
    private_path: &std::path::Path,
    public_dir: &std::path::Path,
    kid: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf), SettingsError> {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use rand::TryRng;
    if kid.is_empty()
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(SettingsError(
            "--kid must be letters, digits, - or _".into(),
        ));
    }
    let mut secret = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| SettingsError(format!("cannot get entropy: {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&secret);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SettingsError(format!("cannot encode the private key: {e}")))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SettingsError(format!("cannot encode the public key: {e}")))?;
    let public_path = public_dir.join(format!("{kid}.pem"));
    crate::settings::write_private(private_path, private.as_bytes())?;
    std::fs::create_dir_all(public_dir)
        .and_then(|_| std::fs::write(&public_path, public.as_bytes()))
        .map_err(|e| SettingsError(format!("cannot write {}: {e}", public_path.display())))?;
    Ok((private_path.to_path_buf(), public_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eddsa_settings(dir: &std::path::Path) -> Settings {
        Settings {
            jwt_algorithm: JwtAlgorithm::EdDSA,
            jwt_public_keys_dir: dir.join("keys"),
            jwt_private_key_file: Some(dir.join("k1.private.pem")),
            jwt_kid: Some("k1".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn eddsa_tokens_verify_by_kid_and_other_keys_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let s = eddsa_settings(dir.path());
        generate_eddsa_keys(
            dir.path().join("k1.private.pem").as_path(),
            &s.jwt_public_keys_dir,
            "k1",
        )
        .expect("keys");
        let token = Minter::from_settings(&s)
            .expect("minter")
            .mint("alice", Role::Researcher, None, 60)
            .expect("mint");
        let v = Verifier::from_settings(&s, 3600).expect("verifier");
        assert_eq!(v.verify(&token).ok().map(|c| c.id), Some("alice".into()));

        // A token signed by a key the service does not know is refused.
        let other = tempfile::tempdir().expect("dir");
        let s2 = eddsa_settings(other.path());
        generate_eddsa_keys(
            other.path().join("k1.private.pem").as_path(),
            &s2.jwt_public_keys_dir,
            "k1",
        )
        .expect("keys");
        let forged = Minter::from_settings(&s2)
            .expect("minter")
            .mint("alice", Role::Admin, None, 60)
            .expect("mint");
        assert!(matches!(v.verify(&forged), Err(ApiError::InvalidToken(_))));

        // An HS256 token is refused by an EdDSA-pinned service.
        let hs = Settings {
            jwt_secret_file: dir.path().join("hs.secret"),
            ..Settings::default()
        };
        let hs_token = Minter::from_settings(&hs)
            .expect("minter")
            .mint("alice", Role::Admin, None, 60)
            .expect("mint");
        assert!(matches!(
            v.verify(&hs_token),
            Err(ApiError::InvalidToken(_))
        ));
    }
}
