//! HP-Socket's cookie manager (`HP_HttpCookie_MGR_*`) and cookie helpers
//! (`HP_HttpCookie_HLP_*`).
//!
//! The manager is the process-wide jar every HTTP client and agent of the library uses while
//! `SetUseCookie` is on (`http_client::jar`, a [`CookieJar`]). Its functions follow HP's
//! `CCookieMgr`:
//! - a domain loses its leading dots and is lower-cased; a path not ending in `/` is cut back to
//!   its last `/` (`/a/b` → `/a/`) and gains a leading `/`; an argument that normalizes to
//!   nothing makes the call FALSE (a NULL domain or path is "every" in `ClearCookies` and
//!   `RemoveExpiredCookies`, "none" elsewhere);
//! - `SetCookie` with `iMaxAge` 0 deletes (TRUE if there was a cookie), negative makes a session
//!   cookie; `bOnlyUpdateValueIfExists` keeps a live cookie's attributes when the new one is a
//!   session cookie;
//! - the file of `LoadFromFile` / `SaveToFile` is HP's: a `domain path` line, then one
//!   `\tname;value;expires;httpOnly;secure;sameSite` line per cookie (expires in Unix seconds;
//!   an empty value written as one space); only persistent, unexpired cookies are saved, expired
//!   lines are skipped on load; `bKeepExists` merges (the cookies in memory win) — on save, with
//!   the file's cookies, which are loaded first as HP does.
//!
//! Differences, all on arguments HP does not check: a NULL pointer or a `SameSite` outside
//! 0..=2 is FALSE with `EINVAL` (HP crashes, or stores a value that makes the saved file
//! unreadable); a failed load sets `EBADMSG` for a malformed file as HP does; the save writes a
//! temporary file and renames it over the old one (HP truncates in place).

use crate::error::{guard, set_errno};
use crate::types::*;
use shardnet_components::http::{unix_now, CookieJar, SameSite, StoredCookie};
use std::collections::{BTreeMap, HashSet};
use std::ffi::{c_char, c_int};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

fn jar() -> &'static CookieJar {
    crate::http_client::jar()
}

/// HP's `AdjustDomain`: no leading dots, lower case, not empty.
fn domain_of(s: &str) -> Option<String> {
    let d = s.trim_start_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

/// HP's `AdjustPath`: ends in `/` (cut back to the last one), starts with `/`, not empty.
fn path_of(s: &str) -> Option<String> {
    let mut p = if s.ends_with('/') {
        s.to_string()
    } else {
        s.rfind('/').map(|i| s[..=i].to_string())?
    };
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    Some(p)
}

fn same_site_of(v: c_int) -> Option<SameSite> {
    match v {
        0 => Some(SameSite::Unset),
        1 => Some(SameSite::Strict),
        2 => Some(SameSite::Lax),
        _ => None,
    }
}

fn same_site_num(s: SameSite) -> c_int {
    match s {
        SameSite::Unset => 0,
        SameSite::Strict => 1,
        SameSite::Lax => 2,
    }
}

/// HP's `MaxAgeToExpires`: negative → -1 (session), 0 → 0 (expired), else now + n.
fn max_age_to_expires(max_age: c_int) -> i64 {
    match max_age {
        n if n > 0 => unix_now() + i64::from(n),
        0 => 0,
        _ => -1,
    }
}

/// A string argument, or FALSE with EINVAL for NULL / not UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn arg<'a>(p: *const c_char) -> Option<&'a str> {
    // SAFETY: per the caller.
    let s = unsafe { text(p) };
    if s.is_none() {
        set_errno(libc::EINVAL);
    }
    s
}

/// A string argument where NULL means "any": `Ok(None)`; `Err` when it normalizes to nothing.
///
/// # Safety
/// As [`arg`].
unsafe fn filter(p: *const c_char, norm: fn(&str) -> Option<String>) -> Result<Option<String>, ()> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: per the caller.
    let s = unsafe { arg(p) }.ok_or(())?;
    norm(s).map(Some).ok_or(())
}

/// A cookie's name and value (NULL: empty) and its normalized domain and path.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
unsafe fn cookie_args<'a>(
    name: LPCTSTR,
    value: LPCTSTR,
    domain: LPCTSTR,
    path: LPCTSTR,
) -> (&'a str, &'a str, Option<String>, Option<String>) {
    // SAFETY: per the caller.
    unsafe {
        (
            text(name).unwrap_or(""),
            text(value).unwrap_or(""),
            text(domain).and_then(domain_of),
            text(path).and_then(path_of),
        )
    }
}

