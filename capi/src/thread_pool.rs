//! HP-Socket's thread pool (`HP_ThreadPool_*`) and socket tasks (`Create_HP_SocketTaskObj`):
//! a fixed set of worker threads taking C functions from a bounded queue, for work a program
//! moves off its shard callbacks (HP's `IHPThreadPool`).
//!
//! HP's rules: `Start(threads, max_queue, policy, stack)` with 0 threads = CPUs × 2 + 2 and a
//! "negative" count (`(DWORD)-n`) = CPUs × n; `max_queue` 0 = unbounded. A full queue answers by
//! the rejected policy: `TRP_CALL_FAIL` (FALSE, `ENOSPC`), `TRP_WAIT_FOR` (wait up to `dwMaxWait`
//! ms for room, then FALSE, `ETIMEDOUT`) or `TRP_CALLER_RUN` (the submitting thread runs it).
//! A socket task runs `task->fn(task)` and is then destroyed by the pool; one that was not
//! accepted stays the caller's. `Stop(dwMaxWait)` lets the workers finish the queue; HP kills
//! the threads still running after `dwMaxWait`, this pool cannot kill a thread: it leaves them
//! to finish on their own, drops the tasks not started and answers FALSE (`ETIMEDOUT`).
//! `Stop` from a worker returns at once (the pool stops after that task); `Destroy` from a
//! worker hands the stop-and-free to a thread of its own.

use crate::error::{guard, set_errno};
use crate::types::*;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `Fn_TaskProc`.
pub type FnTaskProc = unsafe extern "C" fn(PVOID);
/// `Fn_SocketTaskProc`.
pub type FnSocketTaskProc = unsafe extern "C" fn(*mut SocketTask);

/// `TSocketTask`: HP's layout.
#[repr(C)]
pub struct SocketTask {
    /// The task function.
    pub func: Option<FnSocketTaskProc>,
    /// The component that made it.
    pub sender: PVOID,
    /// The connection.
    pub conn_id: HP_CONNID,
    /// The buffer.
    pub buf: *const u8,
    /// Its length.
    pub buf_len: c_int,
    /// `En_HP_TaskBufferType`: who frees the buffer.
    pub buf_type: c_int,
    /// `WPARAM`.
    pub wparam: c_ulong,
    /// `LPARAM`.
    pub lparam: c_long,
}

const TBT_COPY: c_int = 0;
const TBT_REFER: c_int = 1;
const TBT_ATTACH: c_int = 2;
const TRP_CALL_FAIL: c_int = 0;
const TRP_WAIT_FOR: c_int = 1;
const TRP_CALLER_RUN: c_int = 2;
const SS_STARTED: c_int = 1;
const SS_STOPPING: c_int = 2;
const SS_STOPPED: c_int = 3;

/// One queued job; raw pointers travel as integers (the C side owns their thread safety).
#[derive(Clone, Copy)]
enum Job {
    Call(FnTaskProc, usize),
    Task(usize),
}

impl Job {
    fn run(self) {
        match self {
            // SAFETY: a C task function with the argument it was submitted with.
            Job::Call(f, arg) => unsafe { f(arg as PVOID) },
            Job::Task(t) => {
                let t = t as *mut SocketTask;
                // SAFETY: a task made by Create_HP_SocketTaskObj, owned by the pool from here.
                unsafe {
                    if let Some(f) = (*t).func {
                        f(t);
                    }
                    destroy_task(t);
                }
            }
        }
    }

    /// A job that will not run: a socket task is freed (it was the pool's).
    fn drop_unrun(self) {
        if let Job::Task(t) = self {
            // SAFETY: as in `run`.
            unsafe { destroy_task(t as *mut SocketTask) };
        }
    }
}

struct State {
    state: c_int,
    queue: VecDeque<Job>,
    running: u32,
    threads: u32,
    target: u32,
    max_queue: u32,
    policy: c_int,
    stack: usize,
}

