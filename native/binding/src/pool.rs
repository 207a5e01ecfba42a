//! `CheckPool`: native threads for Checks too expensive for the event loop.
//!
//! A dedicated pool rather than napi-rs `AsyncTask` on libuv's: libuv's
//! threads (four by default) also do the process's file, DNS, zlib and
//! crypto work (decision-log files, bundle downloads, policy reloads), which
//! must not queue behind evaluations that run for seconds. Here one thread
//! is one admitted Check: the cap is the thread count, there is no hidden
//! queue, and a Check refused for want of a thread is refused at once.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Stack of each thread: what Node's main thread has, so evaluations nest as deep there as inline.
const STACK_BYTES: usize = 8 << 20;

#[napi]
pub struct CheckPool {
    /// `None` once closed: the threads end.
    jobs: Option<Sender<Job>>,
    running: Arc<AtomicU32>,
    threads: u32,
}

/// One admitted job's thread: handed back when dropped (also on a panic).
pub struct Slot(Arc<AtomicU32>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[napi]
impl CheckPool {
    /// `new CheckPool(threads)`: at most `threads` Checks run at once (at least 1).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, threads: u32) -> Result<CheckPool> {
        let threads = threads.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("sark-check-{}", i))
                .stack_size(STACK_BYTES)
                .spawn(move || work(&queue))
                .map_err(|e| crate::errors::throw(&env, "ERR_THREAD", format!("cannot start a Check thread: {}", e), None))?;
        }
        Ok(CheckPool { jobs: Some(jobs), running: Arc::new(AtomicU32::new(0)), threads })
    }

    /// Checks running now.
    #[napi(getter)]
    pub fn running(&self) -> u32 {
        self.running.load(Ordering::Acquire)
    }

    /// Most Checks that run at once.
    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        self.threads
    }

    /// Admits no more Checks; each thread ends after its running one.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.jobs = None;
    }
}

impl CheckPool {
    /// A free thread for one job, or `None` when every thread is busy (or
    /// the pool is closed): the caller refuses the Check.
    pub fn admit(&self) -> Option<Slot> {
        self.jobs.as_ref()?;
        let admitted = self.running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.threads).then_some(n + 1));
        admitted.ok().map(|_| Slot(Arc::clone(&self.running)))
    }

    /// Runs `job` on the thread its `Slot` admitted (the job drops the slot
    /// before delivering its result, so the next Check finds the thread free).
    /// Open since `admit` (only JavaScript closes it, on its one thread), the
    /// pool's threads are all there: they end only when it closes.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(job));
        }
    }
}

/// `new CheckCancel()`, handed to `checkAsync`: `cancel()` (the client went
/// away) stops that Check's evaluation where it next reads its deadline (every
/// few thousand steps or builtin work units), ending it with `eval_cancelled`
/// and handing its thread back.
#[napi]
#[derive(Default)]
pub struct CheckCancel {
    pub(crate) flag: sark_engine::Cancel,
}

#[napi]
impl CheckCancel {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> CheckCancel {
        CheckCancel::default()
    }

    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.flag.cancel();
    }

    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.flag.is_cancelled()
    }
}

/// A thread's loop: one job at a time until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A job catches its own panics; this keeps the thread if one slips through.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}
