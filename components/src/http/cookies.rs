//! A cookie jar shared by the HTTP client components (HP-Socket's `ICookieMgr`), on
//! `cookie_store` (RFC 6265: domain and path matching, expiry, `Secure`, `HttpOnly`,
//! `SameSite` kept as attributes).

use crate::{Error, Result};
use cookie_store::{CookieExpiration, RawCookie};
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Mutex;

/// A cookie's `SameSite` attribute (HP-Socket's `CCookie::EnSameSite`: none 0, Strict 1, Lax 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// No attribute.
    #[default]
    Unset,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
}

/// One cookie as a [`CookieJar`] holds it: what [`CookieJar::cookies`] lists and
/// [`CookieJar::insert`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// The domain it is sent to, lower case without a leading dot (with its subdomains unless
    /// the server gave no `Domain` attribute).
    pub domain: String,
    /// The path it is sent under.
    pub path: String,
    /// When it expires, in Unix seconds; `None` for a session cookie.
    pub expires: Option<i64>,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `Secure`.
    pub secure: bool,
    /// `SameSite`.
    pub same_site: SameSite,
}

impl StoredCookie {
    /// True when it has an expiry at or before `now` (Unix seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires.is_some_and(|t| t <= now)
    }
}

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A stored cookie as a [`StoredCookie`].
fn stored(c: &cookie_store::Cookie<'static>) -> StoredCookie {
    StoredCookie {
        name: c.name().to_string(),
        value: c.value().to_string(),
        domain: String::from(&c.domain),
        path: String::from(&c.path),
        expires: match &c.expires {
            CookieExpiration::AtUtc(t) => Some(t.unix_timestamp()),
            CookieExpiration::SessionEnd => None,
        },
        http_only: c.http_only().unwrap_or(false),
        secure: c.secure().unwrap_or(false),
        same_site: match c.same_site() {
            Some(cookie::SameSite::Strict) => SameSite::Strict,
            Some(cookie::SameSite::Lax) => SameSite::Lax,
            _ => SameSite::Unset,
        },
    }
}

/// Cookies set by servers and sent back on later requests. `Send + Sync`: one jar may serve
/// several components (each request takes its lock once to read, each response with
/// `Set-Cookie` once to store).
///
/// A response cannot set a cookie for a domain that does not domain-match its request's host
/// (RFC 6265: no third-party cookies).
#[derive(Debug, Default)]
pub struct CookieJar {
    store: Mutex<cookie_store::CookieStore>,
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// A jar loaded from a JSON file written by [`CookieJar::save`] (expired cookies dropped).
    pub fn load(path: &Path) -> Result<CookieJar> {
        let f = std::fs::File::open(path)?;
        let store = cookie_store::serde::json::load(BufReader::new(f))
            .map_err(|e| Error::InvalidParam(format!("{}: {e}", path.display())))?;
        Ok(CookieJar {
            store: Mutex::new(store),
        })
    }

