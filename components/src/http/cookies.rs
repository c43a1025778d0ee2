//! A cookie jar shared by the HTTP client components (HP-Socket's `ICookieMgr`), on
//! `cookie_store` (RFC 6265: domain and path matching, expiry, `Secure`, `HttpOnly`,
//! `SameSite` kept as attributes).

use crate::{Error, Result};
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Mutex;

/// Cookies set by servers and sent back on later requests. `Send + Sync`: one jar may serve
/// several components (each request takes its lock once to read, each response with
/// `Set-Cookie` once to store).
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
