//! The state behind one C component handle (`HP_TcpServer`, `HP_TcpAgent`, `HP_TcpClient`, and
//! their Pull and Pack forms): the listener it was created with, the settings made before
//! `Start`, the running shardnet component, and its last error.

use crate::error::LastError;
use arc_swap::ArcSwapOption;
use shardnet_components::pack::PackConfig;
use shardnet_components::TcpConfig;
use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The receive model a handle was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Model {
    Push,
    Pull,
    Pack,
    /// `HP_UdpServer` / `HP_UdpClient`.
    Udp,
    /// `HP_UdpArqServer` / `HP_UdpArqClient`.
    Arq,
    /// `HP_UdpCast`.
    Cast,
    /// `HP_HttpServer` / `HP_HttpsServer`, `HP_HttpClient` / `HP_HttpsClient`.
    Http,
    /// `HP_HttpSyncClient` / `HP_HttpsSyncClient`.
    HttpSync,
}

/// Settings HP-Socket has that shardnet does not need (its object pools, IOCP-era knobs): kept
/// so that their getters return what was set.
pub(crate) struct Knobs {
    pub send_policy: c_int,
    pub on_send_sync: c_int,
    pub free_socket_lock_time: u32,
    pub free_socket_pool: u32,
    pub free_buffer_pool: u32,
    pub free_socket_hold: u32,
    pub free_buffer_hold: u32,
    pub accept_socket_count: u32,
    pub mark_silence: bool,
    /// Agents: whether `Connect` returns at once (HP's `bAsyncConnect`).
    pub async_connect: bool,
    /// Clients: HP's buffer pool settings.
    pub free_buffer_pool_size: u32,
    pub free_buffer_pool_hold: u32,
    /// UDP nodes: multicast TTL and loop (HP: 1, off) and the reuse policy's getter value.
    pub multicast_ttl: c_int,
    pub multicast_loop: bool,
    pub node_reuse: c_int,
    /// UDP casts: `En_HP_CastMode` (HP: CM_MULTICAST).
    pub cast_mode: c_int,
    /// HTTP: HP's release delay (ms), local version and automatic start.
    pub release_delay: u32,
    pub local_version: c_int,
    pub http_auto_start: bool,
    /// HTTP clients: cookies on (HP: yes), a sync client's timeouts (ms; HP: 5 s, 10 s).
    pub use_cookie: bool,
    pub sync_connect_timeout: u32,
    pub sync_request_timeout: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        // HP-Socket's defaults.
        Knobs {
            send_policy: 0,
            on_send_sync: 0,
            free_socket_lock_time: 30_000,
            free_socket_pool: 150,
            free_buffer_pool: 300,
            free_socket_hold: 600,
            free_buffer_hold: 900,
            accept_socket_count: 300,
            mark_silence: true,
            async_connect: true,
            free_buffer_pool_size: 60,
            free_buffer_pool_hold: 60,
            multicast_ttl: 1,
            multicast_loop: false,
            node_reuse: 0,
            cast_mode: crate::types::cm::CM_MULTICAST,
            release_delay: 5000,
            local_version: crate::types::hv::HV_1_1,
            http_auto_start: true,
            use_cookie: true,
            sync_connect_timeout: 5000,
            sync_request_timeout: 10_000,
        }
    }
}

/// Synchronous-connect outcomes, under one lock: those filed and not yet taken, and the ids
/// nobody will wait for (a connect made from a callback, or a wait that timed out), whose
/// outcome is not kept.
#[derive(Default)]
pub(crate) struct Outcomes {
    done: std::collections::HashMap<u64, c_int>,
    unwaited: std::collections::HashSet<u64>,
}

/// One C component. `C` is the shardnet component, `F` the listener's callback table.
pub(crate) struct Handle<C, F> {
    pub fns: *const F,
    pub model: Model,
    pub cfg: Mutex<TcpConfig>,
    /// UDP servers and clients: their settings (`max_connections` and the shard count come
    /// from `cfg`, which the shared `HP_Server_*` setters write).
    pub udp: Mutex<shardnet_components::udp::UdpConfig>,
    pub pack: Mutex<PackConfig>,
    pub knobs: Mutex<Knobs>,
    pub err: LastError,
    /// Clients: the application value (`HP_Client_SetExtra`), kept across starts as HP's.
    pub extra: std::sync::atomic::AtomicUsize,
    /// Created by a `Create_HP_SSL*` function: starting needs `SetupSSLContext` first.
    pub is_ssl: std::sync::atomic::AtomicBool,
    /// The TLS settings as the program gave them (SSL components).
    pub ssl: crate::ssl::SslCell,
    /// Connections paused with `PauseReceive` (HP's `IsPauseReceive` reads it; a connection
    /// leaves it when it closes).
    pub paused: Mutex<std::collections::HashSet<u64>>,
    /// Agents with synchronous connects: each connect's outcome (0 connected, else the errno
    /// of its failure), filed by the callbacks and taken by the waiting `Connect`.
    pub outcomes: Mutex<Outcomes>,
    pub outcome_ready: std::sync::Condvar,
    /// HTTP components: the current run's HTTP side (`http_callbacks::HttpRun` of the
    /// component), replaced at each start as `running` is.
    http: ArcSwapOption<HttpSlot>,
    /// HTTP clients: the host (lower case) and port the current run connected to.
    pub http_target: Mutex<Option<(String, u16)>>,
    /// The component of the current (or last) run; None before the first `Start`. A
    /// replaced one is freed (with its shard threads) once no call holds it ([`Running`]).
    running: ArcSwapOption<C>,
    /// How many components were installed.
    runs: AtomicUsize,
}

