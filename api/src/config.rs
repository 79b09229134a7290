//! Configuration: one typed struct read from the environment (docs/contract.md §1). Defaults live here and
//! nowhere else; a malformed value stops start-up with a message naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DTR_DATABASE_URL`: `sqlite://…` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// `DTR_DATABASE_ACQUIRE_TIMEOUT`: how long a request waits for a database connection before
    /// it answers 503 `storage.unavailable` (a stopped or restarting database is reported at once
    /// instead of holding every client).
    pub database_acquire_timeout: Duration,
    /// `DTR_LISTEN`: the address to serve on.
    pub listen: SocketAddr,
    /// `DTR_LOG`: a `tracing` filter such as `info` or `api=debug`.
    pub log: String,
    /// `DTR_LOG_FORMAT=json`: JSON lines instead of human-readable logs.
    pub log_json: bool,
    /// `DTR_BOOTSTRAP_ADMIN_KEY`: an admin key with exactly this value exists after start-up.
    pub bootstrap_admin_key: Option<String>,
    /// `DTR_RETRY_SCHEDULE`: delays between delivery attempts; N delays give N+1 attempts.
    pub retry_schedule: Vec<Duration>,
    /// `DTR_DELIVERY_TIMEOUT`: per-attempt HTTP timeout.
    pub delivery_timeout: Duration,
    /// `DTR_ALLOW_INSECURE_ENDPOINTS`: allow `http://` and internal endpoint addresses (development only).
    pub allow_insecure_endpoints: bool,
    /// `DTR_MAX_CONCURRENT_REQUESTS`: requests handled at once; the rest wait their turn — up to
    /// 2 s in a burst, 1 ms once waits have stayed over 5 ms for 200 ms (sustained overload) — and are
    /// then answered 503 `service.overloaded` with `Retry-After`, so memory stays bounded and
    /// accepted requests keep their latency (see `http::middleware::Admission`). By default
    /// [`CONCURRENT_REQUESTS_PER_CPU`] for each CPU the process may use.
    pub max_concurrent_requests: usize,
    /// `DTR_MAX_BODY_BYTES`: larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `DTR_RATE_LIMIT`: requests per second per API key (burst of the same size); 0 turns it off.
    pub rate_limit: u32,
    /// `DTR_RATE_LIMIT_ANON`: requests per second per client address for requests without a known
    /// key (burst of the same size); 0 turns it off.
    pub rate_limit_anon: u32,
    /// `DTR_MAX_CONNECTIONS_PER_CLIENT`: connections one client address may hold open at once
    /// (IPv6 by [`Config::ipv6_client_prefix`]; trusted proxies exempt); 0 turns the cap off.
    pub max_connections_per_client: usize,
    /// `DTR_IPV6_CLIENT_PREFIX`: IPv6 clients are counted by this many leading bits of their
    /// address (one device commonly holds a whole /64), for the per-client limits.
    pub ipv6_client_prefix: u8,
    /// `DTR_TRUSTED_PROXIES`: addresses (or CIDR ranges) of reverse proxies whose `X-Forwarded-For`
    /// names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// The longest a request may run before it is abandoned (not configurable from the
    /// environment; tests shorten it).
    pub request_timeout: Duration,
    /// The longest a request's body may take to arrive after its headers before it is answered
    /// 408 (not configurable from the environment; tests shorten it). Bodies are read before
    /// admission control, so a slow one holds none of its places.
    pub body_timeout: Duration,
    /// `DTR_SECRET_KEY`: 32 random bytes (base64) that seal the endpoints' signing secrets at rest.
    pub secret_key: Option<String>,
    /// `DTR_RETENTION`: how long after a referral is acknowledged, withdrawn or failed its personal
    /// data is erased (at least a day).
    pub retention: Duration,
    /// `DTR_DRAFT_RETENTION`: how long after its last change a practitioner's unfinished referral
    /// is erased (docs/contract.md §14; at least an hour, 7 days by default).
    pub draft_retention: Duration,
    /// `DTR_SCRUB_INTERVAL`: SQLite only: after an erasure the database file is rewritten so the
    /// erased text cannot be recovered from it, at most once per this interval (each rewrite makes
    /// writers wait about a second per 100 MB of database).
    pub scrub_interval: Duration,
    /// `DTR_AUDIT_KEY_FILE`: the Ed25519 key that signs audit checkpoints (created when absent).
    pub audit_key_file: std::path::PathBuf,
    /// Slow clients: how long a request's headers may take, and how long a keep-alive connection
    /// may idle (docs/contract.md §11; not configurable from the environment, tests shorten them).
    pub slow_clients: crate::slow_clients::Limits,
    /// `DTR_SMTP_URL`: the relay e-mail goes through; without it nobody is e-mailed.
    pub smtp: Option<SmtpUrl>,
    /// `DTR_SMTP_CA_FILE`: extra trusted root certificates (PEM) for the relay's TLS, for a relay
    /// with a certificate from a private certificate authority.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// `DTR_SMTP_TIMEOUT`: the longest one e-mail's whole exchange with the relay may take
    /// (connection, TLS, every command and reply); beyond it the attempt is retried later.
    pub smtp_timeout: Duration,
    /// `DTR_SMTP_FROM`: the sender of every e-mail.
    pub smtp_from: String,
    /// `DTR_PUBLIC_URL`: the base of links in e-mails (no trailing slash).
    pub public_url: String,
}