struct Shared {
    st: Mutex<State>,
    work: Condvar,
    room: Condvar,
    idle: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits on `cv` while `wait` holds, up to `ms` (0xFFFFFFFF: forever); the guard back and
/// whether `wait` stopped holding (false: the time ran out).
fn wait_while<'a>(
    cv: &Condvar,
    mut st: MutexGuard<'a, State>,
    ms: DWORD,
    wait: impl Fn(&State) -> bool,
) -> (MutexGuard<'a, State>, bool) {
    let deadline = wait_time(ms).map(|d| Instant::now() + d);
    while wait(&st) {
        st = match deadline {
            None => cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (st, false);
                }
                cv.wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    (st, true)
}

/// The pool behind an `HP_ThreadPool` handle.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

thread_local! {
    /// The pool whose worker this thread is (0: none).
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// HP's thread count: 0 → CPUs × 2 + 2, `(DWORD)-n` → CPUs × n.
fn thread_count(n: DWORD) -> u32 {
    match n as i32 {
        0 => cpus() * 2 + 2,
        k if k < 0 => cpus().saturating_mul(k.unsigned_abs()),
        _ => n,
    }
    .min(4096)
}

fn wait_time(ms: DWORD) -> Option<Duration> {
    (ms != u32::MAX).then(|| Duration::from_millis(u64::from(ms)))
}

impl Pool {
    fn spawn(&self, st: &mut State) -> bool {
        let shared = self.shared.clone();
        let me = self as *const Pool as usize;
        let mut b = std::thread::Builder::new().name("hp-thread-pool".into());
        if st.stack > 0 {
            b = b.stack_size(st.stack);
        }
        match b.spawn(move || worker(shared, me)) {
            Ok(h) => {
                st.threads += 1;
                let mut w = self.workers.lock().unwrap_or_else(|e| e.into_inner());
                w.retain(|h| !h.is_finished()); // those a shrink let go
                w.push(h);
                true
            }
            Err(_) => false,
        }
    }

    fn submit(&self, job: Job, max_wait: DWORD) -> BOOL {
        let mut st = self.shared.lock();
        if st.state != SS_STARTED {
            drop(st);
            set_errno(libc::EPERM);
            return FALSE;
        }
        let full = |st: &State| st.max_queue > 0 && st.queue.len() as u32 >= st.max_queue;
        if full(&st) {
            match st.policy {
                TRP_CALLER_RUN => {
                    drop(st);
                    job.run();
                    return TRUE;
                }
                TRP_WAIT_FOR => {
                    let room = &self.shared.room;
                    let (g, ok) =
                        wait_while(room, st, max_wait, |st| full(st) && st.state == SS_STARTED);
                    st = g;
                    if !ok {
                        drop(st);
                        set_errno(libc::ETIMEDOUT);
                        return FALSE;
                    }
                    if st.state != SS_STARTED {
                        drop(st);
                        set_errno(libc::EPERM);
                        return FALSE;
                    }
                }
                _ => {
                    drop(st);
                    set_errno(libc::ENOSPC);
                    return FALSE;
                }
            }
        }
        st.queue.push_back(job);
        drop(st);
        self.shared.work.notify_one();
        TRUE
    }

    /// Stops taking jobs, lets the workers finish the queue and joins them (up to `max_wait`).
    fn stop(&self, max_wait: DWORD) -> BOOL {
        let mut st = self.shared.lock();
        if st.state != SS_STARTED {
            drop(st);
            set_errno(libc::EPERM);
            return FALSE;
        }
        st.state = SS_STOPPING;
        st.target = 0;
        drop(st);
        self.shared.work.notify_all();
        self.shared.room.notify_all();
        if WORKER_OF.with(|w| w.get()) == self as *const Pool as usize {
            // Inside one of its own tasks: the last worker out marks the pool stopped.
            return TRUE;
        }
        let st = self.shared.lock();
        let (mut st, _) = wait_while(&self.shared.idle, st, max_wait, |st| st.threads > 0);
        let late = st.threads > 0;
        let dropped: Vec<Job> = st.queue.drain(..).collect();
        // Late workers still run a task: the last one out marks the pool stopped.
        st.state = if late { SS_STOPPING } else { SS_STOPPED };
        // Taken under the state lock: a Start right after cannot mix its workers in.
        let handles: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        drop(st);
        self.shared.idle.notify_all();
        for j in dropped {
            j.drop_unrun();
        }
        if late {
            drop(handles); // detached: they end after their current task
            set_errno(libc::ETIMEDOUT);
            return FALSE;
        }
        for h in handles {
            let _ = h.join();
        }
        TRUE
    }
}

fn worker(shared: Arc<Shared>, pool: usize) {
    WORKER_OF.with(|w| w.set(pool));
    let mut st = shared.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            st.running += 1;
            drop(st);
            shared.room.notify_one();
            let _ = std::panic::catch_unwind(|| job.run());
            st = shared.lock();
            st.running -= 1;
            continue;
        }
        if st.state != SS_STARTED || st.threads > st.target {
            break;
        }
        st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    st.threads = st.threads.saturating_sub(1);
    if st.threads == 0 && st.state == SS_STOPPING {
        st.state = SS_STOPPED;
    }
    drop(st);
    shared.idle.notify_all();
}

fn pool<'a>(p: PVOID) -> Option<&'a Pool> {
    // SAFETY: the C contract: NULL or a live handle from Create_HP_ThreadPool.
    let p = unsafe { (p as *const Pool).as_ref() };
    if p.is_none() {
        set_errno(libc::EINVAL);
    }
    p
}

/// A thread-pool listener (HP 5.8's C API has no callbacks to set on it).
#[no_mangle]
pub extern "C" fn Create_HP_ThreadPoolListener() -> PVOID {
    Box::into_raw(Box::new(0u64)) as PVOID
}

/// Frees a listener from `Create_HP_ThreadPoolListener`.
///
/// # Safety
/// `l` is NULL or a listener from `Create_HP_ThreadPoolListener`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn Destroy_HP_ThreadPoolListener(l: PVOID) {
    if !l.is_null() {
        // SAFETY: made by Create_HP_ThreadPoolListener.
        drop(unsafe { Box::from_raw(l as *mut u64) });
    }
}