// SAFETY: `fns` points to a listener table the C program keeps alive and does not change while
// the component runs (HP-Socket's contract); the components are Send + Sync.
unsafe impl<C: Send + Sync, F> Send for Handle<C, F> {}
// SAFETY: as above; every field is read through atomics or mutexes.
unsafe impl<C: Send + Sync, F> Sync for Handle<C, F> {}

impl<C, F> Handle<C, F> {
    pub(crate) fn new(fns: *const F, model: Model) -> Handle<C, F> {
        Handle {
            fns,
            model,
            cfg: Mutex::new(TcpConfig::default()),
            udp: Mutex::new(shardnet_components::udp::UdpConfig {
                arq: (model == Model::Arq).then(shardnet_components::udp::ArqConfig::default),
                ..Default::default()
            }),
            pack: Mutex::new(PackConfig::default()),
            knobs: Mutex::new(Knobs::default()),
            err: LastError::default(),
            extra: std::sync::atomic::AtomicUsize::new(0),
            is_ssl: std::sync::atomic::AtomicBool::new(false),
            ssl: Default::default(),
            paused: Mutex::new(Default::default()),
            outcomes: Mutex::new(Default::default()),
            outcome_ready: std::sync::Condvar::new(),
            http: ArcSwapOption::empty(),
            http_target: Mutex::new(None),
            running: ArcSwapOption::empty(),
            runs: AtomicUsize::new(0),
        }
    }

    /// The running (or last) component, held for as long as the guard lives.
    pub(crate) fn get(&self) -> Option<Running<C>> {
        let g = self.running.load();
        g.is_some().then_some(Running(g))
    }