/// Reads HP's cookie file into the jar; `Err(errno)` on a missing file or a malformed line
/// (cookies read before the bad line stay, as HP's).
fn load(file: &str, keep: bool) -> Result<(), c_int> {
    let text = std::fs::read(file).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let text = String::from_utf8_lossy(&text);
    let jar = jar();
    if !keep {
        jar.clear();
    }
    let held: HashSet<(String, String, String)> = jar
        .cookies()
        .into_iter()
        .map(|c| (c.domain, c.path, c.name))
        .collect();
    let mut from_file = HashSet::new();
    let now = unix_now();
    let mut group: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with(['\n', '\r']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('\t') {
            let t: Vec<&str> = rest
                .split(['\t', ';', '\n', '\r'])
                .filter(|t| !t.is_empty())
                .collect();
            let (Some((domain, path)), true) = (&group, t.len() >= 6) else {
                return Err(libc::EBADMSG);
            };
            let (name, value) = (t[0].trim(), t[1].trim());
            let expires: i64 = t[2].trim().parse().unwrap_or(0);
            let same_site = t[5].trim().parse().ok().and_then(same_site_of);
            let (Some(same_site), false, true) = (same_site, name.is_empty(), expires > 0) else {
                return Err(libc::EBADMSG);
            };
            if expires <= now {
                continue;
            }
            let key = (domain.clone(), path.clone(), name.to_string());
            if (keep && held.contains(&key)) || !from_file.insert(key) {
                continue;
            }
            jar.insert(&StoredCookie {
                name: name.to_string(),
                value: value.to_string(),
                domain: domain.clone(),
                path: path.clone(),
                expires: Some(expires),
                http_only: t[3].trim().parse::<i64>().unwrap_or(0) != 0,
                secure: t[4].trim().parse::<i64>().unwrap_or(0) != 0,
                same_site,
            });
        } else {
            let mut t = line.split([' ', '\n', '\r']).filter(|t| !t.is_empty());
            let (Some(d), Some(p)) = (t.next(), t.next()) else {
                return Err(libc::EBADMSG);
            };
            // A path from a server keeps its form ("/app"); HP's adjustment is for the others.
            let p = if p.starts_with('/') {
                Some(p.to_string())
            } else {
                path_of(p)
            };
            let (Some(d), Some(p)) = (domain_of(d), p) else {
                return Err(libc::EBADMSG);
            };
            group = Some((d, p));
        }
    }
    Ok(())
}

/// Writes the jar's persistent, unexpired cookies in HP's format.
fn save(file: &str, keep: bool) -> Result<(), c_int> {
    if keep {
        match load(file, true) {
            Ok(()) | Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    let now = unix_now();
    let mut groups: BTreeMap<(String, String), Vec<StoredCookie>> = BTreeMap::new();
    for c in jar().cookies() {
        if c.expires.is_some_and(|t| t > now) {
            groups
                .entry((c.domain.clone(), c.path.clone()))
                .or_default()
                .push(c);
        }
    }
    let mut out = String::new();
    for ((domain, path), cs) in groups {
        let _ = writeln!(out, "{domain} {path}");
        for c in cs {
            let value = if c.value.is_empty() { " " } else { &c.value };
            let _ = writeln!(
                out,
                "\t{};{};{};{};{};{}",
                c.name,
                value,
                c.expires.unwrap_or(0),
                c.http_only as i32,
                c.secure as i32,
                same_site_num(c.same_site)
            );
        }
    }
    let tmp = format!("{file}.{}.tmp", std::process::id());
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    std::fs::write(&tmp, out).map_err(errno)?;
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        errno(e)
    })
}

fn result(r: Result<(), c_int>) -> BOOL {
    match r {
        Ok(()) => TRUE,
        Err(e) => {
            set_errno(e);
            FALSE
        }
    }
}

/// Loads HP's cookie file; `bKeepExists` FALSE replaces the jar, TRUE merges (memory wins).
///
/// # Safety
/// `file` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_MGR_LoadFromFile(file: LPCTSTR, keep: BOOL) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        unsafe { arg(file) }.map_or(FALSE, |f| result(load(f, keep != FALSE)))
    })
}

/// Saves the persistent cookies in HP's format; `bKeepExists` first merges the file's cookies
/// into the jar (memory wins) so the file keeps them.
///
/// # Safety
/// `file` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_MGR_SaveToFile(file: LPCTSTR, keep: BOOL) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        unsafe { arg(file) }.map_or(FALSE, |f| result(save(f, keep != FALSE)))
    })
}