/// A thread pool, not started.
#[no_mangle]
pub extern "C" fn Create_HP_ThreadPool(_listener: PVOID) -> PVOID {
    let shared = Arc::new(Shared {
        st: Mutex::new(State {
            state: SS_STOPPED,
            queue: VecDeque::new(),
            running: 0,
            threads: 0,
            target: 0,
            max_queue: 0,
            policy: TRP_CALL_FAIL,
            stack: 0,
        }),
        work: Condvar::new(),
        room: Condvar::new(),
        idle: Condvar::new(),
    });
    Box::into_raw(Box::new(Pool {
        shared,
        workers: Mutex::new(Vec::new()),
    })) as PVOID
}

/// Stops (waiting for the queue) and frees the pool; from one of its own tasks, on a thread of
/// its own.
///
/// # Safety
/// `p` is NULL or a pool from `Create_HP_ThreadPool`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn Destroy_HP_ThreadPool(p: PVOID) {
    if p.is_null() {
        return;
    }
    let free = move |p: usize| {
        // SAFETY: made by Create_HP_ThreadPool; nobody uses it after Destroy.
        let b = unsafe { Box::from_raw(p as *mut Pool) };
        if b.shared.lock().state == SS_STARTED {
            b.stop(u32::MAX);
        }
        // Stopped from one of its tasks: let the workers finish before the handle goes.
        let mut st = b.shared.lock();
        while st.threads > 0 {
            st = b.shared.idle.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        drop(st);
        drop(b);
    };
    let addr = p as usize;
    if WORKER_OF.with(|w| w.get()) == addr {
        if let Some(pool) = pool(p) {
            pool.stop(0);
        }
        // No thread to hand it to: leak the pool rather than abort inside C.
        let _ = std::thread::Builder::new().spawn(move || free(addr));
    } else {
        guard((), || free(addr));
    }
}

