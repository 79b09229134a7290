//! The service's one source of "now".
//!
//! Production reads the system clock. Tests hold a manual clock and move it themselves, so retry
//! schedules, leases, `Retry-After` and rate limits are exercised exactly, without sleeping and
//! without depending on how fast a busy machine runs the test.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A clock: the system's, or a manual one that moves only when told to.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    /// Wall-clock time for instants, and a monotonic clock for the rate limiter.
    System { started: std::time::Instant },
    /// Milliseconds since the Unix epoch, moved by [`Clock::advance`].
    Manual { ms: AtomicI64, start_ms: i64 },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System {
            started: std::time::Instant::now(),
        }))
    }

    /// A clock that reads `start` until it is advanced.
    pub fn manual(start: jiff::Timestamp) -> Clock {
        let ms = start.as_millisecond();
        Clock(Arc::new(Source::Manual {
            ms: AtomicI64::new(ms),
            start_ms: ms,
        }))
    }

    /// Now, in milliseconds since the Unix epoch: the stored form of every compared instant.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System { .. } => jiff::Timestamp::now().as_millisecond(),
            Source::Manual { ms, .. } => ms.load(Ordering::SeqCst),
        }
    }

    /// Now.
    pub fn now(&self) -> jiff::Timestamp {
        match &*self.0 {
            Source::System { .. } => jiff::Timestamp::now(),
            Source::Manual { ms, .. } => {
                jiff::Timestamp::from_millisecond(ms.load(Ordering::SeqCst))
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            }
        }
    }

    /// Moves a manual clock forward. The system clock moves by itself; advancing it is a
    /// programming error in a test, reported as `false`.
    pub fn advance(&self, by: Duration) -> bool {
        match &*self.0 {
            Source::System { .. } => false,
            Source::Manual { ms, .. } => {
                let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
                ms.fetch_add(by, Ordering::SeqCst);
                true
            }
        }
    }

    /// Time elapsed since the clock was made; never goes backwards (the system variant does not
    /// follow wall-clock corrections).
    fn monotonic(&self) -> Duration {
        match &*self.0 {
            Source::System { started } => started.elapsed(),
            Source::Manual { ms, start_ms } => Duration::from_millis(
                u64::try_from(ms.load(Ordering::SeqCst) - start_ms).unwrap_or(0),
            ),
        }
    }
}

/// The rate limiter's clock is ours, so a test's manual clock governs token refills too.
impl governor::clock::Clock for Clock {
    type Instant = governor::nanos::Nanos;

    fn now(&self) -> Self::Instant {
        self.monotonic().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let start = jiff::Timestamp::from_second(1_795_435_200).expect("a valid instant");
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        assert!(clock.advance(Duration::from_millis(1500)));
        assert_eq!(clock.now_ms(), start.as_millisecond() + 1500);
        assert_eq!(
            governor::clock::Clock::now(&clock),
            governor::nanos::Nanos::from(Duration::from_millis(1500))
        );
    }

    #[test]
    fn the_system_clock_cannot_be_advanced() {
        let clock = Clock::system();
        assert!(!clock.advance(Duration::from_secs(1)));
        let before = jiff::Timestamp::now().as_millisecond();
        assert!(clock.now_ms() >= before);
    }
}