/// Removes the cookies whose domain and path are these (NULL: any) and for which `also` holds.
///
/// # Safety
/// `domain` and `path` are NULL or NUL-terminated strings.
unsafe fn remove_where(
    domain: LPCTSTR,
    path: LPCTSTR,
    also: impl Fn(&StoredCookie) -> bool,
) -> BOOL {
    // SAFETY: per the caller.
    let (Ok(d), Ok(p)) = (unsafe { filter(domain, domain_of) }, unsafe {
        filter(path, path_of)
    }) else {
        return FALSE;
    };
    jar().retain(|c| {
        let hit =
            d.as_ref().is_none_or(|d| *d == c.domain) && p.as_ref().is_none_or(|p| *p == c.path);
        !(hit && also(c))
    });
    TRUE
}

/// Removes the cookies of a domain and path (NULL: every one).
///
/// # Safety
/// `domain` and `path` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_MGR_ClearCookies(domain: LPCTSTR, path: LPCTSTR) -> BOOL {
    // SAFETY: per the caller.
    guard(FALSE, || unsafe { remove_where(domain, path, |_| true) })
}

/// Removes the expired cookies of a domain and path (NULL: every one); session cookies stay.
///
/// # Safety
/// `domain` and `path` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_MGR_RemoveExpiredCookies(
    domain: LPCTSTR,
    path: LPCTSTR,
) -> BOOL {
    let now = unix_now();
    // SAFETY: per the caller.
    guard(FALSE, || unsafe {
        remove_where(domain, path, |c| c.expired_at(now))
    })
}

/// Sets a cookie as a server's `Set-Cookie` would (see the module doc for `iMaxAge` and
/// `bOnlyUpdateValueIfExists`).
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn HP_HttpCookie_MGR_SetCookie(
    name: LPCTSTR,
    value: LPCTSTR,
    domain: LPCTSTR,
    path: LPCTSTR,
    max_age: c_int,
    http_only: BOOL,
    secure: BOOL,
    same_site: c_int,
    only_update_value: BOOL,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        let (name, value, d, p) = unsafe { cookie_args(name, value, domain, path) };
        let (Some(domain), Some(path), Some(same_site), false) =
            (d, p, same_site_of(same_site), name.is_empty())
        else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let jar = jar();
        if max_age == 0 {
            return b(jar.remove(&domain, &path, name));
        }
        let mut c = StoredCookie {
            name: name.to_string(),
            value: value.to_string(),
            domain,
            path,
            expires: (max_age > 0).then(|| max_age_to_expires(max_age)),
            http_only: http_only != FALSE,
            secure: secure != FALSE,
            same_site,
        };
        if only_update_value != FALSE && c.expires.is_none() {
            let now = unix_now();
            let old = jar.cookies().into_iter().find(|o| {
                o.domain == c.domain && o.path == c.path && o.name == c.name && !o.expired_at(now)
            });
            if let Some(mut old) = old {
                old.value = c.value;
                c = old;
            }
        }
        b(jar.insert(&c))
    })
}

/// Deletes the cookie of exactly this domain, path and name; TRUE if there was one.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_MGR_DeleteCookie(
    domain: LPCTSTR,
    path: LPCTSTR,
    name: LPCTSTR,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        let (d, p, n) = unsafe {
            (
                text(domain).and_then(domain_of),
                text(path).and_then(path_of),
                text(name),
            )
        };
        match (d, p, n) {
            (Some(d), Some(p), Some(n)) if !n.is_empty() => b(jar().remove(&d, &p, n)),
            _ => {
                set_errno(libc::EINVAL);
                FALSE
            }
        }
    })
}

/// HP's switch for cookies set for other domains than the request's (default TRUE). Kept for
/// its getter only: the jar refuses those cookies either way (RFC 6265, as `cookie_store`).
static THIRD_PARTY: AtomicBool = AtomicBool::new(true);

/// Sets HP's third-party switch (see `THIRD_PARTY`: the jar refuses such cookies either way).
#[no_mangle]
pub extern "C" fn HP_HttpCookie_MGR_SetEnableThirdPartyCookie(enable: BOOL) {
    THIRD_PARTY.store(enable != FALSE, Ordering::Relaxed);
}