    /// Writes the persistent, unexpired cookies to `path` as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = BufWriter::new(f);
        cookie_store::serde::json::save(&self.lock(), &mut w)
            .map_err(|e| Error::InvalidParam(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, cookie_store::CookieStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `Cookie` header value for a request to `url` (`None` when no cookie matches).
    pub fn header_for(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        let store = self.lock();
        let mut out = String::new();
        for (n, v) in store.get_request_values(&url) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Stores one `Set-Cookie` value received in answer to a request to `url`; returns whether
    /// it was accepted (a cookie for another domain, or malformed, is not).
    pub fn store(&self, url: &str, set_cookie: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        self.lock().parse(set_cookie, &url).is_ok()
    }

    /// Every cookie held, expired ones included.
    pub fn cookies(&self) -> Vec<StoredCookie> {
        self.lock().iter_any().map(stored).collect()
    }

    /// Stores `c` (replacing the cookie of the same domain, path and name) as if its domain had
    /// set it with a `Domain` attribute; returns false if it is expired or its domain or path
    /// is not one a cookie can have.
    pub fn insert(&self, c: &StoredCookie) -> bool {
        if c.name.is_empty() || c.domain.is_empty() || !c.path.starts_with('/') {
            return false;
        }
        let scheme = if c.secure { "https" } else { "http" };
        let Ok(url) = url::Url::parse(&format!("{scheme}://{}{}", c.domain, c.path)) else {
            return false;
        };
        let mut raw = RawCookie::new(c.name.clone(), c.value.clone());
        raw.set_domain(c.domain.clone());
        raw.set_path(c.path.clone());
        raw.set_http_only(c.http_only);
        raw.set_secure(c.secure);
        match c.same_site {
            SameSite::Unset => {}
            SameSite::Strict => raw.set_same_site(cookie::SameSite::Strict),
            SameSite::Lax => raw.set_same_site(cookie::SameSite::Lax),
        }
        if let Some(t) = c.expires {
            match cookie::time::OffsetDateTime::from_unix_timestamp(t) {
                Ok(t) => raw.set_expires(t),
                Err(_) => return false,
            }
        }
        matches!(
            self.lock().insert_raw(&raw, &url),
            Ok(cookie_store::StoreAction::Inserted | cookie_store::StoreAction::UpdatedExisting)
        )
    }

    /// Removes the cookie of exactly this domain, path and name; returns whether there was one.
    pub fn remove(&self, domain: &str, path: &str, name: &str) -> bool {
        self.lock().remove(domain, path, name).is_some()
    }

    /// Removes every cookie for which `keep` answers false; returns how many went.
    pub fn retain(&self, mut keep: impl FnMut(&StoredCookie) -> bool) -> usize {
        // One lock: a cookie a response refreshes meanwhile is not removed by its old copy.
        let mut store = self.lock();
        let gone: Vec<StoredCookie> = store.iter_any().map(stored).filter(|c| !keep(c)).collect();
        gone.iter()
            .filter(|c| store.remove(&c.domain, &c.path, &c.name).is_some())
            .count()
    }

    /// The value of cookie `name` that a request to `url` would send.
    pub fn get(&self, url: &str, name: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        let store = self.lock();
        let v = store
            .get_request_values(&url)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string());
        v
    }

    /// Number of unexpired cookies.
    pub fn len(&self) -> usize {
        self.lock().iter_unexpired().count()
    }

    /// True when no unexpired cookie is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(name: &str, domain: &str, path: &str, expires: Option<i64>) -> StoredCookie {
        StoredCookie {
            name: name.into(),
            value: "v".into(),
            domain: domain.into(),
            path: path.into(),
            expires,
            http_only: true,
            secure: false,
            same_site: SameSite::Lax,
        }
    }

    #[test]
    fn cookies_for_other_domains_are_refused() {
        let jar = CookieJar::new();
        assert!(jar.store("http://www.example.com/", "a=1; Domain=example.com"));
        assert!(!jar.store("http://www.example.com/", "b=1; Domain=other.com"));
        assert!(!jar.store("http://example.com/", "c=1; Domain=www.example.com"));
        assert!(jar.store("http://www.example.com/", "d=1"));
        let header = jar
            .header_for("http://www.example.com/")
            .unwrap_or_default();
        let mut sent: Vec<&str> = header.split("; ").collect();
        sent.sort_unstable();
        assert_eq!(sent, ["a=1", "d=1"]);
        assert_eq!(jar.header_for("http://other.com/"), None);
    }

    #[test]
    fn cookies_go_in_list_and_come_out() {
        let jar = CookieJar::new();
        let later = unix_now() + 600;
        let c = cookie("sid", "example.com", "/app/", Some(later));
        assert!(jar.insert(&c));
        assert!(jar.insert(&cookie("tmp", "example.com", "/", None)));
        assert!(!jar.insert(&cookie("old", "example.com", "/", Some(10))));
        assert!(!jar.insert(&cookie("p", "example.com", "nopath", None)));
        let mut all = jar.cookies();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(all, [c.clone(), cookie("tmp", "example.com", "/", None)]);
        assert_eq!(
            jar.get("http://a.example.com/app/x", "sid").as_deref(),
            Some("v")
        );
        assert_eq!(jar.get("http://example.com/other", "sid"), None);
        assert_eq!(jar.retain(|c| c.expires.is_some()), 1);
        assert!(jar.remove("example.com", "/app/", "sid"));
        assert!(!jar.remove("example.com", "/app/", "sid"));
        assert!(jar.is_empty());
    }
}
