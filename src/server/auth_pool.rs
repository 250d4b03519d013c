//! bcrypt off the event loops. A bcrypt check costs tens to hundreds of milliseconds;
//! run on a worker it would stall every client of that worker. Instead the worker
//! parks the connection (its input is neither read nor parsed, so bytes pipelined
//! after CONNECT wait in order) and queues the check for a small pool of auth threads
//! running at a lower scheduling priority. The verdict comes back through the worker's
//! inbox and waker; the worker then binds the identity (or refuses) and processes the
//! buffered input as if the check had been instant. A connection closed meanwhile
//! cancels its check; a verdict for a slot reused since is dropped (cid check).
//!
//! The queue is bounded. When it is full the connection stays parked and the worker
//! offers the check again on each 100 ms tick, oldest first. A parked CONNECT no longer
//! runs against `authorization.timeout` (the client sent it in time).
use super::core::Core;
use super::conn::CloseReason;
use super::shared::Shared;
use crate::auth::{AuthError, Identity, PasswordCheck};
use crate::proto::ConnectOptions;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, Weak};

/// Checks queued beyond those running (shared by all workers).
const QUEUE: usize = 256;

/// Nice value of the auth threads: under load the event loops win the CPU.
#[cfg(target_os = "linux")]
const NICE: libc::c_int = 10;

/// Auth threads: one per core, at most 4 (they yield to the event loops anyway).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 4)
}

/// What a parked connection was doing when its bcrypt check was queued.
#[derive(Debug)]
pub enum Step {
    /// A CONNECT (the options are applied when the check succeeds).
    Connect(Box<ConnectOptions>),
    /// Binding `no_auth_user` before the first op, which runs after the verdict.
    Implicit,
    /// Re-authentication of a live connection after a reload or claim update.
    Reauth,
}

/// A connection waiting for its bcrypt check.
#[derive(Debug)]
pub struct Parked {
    step: Step,
    cancel: Arc<AtomicBool>,
}

impl Parked {
    /// A connection waiting for something other than bcrypt (the auth callout); `cancel`
    /// is set when it closes.
    pub(super) fn waiting(step: Step, cancel: Arc<AtomicBool>) -> Parked {
        Parked { step, cancel }
    }

    /// Tells the auth threads the check is no longer wanted (the connection closed).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Release);
    }

    pub fn is_implicit(&self) -> bool {
        matches!(self.step, Step::Implicit)
    }
}

/// One bcrypt check for one connection of one worker.
pub struct HashJob {
    worker: u16,
    slot: u32,
    cid: u64,
    /// The worker's options generation when the check was asked for.
    gen: u64,
    cancel: Arc<AtomicBool>,
    check: PasswordCheck,
}

/// The result of a `HashJob`, posted to the worker's inbox.
pub struct Verdict {
    slot: u32,
    cid: u64,
    gen: u64,
    result: Result<Identity, AuthError>,
}

impl Verdict {
    pub(super) fn new(slot: u32, cid: u64, gen: u64, result: Result<Identity, AuthError>) -> Verdict {
        Verdict { slot, cid, gen, result }
    }
}

enum Submit {
    Queued,
    Full(HashJob),
    /// No auth thread could be started.
    Down,
}

/// The auth threads (started on the first bcrypt check) and their bounded queue.
pub struct AuthPool {
    threads: usize,
    tx: SyncSender<HashJob>,
    rx: Arc<Mutex<Receiver<HashJob>>>,
    started: OnceLock<usize>,
}

impl AuthPool {
    pub fn new(threads: usize) -> AuthPool {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        AuthPool { threads: threads.max(1), tx, rx: Arc::new(Mutex::new(rx)), started: OnceLock::new() }
    }

    fn submit(&self, shared: &Arc<Shared>, job: HashJob) -> Submit {
        let running = *self.started.get_or_init(|| self.spawn(Arc::downgrade(shared)));
        if running == 0 {
            return Submit::Down;
        }
        match self.tx.try_send(job) {
            Ok(()) => Submit::Queued,
            Err(TrySendError::Full(job)) => Submit::Full(job),
            Err(TrySendError::Disconnected(_)) => Submit::Down,
        }
    }

    /// Starts the threads; returns how many run. They hold the server weakly and stop
    /// when it is gone (its queue sender dropped with it).
    fn spawn(&self, shared: Weak<Shared>) -> usize {
        let mut running = 0;
        for i in 0..self.threads {
            let (rx, shared) = (self.rx.clone(), shared.clone());
            match std::thread::Builder::new().name(format!("natrix-auth-{i}")).spawn(move || run(&rx, &shared)) {
                Ok(_) => running += 1,
                Err(e) => crate::error!("cannot start an auth thread: {e}"),
            }
        }
        running
    }
}

