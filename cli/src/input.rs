//! Reading what the user typed: connection strings and durations, into `Outcome::BadInput`
//! on failure, and the tokio runtime every networked subcommand runs on.

use std::time::Duration;

use mysql_lb::LbOpts;

use crate::Outcome;

/// Parses a connection string; a bad one is bad input (exit 2), naming the bad part.
pub(crate) fn lb_opts(url: &str) -> Result<LbOpts, Outcome> {
    url.parse::<LbOpts>()
        .map_err(|e| Outcome::BadInput(format!("bad connection string: {e}")))
}

/// A clap value parser for durations with a unit (`500ms`, `10s`, `1.5s`).
pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    mysql_lb::parse_duration(value)
}

/// The runtime of one subcommand: two workers, like the machine this is measured on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Outcome::Failed(format!("cannot start the async runtime: {e}")))
}

/// Which tokio scheduler a load-generating subcommand (`bench`) runs its tasks on
/// (`--runtime`). `docs/throughput.md` has the measurements behind the default
/// (`current-thread`, one runtime per core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Flavor {
    /// tokio's `current_thread` scheduler, one runtime per thread (`--threads`), the tasks
    /// dealt among them: a task never moves, and a statement's answer wakes it on the thread
    /// that polls its socket (no work stealing, no worker unparked to run it).
    CurrentThread,
    /// tokio's multi-thread (work-stealing) scheduler with `--threads` workers.
    MultiThread,
}

impl Flavor {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current-thread",
            Flavor::MultiThread => "multi-thread",
        }
    }

    /// The thread count when `--threads` is not given, for `tasks` tasks: for
    /// `current-thread`, one runtime per core (the cores this process may use), never more
    /// than there are tasks; for `multi-thread`, one worker per core.
    pub(crate) fn default_threads(self, tasks: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self {
            Flavor::CurrentThread => cores.min(tasks).max(1),
            Flavor::MultiThread => cores,
        }
        .min(MAX_THREADS)
    }
}

/// The runtimes of a load-generating subcommand: `main` (run with `block_on`) and, for
/// `current-thread` with more than one thread, one more single-threaded runtime per extra
/// thread. [`Runtimes::spread`] says where the load tasks go. Dropping it stops the extra
/// threads (their unfinished tasks are dropped) and waits for them.
pub(crate) struct Runtimes {
    pub(crate) main: tokio::runtime::Runtime,
    spread: Spread,
    /// Dropping a sender ends its thread's `block_on`.
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Where load tasks are spawned: the current runtime, or dealt round-robin over several.
#[derive(Clone, Default)]
pub(crate) struct Spread {
    handles: std::sync::Arc<[tokio::runtime::Handle]>,
}

impl Spread {
    /// Spawns task number `i` (of the load): on the current runtime, or on runtime
    /// `i % N` of the spread.
    pub(crate) fn spawn<F>(&self, i: usize, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.handles.is_empty() {
            tokio::spawn(task)
        } else {
            self.handles[i % self.handles.len()].spawn(task)
        }
    }
}

/// Most threads `--threads` may ask for.
pub(crate) const MAX_THREADS: usize = 256;

impl Runtimes {
    pub(crate) fn build(flavor: Flavor, threads: usize) -> Result<Runtimes, Outcome> {
        let failed =
            |e: std::io::Error| Outcome::Failed(format!("cannot start the async runtime: {e}"));
        let threads = threads.clamp(1, MAX_THREADS);
        let main = match flavor {
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .map_err(failed)?,
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(failed)?,
        };
        let mut rts = Runtimes {
            main,
            spread: Spread::default(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        if flavor == Flavor::MultiThread || threads == 1 {
            return Ok(rts);
        }
        let mut handles = vec![rts.main.handle().clone()];
        for k in 1..threads {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (tx, rx) = std::sync::mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("mysql-lb-rt-{k}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            let _ = tx.send(Ok(rt.handle().clone()));
                            let _ = rt.block_on(stopped);
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })
                .map_err(failed)?;
            // Registered first: an error below still stops and joins this thread on drop.
            rts.stops.push(stop);
            rts.threads.push(thread);
            match rx.recv() {
                Ok(Ok(handle)) => handles.push(handle),
                Ok(Err(e)) => return Err(failed(e)),
                Err(_) => return Err(failed(std::io::Error::other("a runtime thread died"))),
            }
        }
        rts.spread = Spread {
            handles: handles.into(),
        };
        Ok(rts)
    }

    /// Where the load tasks go.
    pub(crate) fn spread(&self) -> Spread {
        self.spread.clone()
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        self.stops.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The parsed connection string and a runtime: the start of every subcommand that talks to
/// the hosts of one URL. A `+srv` URL's records are read here (bounded by its
/// `connect_timeout`), so that the subcommand sees the hosts they name.
pub(crate) fn opts_and_runtime(url: &str) -> Result<(LbOpts, tokio::runtime::Runtime), Outcome> {
    let (opts, rt) = (lb_opts(url)?, runtime()?);
    if opts.srv_name().is_none() {
        return Ok((opts, rt));
    }
    match rt.block_on(opts.resolve()) {
        Ok(resolved) => Ok((resolved, rt)),
        Err(e) => Err(Outcome::Failed(e.to_string())),
    }
}

/// Milliseconds as a float, for reports.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