/// See `HP_HttpCookie_MGR_SetEnableThirdPartyCookie`.
#[no_mangle]
pub extern "C" fn HP_HttpCookie_MGR_IsEnableThirdPartyCookie() -> BOOL {
    b(THIRD_PARTY.load(Ordering::Relaxed))
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12, day) of days since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// HP's expires text: `Www, DD-Mon-YYYY HH:MM:SS GMT`, times below 1 as 1.
fn expires_text(t: i64) -> String {
    let t = t.max(1);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02}-{}-{:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days + 4).rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// HP's `ParseExpires`: `Wday, DD Mon YYYY HH:MM:SS ZONE` with `-`, `/` or spaces between the
/// date's parts (RFC 1123, RFC 850, Netscape), two-digit years 70–99 as 19xx and 00–69 as 20xx,
/// a `+hhmm` / `-hhmm` zone applied and any other zone read as UTC. `None` when it does not
/// match or falls before 1970.
fn parse_expires(s: &str) -> Option<i64> {
    // Dates are ASCII; the byte slicing below relies on it.
    if s.is_empty() || s.len() > 50 || !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let take = |i: &mut usize, f: &dyn Fn(u8) -> bool, max: usize| {
        let start = *i;
        while *i < b.len() && *i - start < max && f(b[*i]) {
            *i += 1;
        }
        (*i > start).then(|| &s[start..*i])
    };
    take(&mut i, &|c| c != b',' && c != b' ', usize::MAX)?;
    take(&mut i, &|c| c == b',' || c == b' ', usize::MAX)?;
    let day: i64 = take(&mut i, &|c| c.is_ascii_digit(), 2)?.parse().ok()?;
    let sep = |c: u8| c == b'-' || c == b'/' || c == b' ';
    take(&mut i, &sep, usize::MAX)?;
    let month = take(&mut i, &|c| !sep(c), 8)?;
    let month = MONTHS
        .iter()
        .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(m))?
        as i64
        + 1;
    take(&mut i, &sep, usize::MAX)?;
    let mut year: i64 = take(&mut i, &|c| c.is_ascii_digit(), 4)?.parse().ok()?;
    let space = |c: u8| c.is_ascii_whitespace();
    take(&mut i, &space, usize::MAX)?;
    let mut hms = [0i64; 3];
    for (k, v) in hms.iter_mut().enumerate() {
        if k > 0 {
            (b.get(i) == Some(&b':')).then_some(())?;
            i += 1;
        }
        *v = take(&mut i, &|c| c.is_ascii_digit(), 2)?.parse().ok()?;
    }
    take(&mut i, &space, usize::MAX)?;
    let zone = take(&mut i, &|_| true, 8)?;
    if year < 70 {
        year += 2000;
    } else if year < 100 {
        year += 1900;
    }
    let mut t = days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    if let Some(at) = zone.find(['+', '-']) {
        let digits: String = zone[at + 1..]
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        let n: i64 = digits.parse().unwrap_or(0);
        let off = n / 100 * 3600 + n % 100 * 60;
        t -= if zone.as_bytes()[at] == b'+' {
            off
        } else {
            -off
        };
    }
    (t >= 0).then_some(t)
}

/// Copies `s` and its NUL to `buf` by HP's rule: `*len` becomes the size needed (with the NUL)
/// either way, TRUE only if it fitted.
///
/// # Safety
/// `buf` is NULL or has `*len` writable bytes; `len` is NULL or valid.
unsafe fn to_buffer(s: &str, buf: *mut c_char, len: *mut c_int) -> BOOL {
    if len.is_null() {
        set_errno(libc::EINVAL);
        return FALSE;
    }
    let need = s.len() + 1;
    // SAFETY: valid per the caller.
    let room = unsafe { *len };
    // SAFETY: as above.
    unsafe { *len = need as c_int };
    if buf.is_null() || room < 0 || (room as usize) < need {
        return FALSE;
    }
    // SAFETY: `room` ≥ need writable bytes at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    TRUE
}

/// Parses an `expires` date (see `parse_expires`); TRUE and the Unix time in `*ptm`.
///
/// # Safety
/// `s` is NULL or NUL-terminated; `ptm` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_HLP_ParseExpires(s: LPCTSTR, ptm: *mut i64) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        let Some(s) = (unsafe { arg(s) }) else {
            return FALSE;
        };
        match (parse_expires(s), ptm.is_null()) {
            (Some(t), false) => {
                // SAFETY: writable per the caller.
                unsafe { *ptm = t };
                TRUE
            }
            _ => FALSE,
        }
    })
}