/// How the service reaches its SMTP relay (docs/contract.md §10).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// The relay's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port: 587 for `smtp://`, 465 for `smtps://` unless given.
    pub port: u16,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// User name and password, when the relay wants them (from the URL's user information).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// The protection of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS, refused if the relay does not offer it.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://` with `DTR_SMTP_TLS=opportunistic`: STARTTLS when offered, else plain text
    /// (development relays only).
    Opportunistic,
}

impl SmtpUrl {
    /// Parses `smtp://[user:password@]host[:port]` or `smtps://…`; `opportunistic` allows a relay
    /// without STARTTLS (`DTR_SMTP_TLS=opportunistic`).
    pub fn parse(raw: &str, opportunistic: bool) -> Result<SmtpUrl, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
        let (tls, default_port) = match url.scheme() {
            "smtp" if opportunistic => (SmtpTls::Opportunistic, 587),
            "smtp" => (SmtpTls::StartTls, 587),
            "smtps" => (SmtpTls::Implicit, 465),
            other => return Err(format!("the scheme must be smtp or smtps, not {other}")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if url.path() != "" && url.path() != "/" || url.query().is_some() {
            return Err("the URL must be only scheme, credentials, host and port".to_owned());
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let credentials = (!url.username().is_empty()).then(|| {
            (
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            )
        });
        Ok(SmtpUrl {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
        })
    }
}

/// An IP address range (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address` or `address/prefix`.
    pub fn parse(raw: &str) -> Option<Cidr> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (
                a.parse::<std::net::IpAddr>().ok()?,
                Some(p.parse::<u8>().ok()?),
            ),
            None => (raw.parse().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A configuration variable that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

/// Requests handled at once per CPU by default. A submission spends most of its time waiting —
/// for its group commit, for a database connection — so a CPU is kept busy by a handful at once;
/// more than that only share the CPU, each taking longer. Measured (README, benchmark measure 8;
/// one CPU at twice its saturation): 16 at once accepted 2,688–2,730/s with p99 26 ms, 24 at once
/// 3,076–3,112/s with p99 31 ms; the former fixed 64 (before the runtime's shorter event
/// interval) 2,643/s with p99 105 ms. A burst beyond it still waits its turn (`BURST_QUEUE`).
pub const CONCURRENT_REQUESTS_PER_CPU: usize = 16;

/// [`CONCURRENT_REQUESTS_PER_CPU`] for each CPU this process may run on (its affinity and cgroup
/// quota, as the standard library reads them), or for one when that cannot be read.
pub fn default_concurrent_requests() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    CONCURRENT_REQUESTS_PER_CPU.saturating_mul(cpus)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://dtr.db?mode=rwc".to_owned(),
            database_acquire_timeout: crate::db::DEFAULT_ACQUIRE_TIMEOUT,
            listen: SocketAddr::from(([127, 0, 0, 1], 8213)),
            log: "info".to_owned(),
            log_json: false,
            bootstrap_admin_key: None,
            retry_schedule: parse_schedule("10s,1m,5m,30m,2h,6h,12h,24h").unwrap_or_default(),
            delivery_timeout: Duration::from_secs(10),
            allow_insecure_endpoints: false,
            max_body_bytes: 65536,
            max_concurrent_requests: default_concurrent_requests(),
            rate_limit: 100,
            rate_limit_anon: 20,
            secret_key: None,
            retention: Duration::from_secs(90 * 86_400),
            draft_retention: Duration::from_secs(7 * 86_400),
            scrub_interval: Duration::from_secs(60),
            audit_key_file: std::path::PathBuf::from("dtr-audit.key"),
            trusted_proxies: vec![],
            max_connections_per_client: 128,
            ipv6_client_prefix: 64,
            request_timeout: Duration::from_secs(40),
            body_timeout: Duration::from_secs(10),
            slow_clients: crate::slow_clients::Limits {
                headers: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
            smtp: None,
            smtp_ca_file: None,
            smtp_timeout: Duration::from_secs(30),
            smtp_from: "Duty to refer <noreply@localhost>".to_owned(),
            public_url: "http://127.0.0.1:8213".to_owned(),
        }
    }
}

/// Parses `500ms`, `10s`, `5m`, `2h` or `1d`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// Parses a comma-separated retry schedule; an empty string means a single attempt.
pub fn parse_schedule(raw: &str) -> Option<Vec<Duration>> {
    if raw.trim().is_empty() {
        return Some(vec![]);
    }
    raw.split(',').map(parse_duration).collect()
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        let bad = |variable: &'static str, problem: &str| ConfigError {
            variable,
            problem: problem.to_owned(),
        };
        if let Some(v) = lookup("DTR_DATABASE_URL") {
            c.database_url = v;
        }
        if let Some(v) = lookup("DTR_DATABASE_ACQUIRE_TIMEOUT") {
            c.database_acquire_timeout = parse_duration(&v)
                .filter(|d| !d.is_zero() && *d <= Duration::from_secs(60))
                .ok_or_else(|| {
                    bad(
                        "DTR_DATABASE_ACQUIRE_TIMEOUT",
                        "expected a positive duration up to 60s, such as 2s or 500ms",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_SCRUB_INTERVAL") {
            c.scrub_interval = parse_duration(&v)
                .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(86_400))
                .ok_or_else(|| {
                    bad(
                        "DTR_SCRUB_INTERVAL",
                        "expected a duration from 1s to 1d, such as 1m",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_LISTEN") {
            c.listen = v
                .parse()
                .map_err(|_| bad("DTR_LISTEN", "expected host:port, e.g. 127.0.0.1:8213"))?;
        }
        if let Some(v) = lookup("DTR_LOG") {
            c.log = v;
        }
        if let Some(v) = lookup("DTR_LOG_FORMAT") {
            c.log_json = match v.as_str() {
                "json" => true,
                "text" | "" => false,
                _ => return Err(bad("DTR_LOG_FORMAT", "expected json or text")),
            };
        }
        if let Some(v) = lookup("DTR_BOOTSTRAP_ADMIN_KEY").filter(|v| !v.is_empty()) {
            if v.chars().count() < 32 {
                return Err(bad(
                    "DTR_BOOTSTRAP_ADMIN_KEY",
                    "must be at least 32 characters (e.g. openssl rand -base64 32)",
                ));
            }
            c.bootstrap_admin_key = Some(v);
        }
        if let Some(v) = lookup("DTR_RETRY_SCHEDULE") {
            c.retry_schedule = parse_schedule(&v).ok_or_else(|| {
                bad(
                    "DTR_RETRY_SCHEDULE",
                    "expected delays such as 10s,1m,5m,30m,2h (units ms, s, m, h, d)",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_DELIVERY_TIMEOUT") {
            c.delivery_timeout = parse_duration(&v).filter(|d| !d.is_zero()).ok_or_else(|| {
                bad(
                    "DTR_DELIVERY_TIMEOUT",
                    "expected a positive duration such as 10s",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_SMTP_TIMEOUT") {
            c.smtp_timeout = parse_duration(&v)
                .filter(|d| !d.is_zero() && *d <= Duration::from_secs(600))
                .ok_or_else(|| {
                    bad(
                        "DTR_SMTP_TIMEOUT",
                        "expected a positive duration up to 10m, such as 30s",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_ALLOW_INSECURE_ENDPOINTS") {
            c.allow_insecure_endpoints = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => {
                    return Err(bad(
                        "DTR_ALLOW_INSECURE_ENDPOINTS",
                        "expected true or false",
                    ))
                }
            };
        }
        if let Some(v) = lookup("DTR_MAX_CONCURRENT_REQUESTS") {
            c.max_concurrent_requests = v
                .parse()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| {
                    bad(
                        "DTR_MAX_CONCURRENT_REQUESTS",
                        "expected a whole number of requests from 1 to 100000",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_MAX_CONNECTIONS_PER_CLIENT") {
            c.max_connections_per_client = v.parse().map_err(|_| {
                bad(
                    "DTR_MAX_CONNECTIONS_PER_CLIENT",
                    "expected a whole number of connections (0 = no cap)",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_IPV6_CLIENT_PREFIX") {
            c.ipv6_client_prefix = v
                .parse()
                .ok()
                .filter(|n| (32..=128).contains(n))
                .ok_or_else(|| {
                    bad(
                        "DTR_IPV6_CLIENT_PREFIX",
                        "expected a prefix length from 32 to 128, such as 64",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_MAX_BODY_BYTES") {
            c.max_body_bytes = v.parse().ok().filter(|n| *n >= 1024).ok_or_else(|| {
                bad(
                    "DTR_MAX_BODY_BYTES",
                    "expected a whole number of bytes, at least 1024",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_RATE_LIMIT") {
            c.rate_limit = v.parse().map_err(|_| {
                bad(
                    "DTR_RATE_LIMIT",
                    "expected a whole number of requests per second (0 = off)",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_SECRET_KEY").filter(|v| !v.is_empty()) {
            crate::authorities::secrets::SecretBox::new(Some(&v))
                .map_err(|e| bad("DTR_SECRET_KEY", &e.to_string()))?;
            c.secret_key = Some(v);
        }
        if let Some(v) = lookup("DTR_RETENTION") {
            c.retention = parse_duration(&v)
                .filter(|d| *d >= Duration::from_secs(86_400))
                .ok_or_else(|| {
                    bad(
                        "DTR_RETENTION",
                        "expected a duration of at least a day, such as 90d",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_DRAFT_RETENTION") {
            c.draft_retention = parse_duration(&v)
                .filter(|d| *d >= Duration::from_secs(3600))
                .ok_or_else(|| {
                    bad(
                        "DTR_DRAFT_RETENTION",
                        "expected a duration of at least an hour, such as 7d",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_AUDIT_KEY_FILE").filter(|v| !v.is_empty()) {
            c.audit_key_file = std::path::PathBuf::from(v);
        }
        if let Some(v) = lookup("DTR_RATE_LIMIT_ANON") {
            c.rate_limit_anon = v.parse().map_err(|_| {
                bad(
                    "DTR_RATE_LIMIT_ANON",
                    "expected a whole number of requests per second per client address (0 = off)",
                )
            })?;
        }
        if let Some(v) = lookup("DTR_TRUSTED_PROXIES") {
            c.trusted_proxies = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(Cidr::parse)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad(
                        "DTR_TRUSTED_PROXIES",
                        "expected IP addresses or ranges, comma-separated, e.g. 10.0.0.0/8,192.0.2.7",
                    )
                })?;
        }
        if let Some(v) = lookup("DTR_PUBLIC_URL").filter(|v| !v.is_empty()) {
            let url = url::Url::parse(&v)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    bad(
                        "DTR_PUBLIC_URL",
                        "expected the service's public base URL, e.g. https://dtr.example.gov.uk",
                    )
                })?;
            // Links in e-mails and the session cookie's Secure flag follow this address: plain
            // HTTP is only for a service on this machine (development), or in insecure mode.
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if url.scheme() == "http" && !loopback && !c.allow_insecure_endpoints {
                return Err(bad(
                    "DTR_PUBLIC_URL",
                    "must be https:// (e-mailed links and the session cookie travel over it); http:// is allowed only for a loopback address or with DTR_ALLOW_INSECURE_ENDPOINTS=true",
                ));
            }
            c.public_url = url.as_str().trim_end_matches('/').to_owned();
        } else {
            c.public_url = format!("http://{}", c.listen);
        }
        if let Some(v) = lookup("DTR_SMTP_FROM").filter(|v| !v.is_empty()) {
            v.parse::<lettre::message::Mailbox>().map_err(|_| {
                bad(
                    "DTR_SMTP_FROM",
                    "expected a sender address, e.g. Duty to refer <dutytorefer@example.gov.uk>",
                )
            })?;
            c.smtp_from = v;
        }
        let opportunistic = match lookup("DTR_SMTP_TLS").as_deref() {
            None | Some("") | Some("required") => false,
            Some("opportunistic") => true,
            Some(_) => return Err(bad("DTR_SMTP_TLS", "expected required or opportunistic")),
        };
        if let Some(v) = lookup("DTR_SMTP_URL").filter(|v| !v.is_empty()) {
            c.smtp = Some(
                SmtpUrl::parse(&v, opportunistic)
                    .map_err(|problem| bad("DTR_SMTP_URL", &problem))?,
            );
        }
        if let Some(v) = lookup("DTR_SMTP_CA_FILE").filter(|v| !v.is_empty()) {
            let path = std::path::PathBuf::from(v);
            let pem = std::fs::read(&path).map_err(|e| {
                bad(
                    "DTR_SMTP_CA_FILE",
                    &format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let certificates =
                String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----");
            if !certificates
                || lettre::transport::smtp::client::Certificate::from_pem(&pem).is_err()
            {
                return Err(bad(
                    "DTR_SMTP_CA_FILE",
                    "expected PEM certificates (-----BEGIN CERTIFICATE-----)",
                ));
            }
            c.smtp_ca_file = Some(path);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = from(&[]).expect("defaults");
        assert_eq!(c.database_url, "sqlite://dtr.db?mode=rwc");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8213");
        assert_eq!(c.retry_schedule.len(), 8);
        assert_eq!(c.retry_schedule[7], Duration::from_secs(86_400));
        assert_eq!(c.delivery_timeout, Duration::from_secs(10));
        assert_eq!(c.max_body_bytes, 65536);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(c.max_concurrent_requests, 16 * cpus);
        assert_eq!(c.rate_limit, 100);
        assert!(!c.allow_insecure_endpoints);
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(
            parse_schedule("10ms, 20ms"),
            Some(vec![Duration::from_millis(10), Duration::from_millis(20)])
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let e = from(&[("DTR_RETRY_SCHEDULE", "soon")]).expect_err("bad");
        assert!(e.to_string().starts_with("DTR_RETRY_SCHEDULE"));
        assert!(from(&[("DTR_LISTEN", "nowhere")]).is_err());
        assert!(from(&[("DTR_BOOTSTRAP_ADMIN_KEY", "short")]).is_err());
        assert!(from(&[("DTR_TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
        assert!(from(&[("DTR_RATE_LIMIT_ANON", "lots")]).is_err());
    }

    #[test]
    fn a_bootstrap_key_of_32_characters_is_enough_and_31_is_not() {
        assert!(from(&[("DTR_BOOTSTRAP_ADMIN_KEY", &"k".repeat(32))]).is_ok());
        let e = from(&[("DTR_BOOTSTRAP_ADMIN_KEY", &"k".repeat(31))]).expect_err("too short");
        assert!(e.to_string().contains("32"));
    }

    #[test]
    fn slow_clients_and_anonymous_callers_have_the_contracts_limits() {
        let c = from(&[]).expect("defaults");
        assert_eq!(c.slow_clients.headers, Duration::from_secs(10));
        assert_eq!(c.slow_clients.idle, Duration::from_secs(60));
        assert_eq!(c.rate_limit_anon, 20);
    }

    #[test]
    fn draft_retention_is_at_least_an_hour_and_7_days_by_default() {
        assert_eq!(
            from(&[]).expect("defaults").draft_retention,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            from(&[("DTR_DRAFT_RETENTION", "1h")])
                .expect("an hour")
                .draft_retention,
            Duration::from_secs(3600)
        );
        assert!(from(&[("DTR_DRAFT_RETENTION", "59m")]).is_err());
        assert!(from(&[("DTR_DRAFT_RETENTION", "soon")]).is_err());
    }

    #[test]
    fn retention_is_at_least_a_day_and_90_days_by_default() {
        assert_eq!(
            from(&[]).expect("defaults").retention,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            from(&[("DTR_RETENTION", "1d")]).expect("a day").retention,
            Duration::from_secs(86_400)
        );
        assert!(from(&[("DTR_RETENTION", "23h")]).is_err());
        assert!(from(&[("DTR_SECRET_KEY", "too-short")]).is_err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let c =
            from(&[("DTR_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")]).expect("valid");
        let [a, b, v6] = c.trusted_proxies[..] else {
            panic!("three ranges")
        };
        assert!(a.contains("10.200.1.1".parse().expect("ip")));
        assert!(!a.contains("11.0.0.1".parse().expect("ip")));
        assert!(b.contains("192.0.2.7".parse().expect("ip")));
        assert!(!b.contains("192.0.2.8".parse().expect("ip")));
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        assert!(
            a.contains("::ffff:10.1.1.1".parse().expect("ip")),
            "IPv4-mapped"
        );
    }

    #[test]
    fn smtp_urls_choose_their_protection_and_never_show_the_password() {
        let starttls = SmtpUrl::parse("smtp://relay.example.gov.uk", false).expect("valid");
        assert_eq!(starttls.tls, SmtpTls::StartTls);
        assert_eq!(starttls.port, 587);
        let implicit = SmtpUrl::parse(
            "smtps://dtr%40council:p%40ss@relay.example.gov.uk:2465",
            false,
        )
        .expect("valid");
        assert_eq!(implicit.tls, SmtpTls::Implicit);
        assert_eq!(implicit.port, 2465);
        assert_eq!(
            implicit.credentials,
            Some(("dtr@council".to_owned(), "p@ss".to_owned()))
        );
        assert!(!format!("{implicit:?}").contains("p@ss"));
        assert_eq!(
            SmtpUrl::parse("smtp://127.0.0.1:2525", true)
                .expect("valid")
                .tls,
            SmtpTls::Opportunistic
        );
        assert!(SmtpUrl::parse("http://relay.example.gov.uk", false).is_err());
        assert!(SmtpUrl::parse("smtp://relay.example.gov.uk/path", false).is_err());
        let e = from(&[("DTR_SMTP_URL", "mailto:x")]).expect_err("refused");
        assert!(e.to_string().starts_with("DTR_SMTP_URL"));
        let e = from(&[("DTR_SMTP_FROM", "not an address")]).expect_err("refused");
        assert!(e.to_string().starts_with("DTR_SMTP_FROM"));
    }

    #[test]
    fn the_public_url_defaults_to_the_listening_address() {
        assert_eq!(
            from(&[]).expect("defaults").public_url,
            "http://127.0.0.1:8213"
        );
        assert_eq!(
            from(&[("DTR_PUBLIC_URL", "https://dtr.example.gov.uk/")])
                .expect("valid")
                .public_url,
            "https://dtr.example.gov.uk"
        );
        assert!(from(&[("DTR_PUBLIC_URL", "ftp://x")]).is_err());
    }

    #[test]
    fn insecure_endpoints_no_longer_allow_a_plain_relay_or_an_http_public_url_elsewhere() {
        // One switch, one protection: DTR_ALLOW_INSECURE_ENDPOINTS is about endpoints.
        let c = from(&[
            ("DTR_ALLOW_INSECURE_ENDPOINTS", "true"),
            ("DTR_SMTP_URL", "smtp://relay.example.gov.uk"),
        ])
        .expect("valid");
        assert_eq!(c.smtp.expect("a relay").tls, SmtpTls::StartTls);
        let c = from(&[
            ("DTR_SMTP_URL", "smtp://localhost:1025"),
            ("DTR_SMTP_TLS", "opportunistic"),
        ])
        .expect("valid");
        assert_eq!(c.smtp.expect("a relay").tls, SmtpTls::Opportunistic);
        let e = from(&[("DTR_SMTP_TLS", "off")]).expect_err("not a mode");
        assert!(e.to_string().starts_with("DTR_SMTP_TLS"), "{e}");
        // A public URL over plain HTTP is refused unless it is this machine (development).
        let e = from(&[("DTR_PUBLIC_URL", "http://dtr.example.gov.uk")]).expect_err("http");
        assert!(e.to_string().starts_with("DTR_PUBLIC_URL"), "{e}");
        assert!(from(&[("DTR_PUBLIC_URL", "http://127.0.0.1:8213")]).is_ok());
        assert!(from(&[("DTR_PUBLIC_URL", "http://localhost:8213")]).is_ok());
        assert!(from(&[("DTR_PUBLIC_URL", "https://dtr.example.gov.uk")]).is_ok());
        assert!(from(&[
            ("DTR_PUBLIC_URL", "http://dtr.internal"),
            ("DTR_ALLOW_INSECURE_ENDPOINTS", "true")
        ])
        .is_ok());
        // Extra roots for the relay must be certificates.
        let dir = tempfile::tempdir().expect("a directory");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").expect("written");
        let e = from(&[("DTR_SMTP_CA_FILE", bad.to_str().expect("utf-8"))]).expect_err("bad");
        assert!(e.to_string().starts_with("DTR_SMTP_CA_FILE"), "{e}");
    }
}