/// Starts the workers (see the module doc for the arguments).
#[no_mangle]
pub extern "C" fn HP_ThreadPool_Start(
    p: PVOID,
    threads: DWORD,
    max_queue: DWORD,
    policy: c_int,
    stack: DWORD,
) -> BOOL {
    guard(FALSE, || {
        let Some(pool) = pool(p) else {
            return FALSE;
        };
        if !(TRP_CALL_FAIL..=TRP_CALLER_RUN).contains(&policy) {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        let mut st = pool.shared.lock();
        if st.state != SS_STOPPED || st.threads > 0 {
            drop(st);
            set_errno(libc::EPERM);
            return FALSE;
        }
        let n = thread_count(threads);
        st.state = SS_STARTED;
        st.target = n;
        st.max_queue = max_queue;
        st.policy = policy;
        st.stack = stack as usize;
        for _ in 0..n {
            if !pool.spawn(&mut st) {
                drop(st);
                pool.stop(u32::MAX);
                set_errno(libc::EAGAIN);
                return FALSE;
            }
        }
        TRUE
    })
}

/// Stops the pool: no new jobs, the queue finished, the workers joined (up to `max_wait` ms).
#[no_mangle]
pub extern "C" fn HP_ThreadPool_Stop(p: PVOID, max_wait: DWORD) -> BOOL {
    guard(FALSE, || pool(p).map_or(FALSE, |pool| pool.stop(max_wait)))
}

/// Queues `f(arg)` (the rejected policy decides when the queue is full).
#[no_mangle]
pub extern "C" fn HP_ThreadPool_Submit(
    p: PVOID,
    f: Option<FnTaskProc>,
    arg: PVOID,
    max_wait: DWORD,
) -> BOOL {
    guard(FALSE, || {
        let (Some(pool), Some(f)) = (pool(p), f) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        pool.submit(Job::Call(f, arg as usize), max_wait)
    })
}

/// Queues a socket task; the pool destroys it after it ran. Not accepted (FALSE): still the
/// caller's to destroy.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_Submit_Task(
    p: PVOID,
    task: *mut SocketTask,
    max_wait: DWORD,
) -> BOOL {
    guard(FALSE, || {
        let Some(pool) = pool(p) else {
            return FALSE;
        };
        if task.is_null() {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        pool.submit(Job::Task(task as usize), max_wait)
    })
}

/// Grows or shrinks the set of workers (HP's count rules); shrinking lets idle workers leave.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_AdjustThreadCount(p: PVOID, threads: DWORD) -> BOOL {
    guard(FALSE, || {
        let Some(pool) = pool(p) else {
            return FALSE;
        };
        let mut st = pool.shared.lock();
        if st.state != SS_STARTED {
            drop(st);
            set_errno(libc::EPERM);
            return FALSE;
        }
        let n = thread_count(threads);
        st.target = n;
        while st.threads < n {
            if !pool.spawn(&mut st) {
                st.target = st.threads;
                drop(st);
                set_errno(libc::EAGAIN);
                return FALSE;
            }
        }
        drop(st);
        pool.shared.work.notify_all();
        TRUE
    })
}

/// Waits up to `ms` for the pool to be stopped (TRUE at once if it is).
#[no_mangle]
pub extern "C" fn HP_ThreadPool_Wait(p: PVOID, ms: DWORD) -> BOOL {
    guard(FALSE, || {
        let Some(pool) = pool(p) else {
            return FALSE;
        };
        let st = pool.shared.lock();
        let (st, ok) = wait_while(&pool.shared.idle, st, ms, |st| st.state != SS_STOPPED);
        drop(st);
        if !ok {
            set_errno(libc::ETIMEDOUT);
        }
        b(ok)
    })
}

fn read<R: Copy>(p: PVOID, fallback: R, f: impl FnOnce(&State) -> R) -> R {
    guard(fallback, || match pool(p) {
        Some(pool) => f(&pool.shared.lock()),
        None => fallback,
    })
}

/// TRUE while started.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_HasStarted(p: PVOID) -> BOOL {
    read(p, FALSE, |s| b(s.state == SS_STARTED))
}

/// `En_HP_ServiceState`.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetState(p: PVOID) -> c_int {
    read(p, SS_STOPPED, |s| s.state)
}

/// Jobs waiting in the queue.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetQueueSize(p: PVOID) -> DWORD {
    read(p, 0, |s| s.queue.len() as DWORD)
}

/// Jobs in the pool: waiting and running.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetTaskCount(p: PVOID) -> DWORD {
    read(p, 0, |s| s.queue.len() as DWORD + s.running)
}

/// Worker threads.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetThreadCount(p: PVOID) -> DWORD {
    read(p, 0, |s| s.threads)
}

/// The queue's bound (0: none).
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetMaxQueueSize(p: PVOID) -> DWORD {
    read(p, 0, |s| s.max_queue)
}