/// Formats `tm` as HP's expires text (`Thu, 01-Jan-1970 00:00:01 GMT`).
///
/// # Safety
/// `buf` is NULL or has `*len` writable bytes; `len` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpCookie_HLP_MakeExpiresStr(
    buf: *mut c_char,
    len: *mut c_int,
    tm: i64,
) -> BOOL {
    // SAFETY: per the caller.
    guard(FALSE, || unsafe { to_buffer(&expires_text(tm), buf, len) })
}

/// A `Set-Cookie` value in HP's form: `name=value; domain=…; path=…; expires=…; HttpOnly;
/// secure; SameSite=…` (no `Max-Age`; `iMaxAge` becomes `expires`).
///
/// # Safety
/// `buf` is NULL or has `*len` writable bytes; `len` is NULL or valid; the strings are NULL or
/// NUL-terminated.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn HP_HttpCookie_HLP_ToString(
    buf: *mut c_char,
    len: *mut c_int,
    name: LPCTSTR,
    value: LPCTSTR,
    domain: LPCTSTR,
    path: LPCTSTR,
    max_age: c_int,
    http_only: BOOL,
    secure: BOOL,
    same_site: c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the caller.
        let (name, value, d, p) = unsafe { cookie_args(name, value, domain, path) };
        let mut s = format!("{name}={value}");
        if let Some(d) = d {
            let _ = write!(s, "; domain={d}");
        }
        if let Some(p) = p {
            let _ = write!(s, "; path={p}");
        }
        let expires = max_age_to_expires(max_age);
        if expires >= 0 {
            let _ = write!(s, "; expires={}", expires_text(expires));
        }
        if http_only != FALSE {
            s.push_str("; HttpOnly");
        }
        if secure != FALSE {
            s.push_str("; secure");
        }
        if same_site != 0 {
            s.push_str(if same_site == 2 {
                "; SameSite=Lax"
            } else {
                "; SameSite=Strict"
            });
        }
        // SAFETY: per the caller.
        unsafe { to_buffer(&s, buf, len) }
    })
}

/// The current time in Unix seconds.
#[no_mangle]
pub extern "C" fn HP_HttpCookie_HLP_CurrentUTCTime() -> i64 {
    unix_now()
}

/// `iMaxAge` → expiry: negative -1 (session), 0 0 (expired), else now + `iMaxAge`.
#[no_mangle]
pub extern "C" fn HP_HttpCookie_HLP_MaxAgeToExpires(max_age: c_int) -> i64 {
    max_age_to_expires(max_age)
}

/// Expiry → seconds left: negative -1, past or now 0.
#[no_mangle]
pub extern "C" fn HP_HttpCookie_HLP_ExpiresToMaxAge(tm: i64) -> c_int {
    if tm < 0 {
        return -1;
    }
    (tm - unix_now()).clamp(0, i64::from(c_int::MAX)) as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_hp_text() {
        assert_eq!(expires_text(0), "Thu, 01-Jan-1970 00:00:01 GMT");
        assert_eq!(expires_text(784_111_777), "Sun, 06-Nov-1994 08:49:37 GMT");
        assert_eq!(expires_text(1_767_225_600), "Thu, 01-Jan-2026 00:00:00 GMT");
        assert_eq!(expires_text(951_782_400), "Tue, 29-Feb-2000 00:00:00 GMT");
        for t in [1, 784_111_777, 951_782_400, 4_102_444_799, 1_767_225_600] {
            assert_eq!(parse_expires(&expires_text(t)), Some(t));
        }
        assert_eq!(
            parse_expires("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_expires("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_expires("Sun, 06/nov/1994 09:49:37 +0100"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_expires("Sun, 06 Nov 1994 03:49:37 -0500"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_expires("Sun, 06 Nov 2024 08:49:37 UTC"),
            Some(1_730_882_977)
        );
        assert_eq!(
            parse_expires("Thu, 01 Jan 30 00:00:00 GMT"),
            Some(1_893_456_000)
        );
        for bad in [
            "",
            "Sun Nov  6 08:49:37 1994",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT and far too much text after it",
            "Sun, 06 ééé 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTééé",
        ] {
            assert_eq!(parse_expires(bad), None, "{bad}");
        }
    }

    #[test]
    fn domains_and_paths_normalize_as_hp() {
        assert_eq!(domain_of("..Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("."), None);
        assert_eq!(path_of("/a/b").as_deref(), Some("/a/"));
        assert_eq!(path_of("a/b/").as_deref(), Some("/a/b/"));
        assert_eq!(path_of("/").as_deref(), Some("/"));
        assert_eq!(path_of("abc"), None);
        assert_eq!(path_of(""), None);
    }
}