    /// Makes `c` the running component.
    pub(crate) fn install(&self, c: C) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.running.store(Some(Arc::new(c)));
    }

    /// An SSL component not set up yet: refuses to start with SE_SSL_ENV_NOT_READY.
    pub(crate) fn ssl_missing(&self) -> bool {
        if self.is_ssl.load(Ordering::Relaxed) && self.cfg().tls.is_none() {
            self.err.set(
                crate::types::se::SE_SSL_ENV_NOT_READY,
                "SSL context not set up",
                libc::EPERM,
            );
            return true;
        }
        false
    }

    /// How many runs this handle has had (components installed).
    pub(crate) fn runs_started(&self) -> usize {
        self.runs.load(Ordering::Relaxed)
    }

    /// Before a start: no running component until the new one is known (a callback of the
    /// new run may come before `Start` returns; see [`Self::adopt_with`]).
    pub(crate) fn clear_running(&self) {
        self.running.store(None);
    }

    /// From a callback of a run that `Start` has not installed yet: the component `make`
    /// returns (the one the callback got) becomes the running one, so the C code's calls in
    /// that callback work. Nothing changes if one is installed.
    pub(crate) fn adopt_with(&self, make: impl FnOnce() -> C) {
        if self.running.load().is_none() {
            self.install(make());
        }
    }

    pub(crate) fn cfg(&self) -> std::sync::MutexGuard<'_, TcpConfig> {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn udp(&self) -> std::sync::MutexGuard<'_, shardnet_components::udp::UdpConfig> {
        self.udp.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn knobs(&self) -> std::sync::MutexGuard<'_, Knobs> {
        self.knobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn paused(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<u64>> {
        self.paused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a successful PauseReceive.
    pub(crate) fn mark_paused(&self, conn: u64, pause: bool) {
        let mut p = self.paused();
        if pause {
            p.insert(conn);
        } else {
            p.remove(&conn);
        }
    }

    /// Files a connect's outcome for a synchronous `Connect` waiting on it.
    pub(crate) fn connect_outcome(&self, conn: u64, errno: c_int) {
        if self.knobs().async_connect {
            return;
        }
        let mut m = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        if !m.unwaited.remove(&conn) {
            m.done.insert(conn, errno);
        }
        drop(m);
        self.outcome_ready.notify_all();
    }

    /// Nobody will wait for `conn`'s outcome: dropped if filed already, not kept if it comes
    /// later (the same lock orders the two).
    pub(crate) fn unwaited(&self, conn: u64) {
        let mut m = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        if m.done.remove(&conn).is_none() {
            m.unwaited.insert(conn);
        }
    }

    /// Waits up to `t` for `conn`'s outcome.
    pub(crate) fn wait_outcome(&self, conn: u64, t: std::time::Duration) -> Option<c_int> {
        let deadline = std::time::Instant::now() + t;
        let mut m = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(e) = m.done.remove(&conn) {
                return Some(e);
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            m = self
                .outcome_ready
                .wait_timeout(m, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A connection closed: it is no longer paused.
    pub(crate) fn forget(&self, conn: u64) {
        let mut p = self.paused();
        if !p.is_empty() {
            p.remove(&conn);
        }
    }

    /// The HTTP side of the current run, if it is a `T`: read without a lock, as every
    /// getter and request call does, and held for as long as the guard lives.
    pub(crate) fn http_run<T: Send + Sync + 'static>(&self) -> Option<HttpGuard<T>> {
        let g = self.http.load();
        let is_t = g.as_deref().is_some_and(|b| b.is::<Arc<T>>());
        is_t.then_some(HttpGuard(g, std::marker::PhantomData))
    }

    /// Makes `r` the HTTP side of the run being started (the one it replaces is freed once
    /// no call holds it).
    pub(crate) fn set_http_run<S: Send + Sync + 'static>(
        &self,
        r: Arc<crate::http_callbacks::HttpRun<S>>,
    ) {
        self.http.store(Some(Arc::new(Box::new(r))));
    }

    /// [`Self::http_run`], with errno EPERM when there is none (before the first start).
    pub(crate) fn started_http<T: Send + Sync + 'static>(&self) -> Option<HttpGuard<T>> {
        let r = self.http_run::<T>();
        if r.is_none() {
            crate::error::set_errno(libc::EPERM);
        }
        r
    }

    /// Starts an HTTP component (`start`) with `run` as its HTTP side: on success the
    /// component becomes the run's and its TCP side (`tcp`) the handle's running component.
    pub(crate) fn start_http<S>(
        &self,
        run: Arc<crate::http_callbacks::HttpRun<S>>,
        start: impl FnOnce() -> shardnet_components::Result<S>,
        tcp: impl FnOnce(&S) -> C,
    ) -> crate::types::BOOL
    where
        S: Clone + Send + Sync + 'static,
    {
        self.clear_running();
        self.set_http_run(run.clone());
        match start() {
            Ok(s) => {
                // The run's component first, as `Bridge::adopt`: once the handle's running
                // component shows, the HTTP calls find theirs.
                let t = tcp(&s);
                let _ = run.side.set(s);
                self.adopt_with(|| t);
                self.err.set(crate::types::se::SE_OK, "SUCCESS", 0);
                crate::types::TRUE
            }
            Err(e) => {
                self.err.from(&e);
                crate::types::FALSE
            }
        }
    }

    /// The client TLS settings an SSL component was set up with.
    pub(crate) fn client_tls(&self) -> Option<shardnet_components::tls::ClientTlsConfig> {
        match &self.cfg().tls {
            Some(shardnet_components::TlsSettings::Client(c)) => Some(c.clone()),
            _ => None,
        }
    }

    pub(crate) fn pack_cfg(&self) -> std::sync::MutexGuard<'_, PackConfig> {
        self.pack.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `Handle::http` holds: the run as `Arc<HttpRun<S>>`, behind `Any` (one `S` per handle
/// family).
type HttpSlot = Box<dyn std::any::Any + Send + Sync>;

/// A handle's running component, kept alive while this guard lives (a restart replaces it;
/// the old one is freed when its last guard drops).
pub(crate) struct Running<C>(arc_swap::Guard<Option<Arc<C>>>);

impl<C> std::ops::Deref for Running<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.0
            .as_deref()
            .expect("a Running guard holds a component")
    }
}

/// A handle's HTTP run as a `T` (an `HttpRun<S>`), kept alive while this guard lives.
pub(crate) struct HttpGuard<T>(
    arc_swap::Guard<Option<Arc<HttpSlot>>>,
    std::marker::PhantomData<fn() -> T>,
);

impl<T: 'static> std::ops::Deref for HttpGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
            .as_deref()
            .and_then(|b| b.downcast_ref::<Arc<T>>())
            .map(|a| &**a)
            .expect("an HttpGuard holds a T")
    }
}

