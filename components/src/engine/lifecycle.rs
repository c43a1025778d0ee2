//! A component's life cycle, shared by its handle and its shard drivers: Starting → Started →
//! Stopping → Stopped, the stop flag the drivers poll, and the count of drivers still running
//! (the last one to finish marks the component stopped and wakes `wait`).

use crate::{Error, Result, ServiceState};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub(crate) struct Lifecycle {
    state: AtomicU8,
    stopping: AtomicBool,
    running: AtomicUsize,
    done: Mutex<bool>,
    done_cv: Condvar,
}

impl Lifecycle {
    /// A component with `drivers` shard drivers, starting.
    pub fn new(drivers: usize) -> Self {
        Lifecycle {
            state: AtomicU8::new(ServiceState::Starting as u8),
            stopping: AtomicBool::new(false),
            running: AtomicUsize::new(drivers),
            done: Mutex::new(false),
            done_cv: Condvar::new(),
        }
    }

    pub fn state(&self) -> ServiceState {
        match self.state.load(Ordering::Acquire) {
            0 => ServiceState::Starting,
            1 => ServiceState::Started,
            2 => ServiceState::Stopping,
            _ => ServiceState::Stopped,
        }
    }

    pub fn set_started(&self) {
        let _ = self.state.compare_exchange(
            ServiceState::Starting as u8,
            ServiceState::Started as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sets the stop flag; true the first time (the caller then wakes the drivers).
    pub fn begin_stop(&self) -> bool {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return false;
        }
        let _ = self
            .state
            .fetch_max(ServiceState::Stopping as u8, Ordering::AcqRel);
        true
    }

    /// Stops: sets the flag and, the first time, wakes every driver with `wake`.
    pub fn stop(&self, wake: impl FnOnce()) {
        if self.begin_stop() {
            wake();
        }
    }

    /// A driver could not start: stop the others (`wake`) and count it as finished, so that
    /// `wait()` still returns.
    pub fn driver_failed(&self, wake: impl FnOnce()) {
        self.stop(wake);
        if self.driver_finished() {
            self.mark_stopped();
        }
    }

    /// Called by each driver when it has closed everything; true for the last one.
    pub fn driver_finished(&self) -> bool {
        self.running.fetch_sub(1, Ordering::AcqRel) == 1
    }

    pub fn mark_stopped(&self) {
        self.state
            .store(ServiceState::Stopped as u8, Ordering::Release);
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.done_cv.notify_all();
    }

    /// Waits until the component has stopped (or `timeout` passed; returns whether stopped).
    /// `on_shard`: the caller runs on one of the component's shards (it would wait forever).
    pub fn wait(&self, on_shard: bool, timeout: Option<std::time::Duration>) -> Result<bool> {
        if on_shard {
            return Err(Error::WouldDeadlock);
        }
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        while !*done {
            match deadline {
                None => done = self.done_cv.wait(done).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    done = self
                        .done_cv
                        .wait_timeout(done, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        Ok(true)
    }
}