/// `En_HP_RejectedPolicy`.
#[no_mangle]
pub extern "C" fn HP_ThreadPool_GetRejectedPolicy(p: PVOID) -> c_int {
    read(p, TRP_CALL_FAIL, |s| s.policy)
}

/// A socket task: `TBT_COPY` copies the buffer, `TBT_REFER` points at it (the caller keeps it
/// alive), `TBT_ATTACH` takes it (it must come from `SYS_Malloc` / `SYS_Calloc`).
///
/// # Safety
/// `buf` has `len` readable bytes (or is NULL with `len` 0).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn Create_HP_SocketTaskObj(
    func: Option<FnSocketTaskProc>,
    sender: PVOID,
    conn_id: HP_CONNID,
    buf: *const u8,
    len: c_int,
    buf_type: c_int,
    wparam: c_ulong,
    lparam: c_long,
) -> *mut SocketTask {
    guard(std::ptr::null_mut(), || {
        if func.is_none()
            || len < 0
            || (buf.is_null() && len > 0)
            || !(TBT_COPY..=TBT_ATTACH).contains(&buf_type)
        {
            set_errno(libc::EINVAL);
            return std::ptr::null_mut();
        }
        let data = if buf_type != TBT_COPY {
            buf
        } else if len == 0 {
            std::ptr::null()
        } else {
            // SAFETY: malloc of `len` bytes, then a copy of `len` readable bytes into it.
            unsafe {
                let p = libc::malloc(len as usize) as *mut u8;
                if p.is_null() {
                    set_errno(libc::ENOMEM);
                    return std::ptr::null_mut();
                }
                std::ptr::copy_nonoverlapping(buf, p, len as usize);
                p as *const u8
            }
        };
        Box::into_raw(Box::new(SocketTask {
            func,
            sender,
            conn_id,
            buf: data,
            buf_len: len,
            buf_type,
            wparam,
            lparam,
        }))
    })
}

/// Frees a socket task (and its buffer unless it was `TBT_REFER`).
///
/// # Safety
/// `t` is NULL or a task from `Create_HP_SocketTaskObj` that nothing else frees.
#[no_mangle]
pub unsafe extern "C" fn Destroy_HP_SocketTaskObj(t: *mut SocketTask) {
    // SAFETY: per the caller.
    unsafe { destroy_task(t) }
}

/// # Safety
/// As `Destroy_HP_SocketTaskObj`.
unsafe fn destroy_task(t: *mut SocketTask) {
    if t.is_null() {
        return;
    }
    // SAFETY: made by Create_HP_SocketTaskObj (a Box); its buffer was malloc'd unless REFER.
    unsafe {
        let t = Box::from_raw(t);
        if t.buf_type != TBT_REFER && !t.buf.is_null() {
            libc::free(t.buf as *mut c_void);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count(_: PVOID) {
        RUNS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
    }

    #[test]
    fn jobs_run_and_the_queue_bound_holds() {
        let p = Create_HP_ThreadPool(std::ptr::null_mut());
        assert_eq!(HP_ThreadPool_Start(p, 2, 3, TRP_WAIT_FOR, 0), TRUE);
        assert_eq!(HP_ThreadPool_GetThreadCount(p), 2);
        for _ in 0..40 {
            assert_eq!(
                HP_ThreadPool_Submit(p, Some(count), std::ptr::null_mut(), u32::MAX),
                TRUE
            );
            assert!(HP_ThreadPool_GetQueueSize(p) <= 3);
        }
        assert_eq!(HP_ThreadPool_Stop(p, u32::MAX), TRUE);
        assert_eq!(RUNS.load(Ordering::SeqCst), 40);
        assert_eq!(HP_ThreadPool_GetState(p), SS_STOPPED);
        assert_eq!(
            HP_ThreadPool_Submit(p, Some(count), std::ptr::null_mut(), 0),
            FALSE
        );
        // SAFETY: the pool made above.
        unsafe { Destroy_HP_ThreadPool(p) };
        assert_eq!(thread_count(0), cpus() * 2 + 2);
        assert_eq!(thread_count((-3i32) as DWORD), cpus() * 3);
    }
}