/// The handle behind a C pointer (NULL → None).
///
/// # Safety
/// `p` is NULL or a live handle of this type made by its `Create_` function.
pub(crate) unsafe fn handle<'a, C, F>(p: *mut std::ffi::c_void) -> Option<&'a Handle<C, F>> {
    // SAFETY: per the contract.
    unsafe { (p as *const Handle<C, F>).as_ref() }
}

/// The handle behind `p` when its model passes `is` (None, errno EINVAL, for NULL or another
/// component).
///
/// # Safety
/// `p` is NULL or a live handle of this type made by its `Create_` function.
pub(crate) unsafe fn handle_of<'a, C, F>(
    p: *mut std::ffi::c_void,
    is: impl FnOnce(Model) -> bool,
) -> Option<&'a Handle<C, F>> {
    // SAFETY: per the contract.
    let h = unsafe { handle::<C, F>(p) }.filter(|h| is(h.model));
    if h.is_none() {
        crate::error::set_errno(libc::EINVAL);
    }
    h
}

/// Destroys a handle: stops its component and frees it. From a callback (a shard thread) the
/// work moves to a thread of its own, since the shard cannot wait for itself.
///
/// # Safety
/// `p` is NULL or a live handle made by the matching `Create_`, not used afterwards.
pub(crate) unsafe fn destroy<C, F>(p: *mut std::ffi::c_void, stop: fn(&C) -> bool)
where
    C: Send + Sync + 'static,
    F: 'static,
{
    if p.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in Create_, per the contract.
    let h = unsafe { Box::from_raw(p as *mut Handle<C, F>) };
    let finish = move || {
        if let Some(c) = h.get() {
            stop(&c);
        }
        drop(h);
    };
    if shardnet_runtime::Runtime::current().is_some() {
        struct Movable<T>(T);
        // SAFETY: the handle is Send (see above); the box only moves to the new thread.
        unsafe impl<T> Send for Movable<T> {}
        let job = Movable(finish);
        std::thread::spawn(move || {
            let job = job;
            (job.0)()
        });
    } else {
        finish();
    }
}

/// `Create_HP_*`: a new handle bound to the listener `l` (NULL for a NULL listener).
pub(crate) fn create<C, F>(l: *mut std::ffi::c_void, model: Model) -> *mut std::ffi::c_void {
    if l.is_null() {
        crate::error::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    Box::into_raw(Box::new(Handle::<C, F>::new(l as *const F, model))) as *mut std::ffi::c_void
}

/// Stops a component and waits for it (the stop of `Destroy_HP_*`).
pub(crate) fn stop_and_wait<C: crate::handle::Stoppable>(c: &C) -> bool {
    c.stop_now();
    c.wait_stopped()
}

/// The stop and wait every component has.
pub(crate) trait Stoppable {
    fn stop_now(&self);
    fn wait_stopped(&self) -> bool;
}

macro_rules! stoppable {
    ($($t:ty),*) => {$(
        impl Stoppable for $t {
            fn stop_now(&self) {
                self.stop()
            }
            fn wait_stopped(&self) -> bool {
                self.wait().is_ok()
            }
        }
    )*};
}
stoppable!(
    crate::any_server::AnyServer,
    shardnet_components::TcpAgent,
    crate::any_client::AnyClient,
    shardnet_components::udp::UdpNode
);

/// `Destroy_HP_*` functions for handles of `Handle<$c, $f>`.
macro_rules! destroyers {
    ($c:ty, $f:ty: $($name:ident),*) => {$(
        /// Stops the component (if running) and frees it; from inside a callback the work is
        /// handed to a thread of its own instead of deadlocking. NULL is ignored.
        ///
        /// # Safety
        /// `p` is NULL or a component made by the matching `Create_`, not used afterwards.
        #[no_mangle]
        pub unsafe extern "C" fn $name(p: PVOID) {
            $crate::error::guard((), || {
                // SAFETY: per the contract.
                unsafe {
                    $crate::handle::destroy::<$c, $f>(p, $crate::handle::stop_and_wait::<$c>)
                }
            })
        }
    )*};
}
pub(crate) use destroyers;

/// `Create_HP_*` functions for handles of `Handle<$c, $f>`, one per receive model.
macro_rules! creators {
    ($c:ty, $f:ty: $($name:ident => $model:ident),*) => {$(
        /// Creates the component bound to a listener's callbacks (NULL for a NULL listener).
        #[no_mangle]
        pub extern "C" fn $name(l: PVOID) -> PVOID {
            $crate::handle::create::<$c, $f>(l, $crate::handle::Model::$model)
        }
    )*};
}
pub(crate) use creators;