fn run(rx: &Mutex<Receiver<HashJob>>, shared: &Weak<Shared>) {
    lower_priority();
    loop {
        let Ok(job) = rx.lock().recv() else { return };
        if job.cancel.load(Ordering::Acquire) {
            continue;
        }
        let result = job.check.run();
        let Some(shared) = shared.upgrade() else { return };
        if job.cancel.load(Ordering::Acquire) {
            continue;
        }
        let Some(inbox) = shared.inboxes.get(job.worker as usize) else { continue };
        inbox.verdicts.lock().push(Verdict { slot: job.slot, cid: job.cid, gen: job.gen, result });
        shared.wake(job.worker as usize);
    }
}

/// Best effort: a failure leaves the thread at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE);
    }
}

impl Core {
    /// Parks a connection until its bcrypt check is decided by the auth threads.
    pub(super) fn park(&mut self, slot: u32, step: Step, check: PasswordCheck) {
        let (worker, gen) = (self.id, self.opts_gen);
        let Some(c) = self.conn_mut(slot) else { return };
        // The client authenticated in time; the wait for the check is ours (nats-server
        // clears the timer when CONNECT arrives too).
        c.auth_deadline = None;
        let cancel = Arc::new(AtomicBool::new(false));
        c.parked = Some(Parked { step, cancel: cancel.clone() });
        let job = HashJob { worker, slot, cid: c.cid, gen, cancel, check };
        if !self.hash_waiting.is_empty() {
            self.hash_waiting.push_back(job); // keep the order of arrival
            return;
        }
        self.offer(job, false);
    }

    /// Offers a check to the pool; returns false when the queue is full.
    fn offer(&mut self, job: HashJob, front: bool) -> bool {
        let shared = self.shared.clone();
        let (slot, cid) = (job.slot, job.cid);
        match shared.auth_pool.submit(&shared, job) {
            Submit::Queued => true,
            Submit::Full(job) => {
                if front {
                    self.hash_waiting.push_front(job);
                } else {
                    self.hash_waiting.push_back(job);
                }
                false
            }
            Submit::Down => {
                // Never fall back to hashing on the event loop: refuse instead.
                if let Some(c) = self.conn_mut(slot).filter(|c| c.cid == cid) {
                    c.parked = None;
                    crate::error!("{} - cid:{cid} - no auth thread to check the password", c.addr);
                    self.send_err(slot, "Authorization Violation");
                    self.close(slot, CloseReason::AuthViolation);
                }
                true
            }
        }
    }

    /// Offers the checks that found the queue full again (the 100 ms tick).
    pub(super) fn retry_hash_jobs(&mut self) {
        while let Some(job) = self.hash_waiting.pop_front() {
            if job.cancel.load(Ordering::Acquire) {
                continue;
            }
            if !self.offer(job, true) {
                return;
            }
        }
    }

    /// Applies a verdict from the auth threads and resumes the connection's input.
    pub fn apply_verdict(&mut self, v: Verdict) {
        let Some(c) = self.conn_mut(v.slot).filter(|c| c.cid == v.cid && c.closing.is_none()) else { return };
        let Some(parked) = c.parked.take() else { return };
        if v.gen != self.opts_gen {
            // The options changed while the check ran: decide again with those in force.
            self.retry_step(v.slot, parked.step);
        } else {
            match parked.step {
                Step::Connect(opts) => {
                    if let super::authz::Auth::Bound = self.conclude(v.slot, &opts, v.result) {
                        self.finish_connect(v.slot, *opts);
                    }
                }
                Step::Implicit => {
                    if let super::authz::Auth::Bound = self.conclude(v.slot, &ConnectOptions::default(), v.result) {
                        if let Some(c) = self.conn_mut(v.slot) {
                            c.connected = true;
                        }
                    }
                }
                Step::Reauth => self.reauthorized(v.slot, v.result),
            }
        }
        self.resume(v.slot);
    }

    fn retry_step(&mut self, slot: u32, step: Step) {
        match step {
            Step::Connect(opts) => match self.authenticate(slot, &opts) {
                super::authz::Auth::Bound => self.finish_connect(slot, *opts),
                super::authz::Auth::Deferred(check) => self.park(slot, Step::Connect(opts), check),
                super::authz::Auth::Callout => self.start_callout(slot, Step::Connect(opts)),
                super::authz::Auth::Refused => {}
            },
            Step::Implicit => {
                self.bind_without_connect(slot);
            }
            Step::Reauth => self.reauthorize(slot),
        }
    }

    /// Processes what the connection sent while parked; the shell then reads its socket.
    fn resume(&mut self, slot: u32) {
        if self.conn(slot).is_some_and(|c| c.parked.is_none() && c.closing.is_none()) {
            self.process_input_guarded(slot);
            self.resumed.push(slot);
        }
    }

    /// Connections parked on this worker (for tests and monitoring).
    pub fn parked_count(&self) -> usize {
        self.conns.iter().flatten().filter(|c| c.parked.is_some()).count()
    }
}
